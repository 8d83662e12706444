package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// limitRanger is upstream's LimitRanger: a new pod's containers get the
// default requests and limits of their namespace's LimitRanges (noted in
// the kubernetes.io/limit-ranger annotation), and a pod whose containers,
// or the pod as a whole, fall outside a range's min, max or
// maxLimitRequestRatio is refused.
type limitRanger struct {
	objects Objects
}

var (
	_ Mutator   = limitRanger{}
	_ Validator = limitRanger{}
)

var limitRangesGVR = schema.GroupVersionResource{Version: "v1", Resource: "limitranges"}

// limitRangerAnnotation records the defaults a pod got.
const limitRangerAnnotation = "kubernetes.io/limit-ranger"

func (limitRanger) Name() string { return "LimitRanger" }

// Handles creates, and updates for a pod's resize (checked, never
// defaulted), as upstream's plugin does.
func (limitRanger) Handles(op Operation) bool { return op == Create || op == Update }

// ranges are the LimitRanges of a namespace.
func (p limitRanger) ranges(namespace string) []*corev1.LimitRange {
	if p.objects == nil {
		return nil
	}
	var out []*corev1.LimitRange
	for _, o := range p.objects.List(limitRangesGVR, namespace) {
		if lr, ok := o.(*corev1.LimitRange); ok {
			out = append(out, lr)
		}
	}
	return out
}

func (p limitRanger) Admit(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" || a.Operation != Create {
		return nil
	}
	var notes []string
	for _, lr := range p.ranges(a.Namespace) {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for i := range pod.Spec.InitContainers {
				notes = append(notes, applyDefaults(&pod.Spec.InitContainers[i], item)...)
			}
			for i := range pod.Spec.Containers {
				notes = append(notes, applyDefaults(&pod.Spec.Containers[i], item)...)
			}
		}
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[limitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
	return nil
}

// applyDefaults sets a container's missing requests and limits from a
// Container item and says what it set.
func applyDefaults(c *corev1.Container, item corev1.LimitRangeItem) []string {
	var reqs, lims []string
	for k, v := range item.Default {
		if _, ok := c.Resources.Limits[k]; !ok {
			if c.Resources.Limits == nil {
				c.Resources.Limits = corev1.ResourceList{}
			}
			c.Resources.Limits[k] = v.DeepCopy()
			lims = append(lims, string(k))
		}
	}
	for k, v := range item.DefaultRequest {
		if _, ok := c.Resources.Requests[k]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[k] = v.DeepCopy()
			reqs = append(reqs, string(k))
		}
	}
	sort.Strings(reqs)
	sort.Strings(lims)
	var out []string
	if len(reqs) > 0 {
		out = append(out, fmt.Sprintf("%s request for container %s", strings.Join(reqs, ", "), c.Name))
	}
	if len(lims) > 0 {
		out = append(out, fmt.Sprintf("%s limit for container %s", strings.Join(lims, ", "), c.Name))
	}
	return out
}

func (p limitRanger) Validate(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	create := a.Operation == Create && a.SubResource == ""
	resize := a.Operation == Update && a.SubResource == "resize"
	if !ok || !(create || resize) {
		return nil
	}
	var errs []string
	for _, lr := range p.ranges(a.Namespace) {
		for _, item := range lr.Spec.Limits {
			switch item.Type {
			case corev1.LimitTypeContainer:
				for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
					for i := range cs {
						errs = append(errs, checkRange("Container", item, cs[i].Resources.Requests, cs[i].Resources.Limits)...)
					}
				}
			case corev1.LimitTypePod:
				req, lim := corev1.ResourceList{}, corev1.ResourceList{}
				for _, c := range pod.Spec.Containers {
					addResources(req, c.Resources.Requests)
					addResources(lim, c.Resources.Limits)
				}
				errs = append(errs, checkRange("Pod", item, req, lim)...)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, a.Name, fmt.Errorf("[%s]", strings.Join(errs, ", ")))
}

func addResources(sum, l corev1.ResourceList) {
	for k, v := range l {
		cur := sum[k]
		cur.Add(v)
		sum[k] = cur
	}
}

// checkRange checks requests and limits against an item's bounds, with
// upstream's messages.
func checkRange(kind string, item corev1.LimitRangeItem, req, lim corev1.ResourceList) []string {
	var errs []string
	for _, k := range sortedNames(item.Min) {
		minQ := item.Min[k]
		r, hasReq := req[k]
		l, hasLim := lim[k]
		switch {
		case !hasReq && !hasLim:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", k, kind, minQ.String()))
		case hasReq && r.Cmp(minQ) < 0:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", k, kind, minQ.String(), r.String()))
		case !hasReq && hasLim && l.Cmp(minQ) < 0:
			errs = append(errs, fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", k, kind, minQ.String(), l.String()))
		}
	}
	for _, k := range sortedNames(item.Max) {
		maxQ := item.Max[k]
		l, hasLim := lim[k]
		switch {
		case !hasLim:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", k, kind, maxQ.String()))
		case l.Cmp(maxQ) > 0:
			errs = append(errs, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", k, kind, maxQ.String(), l.String()))
		}
	}
	for _, k := range sortedNames(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[k]
		r, hasReq := req[k]
		l, hasLim := lim[k]
		if !hasReq || !hasLim || r.IsZero() {
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request or limit is specified", k, kind, ratio.String()))
			continue
		}
		got := float64(l.MilliValue()) / float64(r.MilliValue())
		if got > float64(ratio.MilliValue())/1000 {
			errs = append(errs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", k, kind, ratio.String(), got))
		}
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
