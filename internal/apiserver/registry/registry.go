package registry

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Verbs every read-write resource supports, in the order discovery lists them.
var (
	AllVerbs      = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	ReadOnlyVerbs = []string{"get", "list", "watch"}
)

// Resource describes one REST resource at one group/version.
type Resource struct {
	// GroupVersion this resource is served at, e.g. apps/v1.
	GroupVersion schema.GroupVersion
	// Resource is the lower-case plural: "deployments".
	Resource string
	// SingularName is the lower-case singular: "deployment".
	SingularName string
	// Kind is the object kind: "Deployment".
	Kind string
	// ShortNames as upstream discovery lists them: ["deploy"].
	ShortNames []string
	// Categories as upstream discovery lists them: ["all"].
	Categories []string
	// Namespaced is true for namespaced resources.
	Namespaced bool
	// Verbs as discovery lists them; nil means AllVerbs.
	Verbs []string
	// Subresources served besides the main resource: "status", "scale", ...
	// The generic store updates the object through those in
	// Strategy.SubresourceUpdates and through "scale"; others are wired by
	// the API server itself (eviction, log, exec, ...).
	Subresources []string

	// New returns an empty object of Kind; NewList an empty list.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Storage names where objects live when it is not this resource itself:
	// events.k8s.io/v1 events are stored with core/v1 events, autoscaling/v1
	// HPAs with autoscaling/v2. The zero value means "here".
	Storage schema.GroupVersionResource
	// ToStorage and FromStorage convert between this version and the storage
	// version; both are needed when Storage is set.
	ToStorage   func(obj runtime.Object) (runtime.Object, error)
	FromStorage func(obj runtime.Object) (runtime.Object, error)

	Strategy Strategy
}

// GroupVersionResource returns the resource's GVR.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Resource)
}

// GroupVersionKind returns the resource's GVK.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// HasSubresource reports whether name is among r.Subresources.
func (r *Resource) HasSubresource(name string) bool {
	for _, s := range r.Subresources {
		if s == name {
			return true
		}
	}
	return false
}

// Strategy is the per-type behaviour of a resource. Every field is optional;
// a nil function does nothing (or allows everything, for validation).
//
// The generic store calls them in this order:
//
//	create: Default -> PrepareForCreate -> Validate -> (store)
//	update: Default -> PrepareForUpdate(new, old) -> ValidateUpdate(new, old) -> (store)
//	status and other subresources in SubresourceUpdates:
//	        Default -> SubresourceUpdates[sub].Prepare(new, old)
//	                -> SubresourceUpdates[sub].Validate(new, old) -> (store)
//
// Metadata that every object shares (name, generateName, namespace, labels,
// annotations, finalizers, ownerReferences, uid, resourceVersion,
// creationTimestamp, deletion fields, generation, managedFields) is validated
// and maintained by the generic store; strategies only look at their own fields.
type Strategy struct {
	// Default sets the defaults upstream's SetDefaults_* functions set.
	Default func(obj runtime.Object)
	// PrepareForCreate drops what a client may not set on create, typically
	// status (or sets its initial value, as for pods and namespaces). The
	// store has already set metadata.uid (and namespace, name): jobs build
	// their generated selector from the uid here.
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate fixes up an update of the main resource: typically it
	// copies old's status into obj, so that only /status changes status.
	// When it changes metadata.generation itself (obj arrives with old's),
	// the store leaves generation as it set it.
	PrepareForUpdate func(obj, old runtime.Object)
	// NameValidation checks metadata.name (prefix is true for generateName).
	// Nil means a DNS subdomain (apimachinery's NameIsDNSSubdomain); use
	// NameIsDNSLabel for namespaces, services and the like.
	NameValidation func(name string, prefix bool) []string
	// Validate checks a new object; errors answer 422 Invalid.
	Validate func(obj runtime.Object) field.ErrorList
	// ValidateUpdate checks an update (immutable fields and so on); the store
	// also runs Validate on obj unless SkipValidateOnUpdate is set.
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// SkipValidateOnUpdate means ValidateUpdate validates obj fully itself,
	// because Validate holds create-only checks (pods: ephemeral containers
	// may not be set on create) that an update must not run.
	SkipValidateOnUpdate bool

	// TrackGeneration: metadata.generation starts at 1 and rises by one
	// whenever anything but metadata and status changes, as upstream does for
	// resources with a spec. When false, generation is left as upstream leaves
	// it for the type (unset).
	TrackGeneration bool

	// TableColumns are the Table columns; the store prepends Name (and, for
	// namespaced resources listed across namespaces, kubectl adds NAMESPACE
	// itself). Priority 1 columns show only with -o wide.
	TableColumns []metav1.TableColumnDefinition
	// TableRow returns one cell per TableColumns entry (Name excluded). Age
	// cells are strings from Age(obj).
	TableRow func(obj runtime.Object) []interface{}
	// TableIncludesName means TableColumns already hold the Name column
	// (Format "name") where upstream puts it and TableRow fills its cell, so
	// the store must not prepend one. core/v1 events need it: upstream lists
	// their Name last, with priority 1, so `kubectl get events` shows none.
	TableIncludesName bool

	// Fields returns the values of the field selectors the resource supports
	// beyond metadata.name and metadata.namespace, which the store adds.
	// A selector on a field not in the set answers 400.
	Fields func(obj runtime.Object) fields.Set

	// Scale, when set, serves the scale subresource.
	Scale *ScaleAccess

	// SubresourceUpdates holds the update behaviour of the subresources
	// that write the object itself, by name: "status" (StatusUpdate builds
	// it; every resource with a status subresource has one), "binding"
	// (pods), "finalize" (namespaces), "approval" (certificate signing
	// requests). The store runs them instead of PrepareForUpdate and
	// Validate/ValidateUpdate: Default -> Prepare(new, old) ->
	// Validate(new, old) -> (store). Scale, which has its own kind, is
	// served through Scale.
	SubresourceUpdates map[string]SubresourceUpdate

	// PrepareForCreateByUser, when set, runs after PrepareForCreate with the
	// authenticated requester: certificatesigningrequests record who asked
	// (spec.username, uid, groups, extra) whatever the client sent.
	PrepareForCreateByUser func(obj runtime.Object, user UserInfo)
}

// SubresourceUpdate is the behaviour of one whole-object subresource update.
type SubresourceUpdate struct {
	// Prepare copies from old what the subresource may not change.
	Prepare func(obj, old runtime.Object)
	// Validate checks the update; errors answer 422 Invalid.
	Validate func(obj, old runtime.Object) field.ErrorList
	// SpecChange marks a subresource that writes the spec (pods'
	// ephemeralcontainers and resize): a change there raises the
	// generation of a resource that tracks it.
	SpecChange bool
	// SkipAdmission leaves the update out of admission: pods/binding,
	// whose pod update is the effect of the scheduler's Binding, not a
	// write of the pod by its client.
	SkipAdmission bool
}

// UserInfo names the authenticated user of a request.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// ScaleAccess reads and writes a resource's replica count for /scale.
type ScaleAccess struct {
	// Get fills an autoscaling/v1 Scale from obj (spec.replicas,
	// status.replicas, status.selector as a string).
	Get func(obj runtime.Object) *autoscalingv1.Scale
	// SetReplicas sets obj's spec.replicas.
	SetReplicas func(obj runtime.Object, replicas int32)
}
