package admission

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/admission/podsecurity"
)

// podSecurity is upstream's PodSecurity plugin: it applies the policy
// that a namespace's pod-security.kubernetes.io labels (or the
// configuration's defaults) set.
//
//   - pods: enforce refuses a create, or an update that changes an image
//     or adds an ephemeral container, that violates the enforce level;
//     audit adds audit annotations; warn sends Warning headers.
//   - workloads with a pod template (Deployments, Jobs, PodTemplates, ...):
//     audit and warn only, so that users learn early what their pods will
//     be refused.
//   - namespaces: bad labels are refused (422); making enforce stricter
//     warns about the existing pods that violate the new level.
//
// Exempt usernames, namespaces and RuntimeClasses skip every check.
type podSecurity struct {
	namespaces Namespaces
	objects    Objects
	config     *podsecurity.Configuration
	defaults   podsecurity.Policy
	evaluator  *podsecurity.Evaluator
}

var _ Validator = (*podSecurity)(nil)

func newPodSecurity(cfg *podsecurity.Configuration, namespaces Namespaces, objects Objects) *podSecurity {
	if cfg == nil {
		cfg = &podsecurity.Configuration{}
	}
	return &podSecurity{namespaces: namespaces, objects: objects, config: cfg,
		defaults: cfg.DefaultPolicy(), evaluator: podsecurity.NewEvaluator()}
}

func (*podSecurity) Name() string { return "PodSecurity" }

func (*podSecurity) Handles(op Operation) bool { return op == Create || op == Update }

// templateResources are the resources whose objects carry a pod template.
var templateResources = map[schema.GroupResource]bool{
	{Resource: "replicationcontrollers"}:                true,
	{Resource: "podtemplates"}:                          true,
	{Group: appsv1.GroupName, Resource: "replicasets"}:  true,
	{Group: appsv1.GroupName, Resource: "deployments"}:  true,
	{Group: appsv1.GroupName, Resource: "statefulsets"}: true,
	{Group: appsv1.GroupName, Resource: "daemonsets"}:   true,
	{Group: batchv1.GroupName, Resource: "jobs"}:        true,
	{Group: batchv1.GroupName, Resource: "cronjobs"}:    true,
}

// ignoredPodSubresources change nothing the policy looks at; any other
// pod subresource is checked as a pod update.
var ignoredPodSubresources = map[string]bool{
	"exec": true, "attach": true, "binding": true, "eviction": true,
	"log": true, "portforward": true, "proxy": true, "status": true,
}

func (p *podSecurity) Validate(ctx context.Context, a *Attributes) error {
	gr := a.Resource.GroupResource()
	var d psDecision
	switch {
	case gr == schema.GroupResource{Resource: "namespaces"}:
		d = p.validateNamespace(a)
	case gr == podsGVR.GroupResource():
		d = p.validatePod(ctx, a)
	case templateResources[gr]:
		d = p.validateTemplate(ctx, a)
	default:
		return nil
	}
	warn(ctx, d.warnings)
	if len(d.annotations) > 0 {
		kv := make(map[string]string, len(d.annotations))
		for k, v := range d.annotations {
			kv[podsecurity.LabelPrefix+k] = v
		}
		annotate(ctx, kv)
	}
	return d.err
}

// psDecision is the plugin's answer: a refusal or nil, warnings for the
// client and annotations for the audit event (keys without the prefix).
type psDecision struct {
	err         error
	warnings    []string
	annotations map[string]string
}

func psExempt(reason string) psDecision {
	return psDecision{annotations: map[string]string{podsecurity.ExemptAnnotation: reason}}
}

func (p *podSecurity) validateNamespace(a *Attributes) psDecision {
	if a.SubResource != "" {
		return psDecision{}
	}
	ns, ok := a.Object.(*corev1.Namespace)
	if !ok {
		return psDecision{err: apierrors.NewBadRequest("failed to decode namespace")}
	}
	policy, errs := podsecurity.PolicyFromLabels(ns.Labels, p.defaults)
	invalid := func() psDecision {
		return psDecision{err: apierrors.NewInvalid(a.Kind.GroupKind(), a.Name, errs)}
	}
	switch a.Operation {
	case Create:
		if len(errs) > 0 {
			return invalid()
		}
		// A create's request names no namespace (upstream's
		// attributes), so the exemption warning comes with updates only.
		return psDecision{}
	case Update:
		old, ok := a.OldObject.(*corev1.Namespace)
		if !ok {
			return psDecision{err: apierrors.NewBadRequest("failed to decode  old namespace")}
		}
		oldPolicy, oldErrs := podsecurity.PolicyFromLabels(old.Labels, p.defaults)
		if len(errs) > 0 && (len(oldErrs) == 0 || !reflect.DeepEqual(errs, oldErrs)) {
			return invalid()
		}
		switch {
		case policy.Enforce == oldPolicy.Enforce,
			policy.Enforce.Level == podsecurity.Privileged,
			policy.Enforce.Version == oldPolicy.Enforce.Version && podsecurity.CompareLevels(policy.Enforce.Level, oldPolicy.Enforce.Level) < 1:
			return psDecision{}
		}
		// An update addresses the namespace by name.
		if p.exemptNamespace(a.Name) {
			if w := p.exemptNamespaceWarning(ns.Name, policy, ns.Labels); w != "" {
				return psDecision{warnings: []string{w}}
			}
			return psDecision{}
		}
		return psDecision{warnings: p.checkExistingPods(ns.Name, policy.Enforce)}
	}
	return psDecision{}
}

// maxPodsToCheck bounds the pods a namespace update evaluates.
const maxPodsToCheck = 3000

// checkExistingPods evaluates the namespace's pods against a new enforce
// level: one warning per distinct violation, naming the first pod (by
// name) and how many others share it. It checks one pod per controller
// first, so that a large ReplicaSet does not crowd out the rest.
func (p *podSecurity) checkExistingPods(namespace string, enforce podsecurity.LevelVersion) []string {
	var first, rest []*corev1.Pod
	seenOwner := map[types.UID]bool{}
	for _, obj := range p.objects.List(podsGVR, namespace) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || p.exemptRuntimeClass(pod.Spec.RuntimeClassName) {
			continue
		}
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref == nil:
			first = append(first, pod)
		case seenOwner[ref.UID]:
			rest = append(rest, pod)
		default:
			seenOwner[ref.UID] = true
			first = append(first, pod)
		}
	}
	pods := append(first, rest...)
	total := len(pods)
	if len(pods) > maxPodsToCheck {
		pods = pods[:maxPodsToCheck]
	}
	type count struct {
		pod string
		n   int
	}
	counts := map[string]count{}
	var reasons []string
	for _, pod := range pods {
		v := p.evaluator.Evaluate(enforce, &pod.ObjectMeta, &pod.Spec)
		if v.Allowed() {
			continue
		}
		r := v.Reasons()
		c, seen := counts[r]
		if !seen {
			reasons = append(reasons, r)
			c.pod = pod.Name
		} else if pod.Name < c.pod {
			c.pod = pod.Name
		}
		c.n++
		counts[r] = c
	}
	var out []string
	if len(pods) < total {
		out = append(out, fmt.Sprintf("new PodSecurity enforce level only checked against the first %d of %d existing pods", len(pods), total))
	}
	if len(reasons) > 0 {
		out = append(out, fmt.Sprintf("existing pods in namespace %q violate the new PodSecurity enforce level %q", namespace, enforce.String()))
	}
	for i, r := range reasons {
		c := counts[r]
		switch c.n {
		case 1:
			reasons[i] = fmt.Sprintf("%s: %s", c.pod, r)
		case 2:
			reasons[i] = fmt.Sprintf("%s (and 1 other pod): %s", c.pod, r)
		default:
			reasons[i] = fmt.Sprintf("%s (and %d other pods): %s", c.pod, c.n-1, r)
		}
	}
	sort.Strings(reasons)
	return append(out, reasons...)
}

// exemptNamespaceWarning tells whoever labels an exempt namespace with a
// policy that differs from the defaults that the policy does nothing.
func (p *podSecurity) exemptNamespaceWarning(name string, policy podsecurity.Policy, labels map[string]string) string {
	if policy.FullyPrivileged() || policy.Equivalent(p.defaults) {
		return ""
	}
	var parts []string
	mode := func(mode string, lv podsecurity.LevelVersion, levelLabel, versionLabel string) {
		_, hasLevel := labels[levelLabel]
		_, hasVersion := labels[versionLabel]
		if lv.Level != podsecurity.Privileged && (hasLevel || hasVersion) {
			parts = append(parts, mode+"="+lv.String())
		}
	}
	mode("enforce", policy.Enforce, podsecurity.EnforceLevelLabel, podsecurity.EnforceVersionLabel)
	mode("audit", policy.Audit, podsecurity.AuditLevelLabel, podsecurity.AuditVersionLabel)
	mode("warn", policy.Warn, podsecurity.WarnLevelLabel, podsecurity.WarnVersionLabel)
	return fmt.Sprintf("namespace %q is exempt from Pod Security, and the policy (%s) will be ignored", name, strings.Join(parts, ", "))
}

func (p *podSecurity) validatePod(ctx context.Context, a *Attributes) psDecision {
	if ignoredPodSubresources[a.SubResource] {
		return psDecision{}
	}
	if p.exemptNamespace(a.Namespace) {
		return psExempt("namespace")
	}
	if p.exemptUser(a.User.Username) {
		return psExempt("user")
	}
	ns, err := p.namespaces.Namespace(ctx, a.Namespace)
	if err != nil {
		return psDecision{
			err:         apierrors.NewInternalError(fmt.Errorf("failed to lookup namespace %q", a.Namespace)),
			annotations: map[string]string{"error": fmt.Sprintf("Internal error occurred: failed to lookup namespace %q: %v", a.Namespace, err)},
		}
	}
	policy, errs := podsecurity.PolicyFromLabels(namespaceLabels(ns), p.defaults)
	if len(errs) == 0 && policy.FullyPrivileged() {
		return psDecision{annotations: map[string]string{
			podsecurity.EnforcePolicyAnnotation: podsecurity.LevelVersion{Level: podsecurity.Privileged, Version: podsecurity.Latest}.String(),
		}}
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return psDecision{err: apierrors.NewBadRequest("failed to decode pod")}
	}
	if a.Operation == Update {
		old, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return psDecision{err: apierrors.NewBadRequest("failed to decode old pod")}
		}
		if !significantPodUpdate(pod, old) {
			return psDecision{}
		}
	}
	return p.evaluate(a, policy, errs, &pod.ObjectMeta, &pod.Spec, true)
}

func (p *podSecurity) validateTemplate(ctx context.Context, a *Attributes) psDecision {
	if a.SubResource != "" {
		return psDecision{}
	}
	if p.exemptNamespace(a.Namespace) {
		return psExempt("namespace")
	}
	if p.exemptUser(a.User.Username) {
		return psExempt("user")
	}
	ns, err := p.namespaces.Namespace(ctx, a.Namespace)
	if err != nil {
		return psDecision{annotations: map[string]string{"error": fmt.Sprintf("failed to lookup namespace %q: %v", a.Namespace, err)}}
	}
	policy, errs := podsecurity.PolicyFromLabels(namespaceLabels(ns), p.defaults)
	if len(errs) == 0 && policy.Warn.Level == podsecurity.Privileged && policy.Audit.Level == podsecurity.Privileged {
		return psDecision{}
	}
	meta, spec, err := podTemplate(a.Object)
	if err != nil {
		return psDecision{annotations: map[string]string{"error": fmt.Sprintf("failed to extract pod template: %v", err)}}
	}
	if meta == nil && spec == nil {
		return psDecision{}
	}
	return p.evaluate(a, policy, errs, meta, spec, false)
}

// podTemplate finds the pod template of a workload; nil when it has none
// (a ReplicationController may omit it).
func podTemplate(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	var t *corev1.PodTemplateSpec
	switch o := obj.(type) {
	case *corev1.PodTemplate:
		t = &o.Template
	case *corev1.ReplicationController:
		t = o.Spec.Template
	case *appsv1.ReplicaSet:
		t = &o.Spec.Template
	case *appsv1.Deployment:
		t = &o.Spec.Template
	case *appsv1.DaemonSet:
		t = &o.Spec.Template
	case *appsv1.StatefulSet:
		t = &o.Spec.Template
	case *batchv1.Job:
		t = &o.Spec.Template
	case *batchv1.CronJob:
		t = &o.Spec.JobTemplate.Spec.Template
	default:
		return nil, nil, fmt.Errorf("unexpected object type: %s", obj.GetObjectKind().GroupVersionKind().String())
	}
	if t == nil {
		return nil, nil, nil
	}
	return &t.ObjectMeta, &t.Spec, nil
}

// evaluate applies a namespace's policy to a pod or a template: enforce
// (pods only) refuses, audit annotates, warn warns unless the request is
// refused anyway. Each distinct level and version is evaluated once.
func (p *podSecurity) evaluate(a *Attributes, policy podsecurity.Policy, policyErrs field.ErrorList, meta *metav1.ObjectMeta, spec *corev1.PodSpec, enforce bool) psDecision {
	if spec.RuntimeClassName != nil && p.exemptRuntimeClass(spec.RuntimeClassName) {
		return psExempt("runtimeClass")
	}
	d := psDecision{annotations: map[string]string{}}
	if len(policyErrs) > 0 {
		d.annotations["error"] = fmt.Sprintf("Failed to parse policy: %v", policyErrs.ToAggregate())
	}
	results := map[podsecurity.LevelVersion]podsecurity.Violations{}
	eval := func(lv podsecurity.LevelVersion) podsecurity.Violations {
		if v, ok := results[lv]; ok {
			return v
		}
		v := p.evaluator.Evaluate(lv, meta, spec)
		results[lv] = v
		return v
	}
	if enforce {
		d.annotations[podsecurity.EnforcePolicyAnnotation] = policy.Enforce.String()
		if v := eval(policy.Enforce); !v.Allowed() {
			d.err = apierrors.NewForbidden(a.Resource.GroupResource(), a.Name,
				fmt.Errorf("violates PodSecurity %q: %s", policy.Enforce.String(), v.Details()))
		}
	}
	if v := eval(policy.Audit); !v.Allowed() {
		d.annotations[podsecurity.AuditViolationsAnnotation] = fmt.Sprintf("would violate PodSecurity %q: %s", policy.Audit.String(), v.Details())
	}
	if d.err == nil {
		if v := eval(policy.Warn); !v.Allowed() {
			d.warnings = append(d.warnings, fmt.Sprintf("would violate PodSecurity %q: %s", policy.Warn.String(), v.Details()))
		}
	}
	return d
}

// significantPodUpdate reports whether an update changes what the policy
// looks at that a pod may change: images, and ephemeral containers.
func significantPodUpdate(pod, old *corev1.Pod) bool {
	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return true
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image != old.Spec.Containers[i].Image {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Image != old.Spec.InitContainers[i].Image {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		i := slices.IndexFunc(old.Spec.EphemeralContainers, func(o corev1.EphemeralContainer) bool { return o.Name == c.Name })
		if i < 0 || old.Spec.EphemeralContainers[i].Image != c.Image {
			return true
		}
	}
	return false
}

func (p *podSecurity) exemptNamespace(ns string) bool {
	return ns != "" && slices.Contains(p.config.Exemptions.Namespaces, ns)
}

func (p *podSecurity) exemptUser(name string) bool {
	return name != "" && slices.Contains(p.config.Exemptions.Usernames, name)
}

func (p *podSecurity) exemptRuntimeClass(rc *string) bool {
	return rc != nil && *rc != "" && slices.Contains(p.config.Exemptions.RuntimeClasses, *rc)
}

// namespaceLabels are ns's labels; none when the server serves no
// namespaces (ns is nil).
func namespaceLabels(ns *corev1.Namespace) map[string]string {
	if ns == nil {
		return nil
	}
	return ns.Labels
}
