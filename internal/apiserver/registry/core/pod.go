package core

import (
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func podResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "pods",
		SingularName: "pod",
		Kind:         "Pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "resize"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Strategy: registry.Strategy{
			Default:          func(obj runtime.Object) { DefaultPod(obj.(*corev1.Pod)) },
			PrepareForCreate: func(obj runtime.Object) { preparePodForCreate(obj.(*corev1.Pod)) },
			PrepareForUpdate: func(obj, old runtime.Object) { obj.(*corev1.Pod).Status = old.(*corev1.Pod).Status },
			Validate:         func(obj runtime.Object) field.ErrorList { return validatePodCreate(obj.(*corev1.Pod)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
			},
			SkipValidateOnUpdate: true,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Prepare: func(obj, old runtime.Object) { preparePodStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod)) },
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return validatePodStatus(obj.(*corev1.Pod), field.NewPath("status"))
					},
				}),
				// The binding (pods/binding, or the bindings resource)
				// writes spec.nodeName, the PodScheduled condition and
				// annotations, having checked them itself; only metadata
				// is validated.
				"binding": {SkipAdmission: true},
				// Ephemeral containers are added, never changed or
				// removed, through their own subresource.
				"ephemeralcontainers": {
					SpecChange: true,
					Prepare: func(obj, old runtime.Object) {
						PreparePodEphemeralContainersUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
					},
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return ValidatePodEphemeralContainersUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
					},
				},
				// In-place resize changes containers' cpu and memory.
				"resize": {
					SpecChange: true,
					Prepare:    func(obj, old runtime.Object) { PreparePodResizeUpdate(obj.(*corev1.Pod), old.(*corev1.Pod)) },
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return ValidatePodResizeUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
					},
				},
			},
			// Since 1.33 the API server keeps metadata.generation on pods too.
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
				registry.Column("Status", "string", "The aggregate status of the containers in this pod.", 0),
				registry.Column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"], 1),
				registry.Column("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"], 1),
				registry.Column("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"], 1),
				registry.Column("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} { return podRow(obj.(*corev1.Pod)) },
			Fields:   func(obj runtime.Object) fields.Set { return podFields(obj.(*corev1.Pod)) },
		},
	}
}

// DefaultPod sets a pod's defaults: its spec's, and podIP/podIPs and
// hostIP/hostIPs kept in step as upstream's v1 conversion keeps them.
func DefaultPod(pod *corev1.Pod) {
	DefaultPodSpec(&pod.Spec)
	st := &pod.Status
	if len(st.PodIPs) == 0 && st.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	}
	if len(st.HostIPs) == 0 && st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
}

func preparePodForCreate(pod *corev1.Pod) {
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: PodQOSClass(pod)}
	if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type:    corev1.PodScheduled,
			Status:  corev1.ConditionFalse,
			Reason:  corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		})
	}
}

func preparePodStatusUpdate(pod, old *corev1.Pod) {
	pod.Spec = old.Spec
	// Old kubelets corrupted owner references through /status; upstream
	// keeps them from the stored pod, and so do we.
	pod.OwnerReferences = old.OwnerReferences
}

// PodQOSClass computes a pod's QoS class from its containers' cpu and memory
// requests and limits (or the pod-level resources when set), as upstream does.
func PodQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	supported := func(n corev1.ResourceName) bool { return n == corev1.ResourceCPU || n == corev1.ResourceMemory }
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(into corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := q.DeepCopy()
		if prev, ok := into[name]; ok {
			sum.Add(prev)
		}
		into[name] = sum
	}
	consider := func(r *corev1.ResourceRequirements) {
		for name, q := range r.Requests {
			if supported(name) && q.Sign() > 0 {
				add(requests, name, q)
			}
		}
		found := sets.New[corev1.ResourceName]()
		for name, q := range r.Limits {
			if supported(name) && q.Sign() > 0 {
				found.Insert(name)
				add(limits, name, q)
			}
		}
		if !found.HasAll(corev1.ResourceCPU, corev1.ResourceMemory) {
			guaranteed = false
		}
	}
	if r := pod.Spec.Resources; r != nil && (len(r.Requests) > 0 || len(r.Limits) > 0) {
		consider(r)
	} else {
		for i := range pod.Spec.Containers {
			consider(&pod.Spec.Containers[i].Resources)
		}
		for i := range pod.Spec.InitContainers {
			consider(&pod.Spec.InitContainers[i].Resources)
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// updatablePodSpecFields is the list upstream's Forbidden message names.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)
	if len(pod.Spec.Containers) != len(old.Spec.Containers) {
		return append(errs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return append(errs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}
	adsPath := specPath.Child("activeDeadlineSeconds")
	switch {
	case pod.Spec.ActiveDeadlineSeconds != nil:
		v := *pod.Spec.ActiveDeadlineSeconds
		if v < 0 || v > math.MaxInt32 {
			return append(errs, field.Invalid(adsPath, v, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old.Spec.ActiveDeadlineSeconds != nil && *old.Spec.ActiveDeadlineSeconds < v {
			return append(errs, field.Invalid(adsPath, v, "must be less than or equal to previous value"))
		}
	case old.Spec.ActiveDeadlineSeconds != nil:
		errs = append(errs, field.Invalid(adsPath, pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)

	// Put back onto a copy of the new spec what may change, then compare.
	m := pod.Spec.DeepCopy()
	for i := range m.Containers {
		m.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range m.InitContainers {
		m.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	m.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	m.Tolerations = old.Spec.Tolerations
	if g := old.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 && m.TerminationGracePeriodSeconds != nil && *m.TerminationGracePeriodSeconds == 1 {
		m.TerminationGracePeriodSeconds = g
	}
	// Ephemeral containers change only through their own subresource.
	m.EphemeralContainers = old.Spec.EphemeralContainers
	if len(old.Spec.SchedulingGates) > 0 {
		// A gated pod may lose gates (never gain one) and gain node selector terms.
		oldGates := sets.New[string]()
		for _, g := range old.Spec.SchedulingGates {
			oldGates.Insert(g.Name)
		}
		for i, g := range m.SchedulingGates {
			if !oldGates.Has(g.Name) {
				errs = append(errs, field.Forbidden(specPath.Child("schedulingGates").Index(i), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
			}
		}
		m.SchedulingGates = old.Spec.SchedulingGates
		if nodeSelectorOnlyAdded(m.NodeSelector, old.Spec.NodeSelector) {
			m.NodeSelector = old.Spec.NodeSelector
		}
	} else if len(m.SchedulingGates) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("schedulingGates"), "only deletion is allowed, but found new scheduling gate '"+m.SchedulingGates[0].Name+"'"))
		m.SchedulingGates = old.Spec.SchedulingGates
	}
	if !equality.Semantic.DeepEqual(*m, old.Spec) {
		diff := cmp.Diff(old.Spec, *m)
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v", strings.Join(updatablePodSpecFields, ","), diff)))
	}
	return errs
}

func nodeSelectorOnlyAdded(newSel, oldSel map[string]string) bool {
	for k, v := range oldSel {
		if nv, ok := newSel[k]; !ok || nv != v {
			return false
		}
	}
	return true
}

func validateOnlyAddedTolerations(newT, oldT []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range oldT {
		found := false
		for _, n := range newT {
			c := o
			c.TolerationSeconds = n.TolerationSeconds
			if reflect.DeepEqual(c, n) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validatePodStatus(pod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	st := &pod.Status
	if st.NominatedNodeName != "" {
		errs = append(errs, registry.ValidateDNSSubdomain(st.NominatedNodeName, fldPath.Child("nominatedNodeName"))...)
	}
	ipsPath := fldPath.Child("podIPs")
	if len(st.PodIPs) > 2 {
		errs = append(errs, field.TooMany(ipsPath, len(st.PodIPs), 2))
	}
	seen := sets.New[string]()
	for i, ip := range st.PodIPs {
		if net.ParseIP(ip.IP) == nil {
			errs = append(errs, field.Invalid(ipsPath.Index(i), ip.IP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
		}
		if seen.Has(ip.IP) {
			errs = append(errs, field.Duplicate(ipsPath.Index(i), ip.IP))
		}
		seen.Insert(ip.IP)
	}
	hostPath := fldPath.Child("hostIPs")
	for i, ip := range st.HostIPs {
		if net.ParseIP(ip.IP) == nil {
			errs = append(errs, field.Invalid(hostPath.Index(i), ip.IP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
		}
	}
	names := sets.New[string]()
	for _, c := range pod.Spec.Containers {
		names.Insert(c.Name)
	}
	for i, cs := range st.ContainerStatuses {
		if !names.Has(cs.Name) {
			errs = append(errs, field.NotFound(fldPath.Child("containerStatuses").Index(i).Child("name"), cs.Name))
		}
	}
	return errs
}

// ValidatePodEphemeralContainersUpdate checks an update through the
// ephemeralcontainers subresource: the spec may change only by adding
// ephemeral containers; existing ones stay as they are.
func ValidatePodEphemeralContainersUpdate(pod, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)
	ecPath := specPath.Child("ephemeralContainers")
	byName := map[string]*corev1.EphemeralContainer{}
	for i := range pod.Spec.EphemeralContainers {
		byName[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	for _, o := range old.Spec.EphemeralContainers {
		n, ok := byName[o.Name]
		if !ok {
			errs = append(errs, field.Forbidden(ecPath, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", o.Name)))
		} else if !equality.Semantic.DeepEqual(o, *n) {
			errs = append(errs, field.Forbidden(ecPath, fmt.Sprintf("existing ephemeral containers %q may not be changed\n", o.Name)))
		}
	}
	m := pod.Spec.DeepCopy()
	m.EphemeralContainers = old.Spec.EphemeralContainers
	if !equality.Semantic.DeepEqual(*m, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, "may not change fields other than `spec.ephemeralContainers` through this subresource"))
	}
	return errs
}

// PreparePodEphemeralContainersUpdate keeps everything but
// spec.ephemeralContainers from the stored pod.
func PreparePodEphemeralContainersUpdate(pod, old *corev1.Pod) {
	ec := pod.Spec.EphemeralContainers
	pod.Spec = *old.Spec.DeepCopy()
	pod.Spec.EphemeralContainers = ec
	pod.Status = old.Status
}

// PreparePodResizeUpdate keeps everything from the stored pod but the
// containers' resources and resizePolicy, the only fields the resize
// subresource may change, as upstream's dropNonResizeUpdates: a request
// that adds, removes, reorders or renames containers keeps its spec, for
// ValidatePodResizeUpdate to refuse.
func PreparePodResizeUpdate(pod, old *corev1.Pod) {
	pod.Status = old.Status
	// Metadata a resize may not change, as upstream's
	// ResetObjectMetaForStatus.
	pod.DeletionTimestamp = old.DeletionTimestamp
	pod.Labels, pod.Annotations = old.Labels, old.Annotations
	pod.Finalizers, pod.OwnerReferences = old.Finalizers, old.OwnerReferences
	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return
	}
	merge := func(newCs, oldCs []corev1.Container) ([]corev1.Container, bool) {
		out := make([]corev1.Container, len(oldCs))
		for i := range oldCs {
			if newCs[i].Name != oldCs[i].Name {
				return newCs, false
			}
			out[i] = *oldCs[i].DeepCopy()
			out[i].Resources = newCs[i].Resources
			out[i].ResizePolicy = newCs[i].ResizePolicy
		}
		return out, true
	}
	cs, ok1 := merge(pod.Spec.Containers, old.Spec.Containers)
	ics, ok2 := merge(pod.Spec.InitContainers, old.Spec.InitContainers)
	if !ok1 || !ok2 {
		// A renamed or reordered container: validation says so.
		return
	}
	if len(old.Spec.InitContainers) == 0 {
		ics = pod.Spec.InitContainers
	}
	spec := *old.Spec.DeepCopy()
	spec.Containers, spec.InitContainers = cs, ics
	// Pod-level resources may change too; ValidatePodResizeUpdate refuses
	// it, as upstream does with InPlacePodLevelResourcesVerticalScaling
	// off.
	spec.Resources = pod.Spec.Resources
	pod.Spec = spec
}

// ValidatePodResizeUpdate checks a resize as upstream's ValidatePodResize
// does: not a static or Windows pod; the QoS class stays; containers are
// neither added, removed, renamed nor reordered; requests and limits are
// not removed; only cpu and memory change (and resizePolicy).
func ValidatePodResizeUpdate(pod, old *corev1.Pod) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)
	if _, ok := old.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods cannot be resized")}
	}
	if old.Spec.OS != nil && old.Spec.OS.Name == corev1.Windows {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "windows pods cannot be resized")}
	}
	oldQOS := old.Status.QOSClass
	if oldQOS == "" {
		oldQOS = PodQOSClass(old)
	}
	if PodQOSClass(pod) != oldQOS {
		errs = append(errs, field.Invalid(specPath, pod.Status.QOSClass, "Pod QOS Class may not change as a result of resizing"))
	}
	for _, cs := range old.Status.ContainerStatuses {
		if cs.State.Running != nil {
			// A node that reports no resources cannot resize.
			if cs.Resources == nil {
				errs = append(errs, field.Forbidden(specPath, "Pod running on node without support for resize"))
			}
			break
		}
	}
	plr := func(p *corev1.Pod) bool {
		return p.Spec.Resources != nil && len(p.Spec.Resources.Requests)+len(p.Spec.Resources.Limits) > 0
	}
	if plr(pod) || plr(old) {
		// skiff's nodes do not resize pod-level resources: as upstream
		// with InPlacePodLevelResourcesVerticalScaling off.
		return append(errs, field.Forbidden(field.NewPath(""), "resize of pods with pod-level resources is forbidden when InPlacePodLevelResourcesVerticalScalingEnabled feature gate is disabled"))
	}
	var order field.ErrorList
	if len(pod.Spec.Containers) != len(old.Spec.Containers) {
		order = append(order, field.Forbidden(specPath.Child("containers"), "containers may not be added or removed on resize"))
	} else {
		for i := range old.Spec.Containers {
			if pod.Spec.Containers[i].Name != old.Spec.Containers[i].Name {
				order = append(order, field.Forbidden(specPath.Child("containers").Index(i).Child("name"), "containers may not be renamed or reordered on resize"))
			}
		}
	}
	if len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		order = append(order, field.Forbidden(specPath.Child("initContainers"), "initContainers may not be added or removed on resize"))
	} else {
		for i := range old.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name != old.Spec.InitContainers[i].Name {
				order = append(order, field.Forbidden(specPath.Child("initContainers").Index(i).Child("name"), "initContainers may not be renamed or reordered on resize"))
			}
		}
	}
	if len(order) > 0 {
		return append(errs, order...)
	}
	removed := func(n, o corev1.ResourceList) bool {
		for name := range o {
			if _, ok := n[name]; !ok {
				return true
			}
		}
		return false
	}
	containerResize := func(n, o *corev1.Container, p *field.Path) {
		if removed(n.Resources.Requests, o.Resources.Requests) {
			errs = append(errs, field.Forbidden(p.Child("requests"), "resource requests cannot be removed"))
		}
		if removed(n.Resources.Limits, o.Resources.Limits) {
			errs = append(errs, field.Forbidden(p.Child("limits"), "resource limits cannot be removed"))
		}
	}
	for i := range old.Spec.InitContainers {
		containerResize(&pod.Spec.InitContainers[i], &old.Spec.InitContainers[i], specPath.Child("initContainers").Index(i).Child("resources"))
	}
	for i := range old.Spec.Containers {
		containerResize(&pod.Spec.Containers[i], &old.Spec.Containers[i], specPath.Child("containers").Index(i).Child("resources"))
	}
	// Only cpu and memory may differ, once put back.
	masked := pod.Spec.DeepCopy()
	for i := range masked.Containers {
		dropCPUMemoryChanges(&masked.Containers[i], &old.Spec.Containers[i])
		if !equality.Semantic.DeepEqual(masked.Containers[i], old.Spec.Containers[i]) {
			errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources are mutable"))
		}
	}
	for i := range masked.InitContainers {
		changed := !equality.Semantic.DeepEqual(masked.InitContainers[i], old.Spec.InitContainers[i])
		dropCPUMemoryChanges(&masked.InitContainers[i], &old.Spec.InitContainers[i])
		c := &masked.InitContainers[i]
		if !equality.Semantic.DeepEqual(*c, old.Spec.InitContainers[i]) {
			errs = append(errs, field.Forbidden(specPath.Child("initContainers").Index(i), "only cpu and memory resources for init or sidecar containers are mutable"))
		}
		if changed && !isSidecar(c) {
			for _, rp := range c.ResizePolicy {
				if rp.RestartPolicy == corev1.RestartContainer {
					errs = append(errs, field.Forbidden(specPath.Child("initContainers").Index(i), "non-sidecar init containers with a resize policy of RestartContainer cannot be resized"))
				}
			}
		}
	}
	if !equality.Semantic.DeepEqual(pod.Spec.Volumes, old.Spec.Volumes) {
		errs = append(errs, field.Forbidden(specPath.Child("volumes"), "volumes are immutable on resize when InPlacePodVerticalScalingMemoryBackedVolumes feature gate is disabled"))
	}
	if len(errs) > 0 {
		return errs
	}
	masked.Volumes = old.Spec.Volumes
	if !equality.Semantic.DeepEqual(*masked, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources are mutable"))
	}
	return errs
}

// dropCPUMemoryChanges puts c's cpu and memory requests and limits back
// to old's, leaving any other change to be seen (resizePolicy too: as
// upstream, it may not change on resize).
func dropCPUMemoryChanges(c, old *corev1.Container) {
	drop := func(n, o corev1.ResourceList) corev1.ResourceList {
		out := corev1.ResourceList{}
		for name, q := range n {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				out[name] = q
			}
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := o[name]; ok {
				out[name] = q
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	c.Resources = corev1.ResourceRequirements{Limits: drop(c.Resources.Limits, old.Resources.Limits), Requests: drop(c.Resources.Requests, old.Resources.Requests), Claims: c.Resources.Claims}
}

func mergeNames(a, b corev1.ResourceList) map[corev1.ResourceName]bool {
	out := map[corev1.ResourceName]bool{}
	for n := range a {
		out[n] = true
	}
	for n := range b {
		out[n] = true
	}
	return out
}

// ErrPodAlreadyBound is returned by BindPod for a pod with a node.
var ErrPodAlreadyBound = errors.New("pod is already assigned to a node")

// ErrPodSchedulingGated is returned by BindPod for a pod with scheduling gates.
var ErrPodSchedulingGated = errors.New("pod has non-empty .spec.schedulingGates")

// ValidateBinding checks a pods/binding request body.
func ValidateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	return errs
}

// BindPod assigns pod to the binding's node as upstream's binding REST does:
// it sets spec.nodeName, merges the binding's annotations and sets the
// PodScheduled condition true. The caller conflicts on the errors.
func BindPod(pod *corev1.Pod, b *corev1.Binding, now metav1.Time) error {
	if pod.Spec.NodeName != "" {
		return fmt.Errorf("bind pod %s: %w: %q", pod.Name, ErrPodAlreadyBound, pod.Spec.NodeName)
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		return fmt.Errorf("bind pod %s: %w", pod.Name, ErrPodSchedulingGated)
	}
	pod.Spec.NodeName = b.Target.Name
	for k, v := range b.Annotations {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[k] = v
	}
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			pod.Status.Conditions[i] = cond
			return nil
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
	return nil
}

func podFields(pod *corev1.Pod) fields.Set {
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":           pod.Spec.NodeName,
		"spec.restartPolicy":      string(pod.Spec.RestartPolicy),
		"spec.schedulerName":      pod.Spec.SchedulerName,
		"spec.serviceAccountName": pod.Spec.ServiceAccountName,
		"spec.hostNetwork":        strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":            string(pod.Status.Phase),
		"status.podIP":            podIP,
		// Upstream's label conversion accepts status.podIPs but its field set
		// has no value for it, so it only ever matches the empty string.
		"status.podIPs":            "",
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}

func isSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
