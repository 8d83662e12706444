package apiextensions

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/jsonpath"

	"skiff/internal/apiserver/registry"
)

// Version is one served version of a CRD as a resource of unstructured
// objects.
type Version struct {
	// Resource is what the generic store serves.
	Resource registry.Resource
	// Schema prunes, defaults and validates objects of this version.
	Schema *Schema
	// ListKind is the kind of lists ("WidgetList").
	ListKind string
}

// ResourcesFor returns a Version for every served version of crd. Every
// version stores its objects as the storage version (None conversion only
// rewrites apiVersion).
func ResourcesFor(crd *apiextensionsv1.CustomResourceDefinition) ([]Version, error) {
	storage := StorageVersion(crd)
	if storage == "" {
		return nil, fmt.Errorf("resources for %s: no storage version", crd.Name)
	}
	storageGVR := schema.GroupVersionResource{Group: crd.Spec.Group, Version: storage, Resource: crd.Spec.Names.Plural}
	var out []Version
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if !v.Served {
			continue
		}
		var props *apiextensionsv1.JSONSchemaProps
		if v.Schema != nil {
			props = v.Schema.OpenAPIV3Schema.DeepCopy()
		}
		sch, err := NewSchema(props)
		if err != nil {
			return nil, fmt.Errorf("resources for %s/%s: %w", crd.Name, v.Name, err)
		}
		gv := schema.GroupVersion{Group: crd.Spec.Group, Version: v.Name}
		gvk := gv.WithKind(crd.Spec.Names.Kind)
		listGVK := gv.WithKind(crd.Spec.Names.ListKind)
		r := registry.Resource{
			GroupVersion: gv,
			Resource:     crd.Spec.Names.Plural,
			SingularName: crd.Spec.Names.Singular,
			Kind:         crd.Spec.Names.Kind,
			ShortNames:   crd.Spec.Names.ShortNames,
			Categories:   crd.Spec.Names.Categories,
			Namespaced:   crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			New: func() runtime.Object {
				u := &unstructured.Unstructured{Object: map[string]interface{}{}}
				u.SetGroupVersionKind(gvk)
				return u
			},
			NewList: func() runtime.Object {
				l := &unstructured.UnstructuredList{Object: map[string]interface{}{}}
				l.SetGroupVersionKind(listGVK)
				return l
			},
		}
		// Even the storage version converts: objects written while another
		// version was the storage one keep that apiVersion in etcd.
		r.Storage = storageGVR
		r.ToStorage = func(obj runtime.Object) (runtime.Object, error) {
			return withVersion(obj, storageGVR.GroupVersion()), nil
		}
		// Reads apply the schema's current defaults, as upstream does, so
		// that a default added later shows on objects stored before it.
		defaults := sch.HasDefaults()
		r.FromStorage = func(obj runtime.Object) (runtime.Object, error) {
			out := withVersion(obj, gv)
			if defaults {
				out = withDefaults(out, obj, sch)
			}
			return out, nil
		}
		status := v.Subresources != nil && v.Subresources.Status != nil
		if status {
			r.Subresources = append(r.Subresources, "status")
		}
		r.Strategy = strategyFor(sch, status)
		if v.Subresources != nil && v.Subresources.Scale != nil {
			r.Subresources = append(r.Subresources, "scale")
			r.Strategy.Scale = scaleAccess(v.Subresources.Scale)
		}
		cols, row, err := printerColumns(v.AdditionalPrinterColumns)
		if err != nil {
			return nil, fmt.Errorf("resources for %s/%s: %w", crd.Name, v.Name, err)
		}
		r.Strategy.TableColumns, r.Strategy.TableRow = cols, row
		if len(v.SelectableFields) > 0 {
			r.Strategy.Fields = selectableFields(v.SelectableFields)
		}
		out = append(out, Version{Resource: r, Schema: sch, ListKind: crd.Spec.Names.ListKind})
	}
	return out, nil
}

// selectableFields returns the field selector values of a version's
// selectableFields: each JSON path (".spec.color") is a field
// ("spec.color") whose value is the scalar there, "" when absent.
func selectableFields(sel []apiextensionsv1.SelectableField) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set {
		c := content(obj)
		set := fields.Set{}
		for _, f := range sel {
			path := pathOf(f.JSONPath)
			v, found, err := unstructured.NestedFieldNoCopy(c, path...)
			value := ""
			if found && err == nil && v != nil {
				value = fmt.Sprint(v)
			}
			set[strings.Join(path, ".")] = value
		}
		return set
	}
}

// withVersion returns obj at gv (None conversion): obj itself when it is
// there already, else a copy.
func withVersion(obj runtime.Object, gv schema.GroupVersion) runtime.Object {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GetAPIVersion() == gv.String() {
		return obj
	}
	out := u.DeepCopy()
	out.SetAPIVersion(gv.String())
	return out
}

// withDefaults returns out with sch's defaults applied, copying it first
// when it is still the stored object (which must stay unchanged).
func withDefaults(out, stored runtime.Object, sch *Schema) runtime.Object {
	u, ok := out.(*unstructured.Unstructured)
	if !ok {
		return out
	}
	if out == stored {
		u = u.DeepCopy()
	}
	sch.Default(u.Object)
	return u
}

func content(obj runtime.Object) map[string]interface{} {
	if c := unstructuredContent(obj); c != nil {
		return c
	}
	return map[string]interface{}{}
}

// strategyFor is the generic behaviour of a custom resource version.
func strategyFor(sch *Schema, status bool) registry.Strategy {
	return registry.Strategy{
		Default: func(obj runtime.Object) {
			c := content(obj)
			sch.Prune(c)
			sch.Default(c)
		},
		PrepareForCreate: func(obj runtime.Object) {
			if status {
				delete(content(obj), "status")
			}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			c, o := content(obj), content(old)
			if status {
				if st, ok := o["status"]; ok {
					c["status"] = runtime.DeepCopyJSONValue(st)
				} else {
					delete(c, "status")
				}
			}
			if ContentChanged(c, o, status) {
				u, ou := obj.(*unstructured.Unstructured), old.(*unstructured.Unstructured)
				u.SetGeneration(ou.GetGeneration() + 1)
			}
		},
		SubresourceUpdates: map[string]registry.SubresourceUpdate{
			"status": registry.StatusUpdate(registry.Status{
				// Upstream copies the whole stored object but status.
				ResetMetadata: true,
				Prepare: func(obj, old runtime.Object) {
					c, o := content(obj), content(old)
					for k := range c {
						if k != "metadata" && k != "status" {
							delete(c, k)
						}
					}
					for k, v := range o {
						if k != "metadata" && k != "status" {
							c[k] = runtime.DeepCopyJSONValue(v)
						}
					}
				},
				Validate: func(obj, old runtime.Object) field.ErrorList {
					errs := sch.Validate(content(obj))
					return append(errs, sch.ValidateTransitions(content(obj), content(old))...)
				},
			}),
		},
		Validate: func(obj runtime.Object) field.ErrorList { return sch.Validate(content(obj)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return sch.ValidateTransitions(content(obj), content(old))
		},
		TrackGeneration: true,
	}
}

// ContentChanged reports whether anything but metadata (and status, when
// it has its own subresource) differs: what bumps metadata.generation.
func ContentChanged(a, b map[string]interface{}, ignoreStatus bool) bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		if k == "metadata" || k == "apiVersion" || k == "kind" || (ignoreStatus && k == "status") {
			continue
		}
		if !reflect.DeepEqual(a[k], b[k]) {
			return true
		}
	}
	return false
}

func scaleAccess(sc *apiextensionsv1.CustomResourceSubresourceScale) *registry.ScaleAccess {
	specPath := pathOf(sc.SpecReplicasPath)
	statusPath := pathOf(sc.StatusReplicasPath)
	var selPath []string
	if sc.LabelSelectorPath != nil {
		selPath = pathOf(*sc.LabelSelectorPath)
	}
	return &registry.ScaleAccess{
		Get: func(obj runtime.Object) *autoscalingv1.Scale {
			c := content(obj)
			out := &autoscalingv1.Scale{}
			if n, ok, _ := unstructured.NestedFieldNoCopy(c, specPath...); ok {
				out.Spec.Replicas = int32(toInt(n))
			}
			if n, ok, _ := unstructured.NestedFieldNoCopy(c, statusPath...); ok {
				out.Status.Replicas = int32(toInt(n))
			}
			if selPath != nil {
				if s, ok, _ := unstructured.NestedString(c, selPath...); ok {
					out.Status.Selector = s
				}
			}
			return out
		},
		SetReplicas: func(obj runtime.Object, replicas int32) {
			_ = unstructured.SetNestedField(content(obj), int64(replicas), specPath...)
		},
	}
}

func toInt(v interface{}) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

// pathOf splits ".spec.replicas" into its fields.
func pathOf(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "."), ".")
}

var ageDescription = metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]

// printerColumns turns additionalPrinterColumns into Table columns; with
// none, the single Age column upstream shows.
func printerColumns(cols []apiextensionsv1.CustomResourceColumnDefinition) ([]metav1.TableColumnDefinition, func(runtime.Object) []interface{}, error) {
	if len(cols) == 0 {
		cols = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp", Description: ageDescription}}
	}
	defs := make([]metav1.TableColumnDefinition, 0, len(cols))
	paths := make([]*jsonpath.JSONPath, 0, len(cols))
	for _, c := range cols {
		jp := jsonpath.New(c.Name).AllowMissingKeys(true)
		if err := jp.Parse("{" + c.JSONPath + "}"); err != nil {
			return nil, nil, fmt.Errorf("printer column %q: %w", c.Name, err)
		}
		paths = append(paths, jp)
		defs = append(defs, metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority})
	}
	row := func(obj runtime.Object) []interface{} {
		c := content(obj)
		cells := make([]interface{}, len(cols))
		for i, col := range cols {
			cells[i] = cell(paths[i], col.Type, c)
		}
		return cells
	}
	return defs, row, nil
}

// cell evaluates one column: a missing value is nil, a date is shown as an
// age, numbers and booleans keep their type, anything else is its JSON.
func cell(jp *jsonpath.JSONPath, typ string, c map[string]interface{}) interface{} {
	results, err := jp.FindResults(c)
	if err != nil || len(results) == 0 || len(results[0]) == 0 {
		return nil
	}
	v := results[0][0].Interface()
	switch typ {
	case "date":
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return registry.Since(metav1.NewTime(t))
			}
		}
	case "integer":
		if n, ok := v.(int64); ok {
			return n
		}
	case "number":
		switch n := v.(type) {
		case int64:
			return float64(n)
		case float64:
			return n
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b
		}
	case "string":
		if s, ok := v.(string); ok {
			return s
		}
	}
	var buf bytes.Buffer
	if err := jp.PrintResults(&buf, results[0]); err != nil {
		return nil
	}
	return buf.String()
}
