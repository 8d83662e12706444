package fieldmanager

import (
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// Config configures Managers.
type Config struct {
	// TypeConverter, called once on first need, gives the schemas of the
	// built-in kinds. Required.
	TypeConverter func() (managedfields.TypeConverter, error)
	// Scheme converts, creates and types objects of the built-in kinds.
	// Required.
	Scheme *runtime.Scheme
}

// Kind is what a field manager needs to know of a resource.
type Kind struct {
	GVK schema.GroupVersionKind
	// New returns an empty object of the kind.
	New func() runtime.Object
	// Default applies the resource's defaults, which is what upstream's
	// scheme defaulting does for the field manager; nil applies none.
	Default func(obj runtime.Object)
	// HasStatus is set when the resource has a status subresource: the
	// main resource then does not own status, nor /status the rest.
	HasStatus bool
}

// Managers keeps one Manager per kind and subresource. It is safe for
// concurrent use.
type Managers struct {
	newConverter func() (managedfields.TypeConverter, error)
	scheme       *runtime.Scheme

	mu       sync.Mutex
	conv     managedfields.TypeConverter
	managers map[string]*Manager
}

// New returns Managers for cfg.
func New(cfg Config) (*Managers, error) {
	if cfg.TypeConverter == nil || cfg.Scheme == nil {
		return nil, errors.New("fieldmanager: TypeConverter and Scheme are required")
	}
	return &Managers{newConverter: cfg.TypeConverter, scheme: cfg.Scheme, managers: map[string]*Manager{}}, nil
}

// defaulter adapts a Kind's Default to the field manager.
type defaulter func(obj runtime.Object)

func (d defaulter) Default(obj runtime.Object) {
	if d != nil {
		d(obj)
	}
}

// Get returns the Manager of k and subresource ("" for the main
// resource), building it on first use.
func (f *Managers) Get(k Kind, subresource string) (*Manager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conv == nil {
		c, err := f.newConverter()
		if err != nil {
			return nil, fmt.Errorf("type converter: %w", err)
		}
		f.conv = c
	}
	key := k.GVK.String() + "/" + subresource
	if m, ok := f.managers[key]; ok {
		return m, nil
	}
	gv := k.GVK.GroupVersion()
	m := &Manager{version: fieldpath.APIVersion(gv.String())}
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if k.HasStatus {
		path := "status"
		if subresource == "status" {
			path = "spec"
		}
		m.reset = fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(path)))
		reset = map[fieldpath.APIVersion]fieldpath.Filter{m.version: m.reset}
	}
	fm, err := managedfields.NewDefaultFieldManager(f.conv, f.scheme, defaulter(k.Default), f.scheme, k.GVK, gv, subresource, reset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", k.GVK, err)
	}
	m.FieldManager = fm
	empty := k.New()
	empty.GetObjectKind().SetGroupVersionKind(k.GVK)
	if m.empty, err = f.conv.ObjectToTyped(empty, typed.AllowDuplicates); err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", k.GVK, err)
	}
	m.emptyValue = m.empty.AsValue().Unstructured()
	f.managers[key] = m
	return m, nil
}

// Manager is upstream's field manager for one kind and subresource, with
// what CreateEntries needs to record a create without it.
type Manager struct {
	*managedfields.FieldManager
	version fieldpath.APIVersion
	reset   fieldpath.Filter // fields the main resource does not own (status), or nil
	// empty is an object of the kind with nothing set but its apiVersion
	// and kind: what a create is compared with.
	empty *typed.TypedValue
	// emptyValue is empty in its unstructured form.
	emptyValue any
}

// strippedFields are the fields no manager owns, as upstream strips them.
var strippedFields = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// CreateEntries computes the managedFields of a newly created obj that
// carries none, as upstream's field manager does (one Update entry of
// manager owning what differs from an empty object of the kind), found by
// createdFields' walk or, where it stops, by the comparison, without the
// conversions and bookkeeping of upstream's general update path. ok is
// false when obj needs the full field manager.
func (m *Manager) CreateEntries(obj runtime.Object, manager string) (entries []metav1.ManagedFieldsEntry, ok bool) {
	set, err := m.createdFields(obj)
	if err != nil {
		if set, err = m.compareWithEmpty(obj); err != nil {
			return nil, false
		}
	}
	if m.reset != nil {
		set = m.reset.Filter(set)
	}
	set = set.Difference(strippedFields)
	if set.Empty() {
		return nil, true
	}
	raw, err := set.ToJSON()
	if err != nil {
		return nil, false
	}
	if manager == "" {
		manager = "unknown"
	}
	return []metav1.ManagedFieldsEntry{{
		Manager:    manager,
		Operation:  metav1.ManagedFieldsOperationUpdate,
		APIVersion: string(m.version),
		Time:       &metav1.Time{Time: time.Now().UTC()},
		FieldsType: "FieldsV1",
		FieldsV1:   &metav1.FieldsV1{Raw: raw},
	}}, true
}

// compareWithEmpty is what differs between obj and an empty object of the
// kind, by structured-merge-diff's comparison. A built-in object is its
// own Go type, whose schema is generated from that type, so it is taken as
// conforming without the validation walk, which would cost as much as the
// comparison: the comparison still reports what validation would find in
// a list item (a missing key field).
func (m *Manager) compareWithEmpty(obj runtime.Object) (*fieldpath.Set, error) {
	v, err := value.NewValueReflect(obj)
	if err != nil {
		return nil, err
	}
	cmp, err := m.empty.Compare(typed.AsTypedUnvalidated(v, m.empty.Schema(), m.empty.TypeRef()))
	if err != nil {
		return nil, err
	}
	return cmp.Modified.Union(cmp.Added), nil
}
