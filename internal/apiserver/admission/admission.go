package admission

import (
	"errors"
	"fmt"

	arv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"skiff/internal/apiserver/admission/podsecurity"
	"skiff/internal/apiserver/webhookclient"
)

// Operation is the kind of write being admitted.
type Operation string

// Operations, as AdmissionReview spells them.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// Attributes describe one write.
type Attributes struct {
	// Kind is the kind of Object and OldObject (autoscaling/v1 Scale for
	// deployments/scale).
	Kind schema.GroupVersionKind
	// Resource and SubResource name what the request addresses.
	Resource    schema.GroupVersionResource
	SubResource string
	// Namespace is empty for cluster-scoped resources.
	Namespace string
	// Name is empty on a create that asked for a generated name.
	Name      string
	Operation Operation
	// Object is the new object (nil on DELETE); OldObject the stored one
	// (nil on CREATE). Both carry their apiVersion and kind; admission
	// never changes them.
	Object, OldObject runtime.Object
	// Options are the CreateOptions, UpdateOptions or DeleteOptions.
	Options runtime.Object
	DryRun  bool
	User    authenticationv1.UserInfo
}

// Objects reads objects from the API server's cache. Returned objects are
// shared: callers must not change them.
type Objects interface {
	// List returns the objects of a resource in a namespace ("" = all).
	List(gvr schema.GroupVersionResource, namespace string) []runtime.Object
	// Get returns one object.
	Get(gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, bool)
	// ResourceFor finds the served resource of a kind, and whether it is
	// namespaced.
	ResourceFor(gvk schema.GroupVersionKind) (gvr schema.GroupVersionResource, namespaced, ok bool)
}

// Config configures the admission chain.
type Config struct {
	// Objects gives the configuration objects, namespaces, services,
	// quotas and policy parameters. Required.
	Objects Objects
	// Namespaces reads the namespace of a create (NamespaceLifecycle).
	// Required.
	Namespaces Namespaces
	// Quotas charges creates to ResourceQuotas (ResourceQuota). Required.
	Quotas Quotas
	// TypeConverter gives the built-in kinds' schemas, which
	// MutatingAdmissionPolicies' apply configurations merge with (lists
	// by their keys). Optional: without it maps merge and lists are
	// replaced.
	TypeConverter func() (managedfields.TypeConverter, error)
	// PodSecurity configures the PodSecurity plugin (defaults and
	// exemptions); nil is upstream's default: privileged everywhere.
	PodSecurity *podsecurity.Configuration
	// Authorizer lets NodeRestriction grant nodes token audiences and pod
	// certificate signers their pods do not name. Optional: without it
	// those are refused.
	Authorizer Authorizer
}

func (c *Config) validate() error {
	if c.Objects == nil || c.Namespaces == nil || c.Quotas == nil {
		return errors.New("admission: Objects, Namespaces and Quotas are required")
	}
	return nil
}

// New returns the chain the API server runs: the built-in plugins skiff
// enables, the mutating webhooks last of the mutating phase, then the
// validating webhooks, the policies and ResourceQuota, which charges
// what passed everything else.
//
//	mutating:   NamespaceLifecycle (delete) ─► LimitRanger ─► ServiceAccount ─► NodeRestriction ─► Priority ─► RuntimeClass ─► DefaultTolerationSeconds
//	            ─► DefaultStorageClass ─► StorageObjectInUseProtection ─► DefaultIngressClass ─► MutatingAdmissionPolicy
//	            ─► MutatingAdmissionWebhook
//	validating: MirrorPod ─► NamespaceLifecycle (create) ─► LimitRanger ─► PodSecurity ─► PersistentVolumeClaimResize
//	            ─► ValidatingAdmissionWebhook ─► ValidatingAdmissionPolicy ─► ResourceQuota
//
// Upstream evaluates ValidatingAdmissionPolicy before the validating
// webhooks, and refuses mirror pods' references in ServiceAccount; skiff
// keeps the order it has always had.
func New(cfg Config) (*Chain, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	env, err := newCELPrograms()
	if err != nil {
		return nil, err
	}
	hooks := &webhooks{objects: cfg.Objects, cel: env, clients: webhookclient.NewPool()}
	pols := &policies{objects: cfg.Objects, cel: env}
	return newChain(
		mirrorPod{},
		namespaceLifecycle{namespaces: cfg.Namespaces},
		limitRanger{objects: cfg.Objects},
		serviceAccount{objects: cfg.Objects},
		nodeRestriction{objects: cfg.Objects, authz: cfg.Authorizer},
		newPodSecurity(cfg.PodSecurity, cfg.Namespaces, cfg.Objects),
		priority{objects: cfg.Objects},
		runtimeClass{objects: cfg.Objects},
		defaultTolerationSecondsPlugin{},
		defaultStorageClass{objects: cfg.Objects},
		storageObjectInUseProtection{},
		persistentVolumeClaimResize{objects: cfg.Objects},
		defaultIngressClass{objects: cfg.Objects},
		mutatingAdmissionPolicy{p: pols, typeConverter: cfg.TypeConverter},
		mutatingWebhook{hooks},
		validatingWebhook{hooks},
		validatingAdmissionPolicy{pols},
		resourceQuota{objects: cfg.Objects, quotas: cfg.Quotas},
	)
}

// exempt reports whether a addresses the admission configuration itself,
// which dynamic admission never sees (a bad webhook must stay removable).
func exempt(a *Attributes) bool {
	if a.Resource.Group != arv1.GroupName {
		return false
	}
	switch a.Resource.Resource {
	case "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
		"validatingadmissionpolicies", "validatingadmissionpolicybindings",
		"mutatingadmissionpolicies", "mutatingadmissionpolicybindings":
		return true
	}
	return false
}

var namespacesGVR = corev1.SchemeGroupVersion.WithResource("namespaces")

// matchRule reports whether a rule covers the request (upstream's
// rules.Matcher): operation, group, version, resource/subresource and scope.
func matchRule(r arv1.RuleWithOperations, a *Attributes) bool {
	opOK := false
	for _, op := range r.Operations {
		if op == arv1.OperationAll || string(op) == string(a.Operation) {
			opOK = true
			break
		}
	}
	if !opOK || !matchString(r.APIGroups, a.Resource.Group) || !matchString(r.APIVersions, a.Resource.Version) {
		return false
	}
	resOK := false
	for _, res := range r.Resources {
		main, sub, _ := cutResource(res)
		if (main == "*" || main == a.Resource.Resource) && (sub == "*" || sub == a.SubResource) {
			resOK = true
			break
		}
	}
	if !resOK {
		return false
	}
	isNamespace := a.Resource.Group == "" && a.Resource.Resource == "namespaces"
	if r.Scope == nil {
		return true
	}
	switch *r.Scope {
	case arv1.NamespacedScope:
		return !isNamespace && a.Namespace != ""
	case arv1.ClusterScope:
		return isNamespace || a.Namespace == ""
	}
	return true
}

func cutResource(s string) (main, sub string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func matchString(list []string, s string) bool {
	for _, x := range list {
		if x == "*" || x == s {
			return true
		}
	}
	return false
}

// matchNamespace applies a namespaceSelector: cluster-scoped resources
// other than namespaces always match; a namespace is matched on its own
// labels.
func matchNamespace(objects Objects, sel *metav1.LabelSelector, attrs *Attributes) (bool, error) {
	isNamespace := attrs.Resource.Group == "" && attrs.Resource.Resource == "namespaces"
	if attrs.Namespace == "" && !isNamespace {
		return true, nil
	}
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if s.Empty() {
		return true, nil
	}
	if isNamespace {
		return matchLabels(s, attrs.Object) || matchLabels(s, attrs.OldObject), nil
	}
	ns, ok := objects.Get(namespacesGVR, "", attrs.Namespace)
	if !ok {
		return false, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, attrs.Namespace)
	}
	return matchLabels(s, ns), nil
}

// matchObject applies an objectSelector to the new or the old object.
func matchObject(sel *metav1.LabelSelector, attrs *Attributes) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if s.Empty() {
		return true, nil
	}
	return matchLabels(s, attrs.Object) || matchLabels(s, attrs.OldObject), nil
}

func matchLabels(s labels.Selector, obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(m.GetLabels()))
}

// forbidden builds upstream's admission.NewForbidden: the name is the
// request's, or the object's (generate)name, or "Unknown".
func forbidden(a *Attributes, err error) *apierrors.StatusError {
	return apierrors.NewForbidden(a.Resource.GroupResource(), errorName(a), err)
}

func errorName(a *Attributes) string {
	if a.Name != "" {
		return a.Name
	}
	if a.Object != nil {
		if m, err := meta.Accessor(a.Object); err == nil {
			if m.GetName() != "" {
				return m.GetName()
			}
			if m.GetGenerateName() != "" {
				return m.GetGenerateName()
			}
		}
	}
	return "Unknown"
}

// callError is a failure to get an answer from a webhook; failurePolicy
// decides whether it refuses the request.
type callError struct {
	webhook string
	reason  error
}

func (e *callError) Error() string {
	return fmt.Sprintf("failed calling webhook %q: %v", e.webhook, e.reason)
}

func (e *callError) Unwrap() error { return e.reason }
