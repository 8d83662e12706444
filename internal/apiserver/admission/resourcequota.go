package admission

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	podquota "skiff/internal/quota"
)

// Quotas writes ResourceQuotas for the ResourceQuota plugin.
type Quotas interface {
	// UpdateQuota reads the stored quota namespace/name and passes a copy
	// to update, then stores what update returns (nothing when it returns
	// nil) if the quota has not changed meanwhile; on a conflict it reads
	// again and retries, a few times. A quota that does not exist is
	// skipped. Errors are API errors: update's own, or the store's.
	UpdateQuota(ctx context.Context, namespace, name string, update func(*corev1.ResourceQuota) (*corev1.ResourceQuota, error)) error
}

var resourceQuotasGVR = corev1.SchemeGroupVersion.WithResource("resourcequotas")

// resourceQuota is upstream's ResourceQuota admission: a create that
// would take a namespace past one of its quotas' hard limits is refused,
// and an admitted create is charged to the quotas at once (status.used),
// so that creates in quick succession cannot overrun a quota before the
// resource quota controller recounts. The controller stays the source of
// truth: it recomputes status.used from what exists, which also releases
// charges of creates that failed after admission. It is the last plugin,
// so that only what every other plugin admitted is charged.
type resourceQuota struct {
	objects Objects
	quotas  Quotas
}

var _ Validator = resourceQuota{}

func (resourceQuota) Name() string { return "ResourceQuota" }

func (resourceQuota) Handles(op Operation) bool { return op == Create || op == Update }

// chargedOnUpdate reports whether an update can change what an object
// uses, as upstream's evaluators see it: a pod's resize, a Service's type
// or ports, a claim's requested storage.
func chargedOnUpdate(a *Attributes) bool {
	if a.Resource.Group != "" {
		return false
	}
	switch a.Resource.Resource {
	case "pods":
		return a.SubResource == "resize"
	case "services", "persistentvolumeclaims":
		return a.SubResource == ""
	}
	return false
}

// Validate checks a.Object, about to be created (or, for the updates that
// change usage, its growth over a.OldObject), against the quotas of its
// namespace and charges it to them unless the request is a dry run.
func (p resourceQuota) Validate(ctx context.Context, a *Attributes) error {
	// A create of a subresource (a token, an eviction) makes no object
	// of the resource.
	if a.Namespace == "" || (a.Operation == Create && a.SubResource != "") || a.Resource.GroupResource() == resourceQuotasGVR.GroupResource() {
		return nil
	}
	var old runtime.Object
	if a.Operation == Update {
		if !chargedOnUpdate(a) || a.OldObject == nil {
			return nil
		}
		old = a.OldObject
	}
	for _, q := range p.objects.List(resourceQuotasGVR, a.Namespace) {
		quota, ok := q.(*corev1.ResourceQuota)
		if !ok || len(quota.Spec.Hard) == 0 {
			continue
		}
		err := p.quotas.UpdateQuota(ctx, a.Namespace, quota.Name, func(quota *corev1.ResourceQuota) (*corev1.ResourceQuota, error) {
			used, err := quotaCharge(quota, a.Resource, a.Object, old)
			if err != nil || used == nil || a.DryRun {
				return nil, err
			}
			quota.Status.Used = used
			return quota, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// quotaCharge returns the quota's status.used with obj (of resource gvr)
// added, or nil when obj uses nothing the quota limits. For an update, old
// is the object before it, and only what obj uses beyond old is charged
// (a decrease is left to the controller's recount). It refuses obj
// (Forbidden) when that would exceed a hard limit, or when a new pod
// leaves out a request or limit that the quota constrains. Usage the
// controller has not counted yet is not enforced.
func quotaCharge(quota *corev1.ResourceQuota, gvr schema.GroupVersionResource, obj, old runtime.Object) (corev1.ResourceList, error) {
	if pod, ok := obj.(*corev1.Pod); ok && !podquota.PodMatches(pod, quota.Spec) {
		return nil, nil
	} else if !ok && podquota.Scoped(quota.Spec) {
		return nil, nil
	}
	delta := objectUsage(gvr, obj)
	if old != nil {
		delta = growth(delta, objectUsage(gvr, old))
	}
	forbidden := func(msg string) error {
		name := ""
		if m, err := meta.Accessor(obj); err == nil {
			name = m.GetName()
		}
		return apierrors.NewForbidden(gvr.GroupResource(), name, errors.New(msg))
	}
	if pod, ok := obj.(*corev1.Pod); ok && old == nil {
		if missing := missingPodResources(pod, quota.Spec.Hard); len(missing) > 0 {
			return nil, forbidden(fmt.Sprintf("failed quota: %s: must specify %s", quota.Name, strings.Join(missing, ",")))
		}
	}
	used := quota.Status.Used.DeepCopy()
	var changed, exceeded []string
	for name, add := range delta {
		hard, limited := quota.Spec.Hard[name]
		cur, counted := quota.Status.Used[name]
		if !limited || !counted {
			continue
		}
		next := cur.DeepCopy()
		next.Add(add)
		if next.Cmp(hard) > 0 {
			exceeded = append(exceeded, string(name))
		}
		used[name] = next
		changed = append(changed, string(name))
	}
	if len(exceeded) > 0 {
		sort.Strings(exceeded)
		var req, cur, lim []string
		for _, n := range exceeded {
			name := corev1.ResourceName(n)
			q, u, h := delta[name], quota.Status.Used[name], quota.Spec.Hard[name]
			req = append(req, n+"="+q.String())
			cur = append(cur, n+"="+u.String())
			lim = append(lim, n+"="+h.String())
		}
		return nil, forbidden(fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			quota.Name, strings.Join(req, ","), strings.Join(cur, ","), strings.Join(lim, ",")))
	}
	if len(changed) == 0 {
		return nil, nil
	}
	return used, nil
}

// growth is what usage holds beyond before: the positive differences.
func growth(usage, before corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range usage {
		d := q.DeepCopy()
		if b, ok := before[name]; ok {
			d.Sub(b)
		}
		if d.Sign() > 0 {
			out[name] = d
		}
	}
	return out
}

// objectUsage is what one object of resource gvr adds to a quota's
// usage: its object count, and for pods their requests and limits.
func objectUsage(gvr schema.GroupVersionResource, obj runtime.Object) corev1.ResourceList {
	one := *apiresource.NewQuantity(1, apiresource.DecimalSI)
	countName := "count/" + gvr.Resource
	if gvr.Group != "" {
		countName += "." + gvr.Group
	}
	usage := corev1.ResourceList{corev1.ResourceName(countName): one}
	if gvr.Group != "" {
		return usage
	}
	switch gvr.Resource {
	case "configmaps", "secrets", "replicationcontrollers", "services", "persistentvolumeclaims":
		usage[corev1.ResourceName(gvr.Resource)] = one
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		usage[corev1.ResourcePods] = one
		for name, q := range podquota.PodResources(o, false) {
			usage[corev1.ResourceName("requests."+string(name))] = q
			switch name {
			case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
				usage[name] = q
			}
		}
		for name, q := range podquota.PodResources(o, true) {
			usage[corev1.ResourceName("limits."+string(name))] = q
		}
	case *corev1.Service:
		switch o.Spec.Type {
		case corev1.ServiceTypeLoadBalancer:
			usage[corev1.ResourceServicesLoadBalancers] = one
			usage[corev1.ResourceServicesNodePorts] = *apiresource.NewQuantity(int64(len(o.Spec.Ports)), apiresource.DecimalSI)
		case corev1.ServiceTypeNodePort:
			usage[corev1.ResourceServicesNodePorts] = *apiresource.NewQuantity(int64(len(o.Spec.Ports)), apiresource.DecimalSI)
		}
	case *corev1.PersistentVolumeClaim:
		if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			usage[corev1.ResourceRequestsStorage] = q
		}
	}
	return usage
}

func missingPodResources(p *corev1.Pod, hard corev1.ResourceList) []string {
	var missing []string
	check := func(name corev1.ResourceName, limits bool, base corev1.ResourceName) {
		if _, ok := hard[name]; !ok {
			return
		}
		for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
			list := c.Resources.Requests
			if limits {
				list = c.Resources.Limits
			}
			if _, ok := list[base]; !ok {
				missing = append(missing, string(name))
				return
			}
		}
	}
	check(corev1.ResourceCPU, false, corev1.ResourceCPU)
	check(corev1.ResourceRequestsCPU, false, corev1.ResourceCPU)
	check(corev1.ResourceMemory, false, corev1.ResourceMemory)
	check(corev1.ResourceRequestsMemory, false, corev1.ResourceMemory)
	check(corev1.ResourceLimitsCPU, true, corev1.ResourceCPU)
	check(corev1.ResourceLimitsMemory, true, corev1.ResourceMemory)
	return missing
}
