package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The eviction subresource (POST pods/{name}/eviction with a policy/v1
// Eviction) deletes a pod unless that would break its PodDisruptionBudget,
// as upstream: a pod that is not running yet, is done, or is already
// being deleted goes at once; otherwise its one matching budget must allow
// a disruption, which the eviction takes (disruptionsAllowed goes down, the
// pod is recorded in disruptedPods) before the pod gets the
// DisruptionTarget condition and is deleted. A budget that does not allow
// it answers 429, and so does one its controller has not observed yet.

// evictionRetries bounds the attempts at taking a disruption from a
// budget that others update at the same time.
const evictionRetries = 5

var pdbGR = schema.GroupResource{Group: policyv1.GroupName, Resource: "poddisruptionbudgets"}

// handleEviction serves POST pods/{name}/eviction.
func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if info.verb != "create" || res.Resource.Resource != "pods" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
		return
	}
	obj, opts, err := s.decodeRequest(w, r, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev, ok := obj.(*policyv1.Eviction)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("expected an Eviction, got %T", obj)))
		return
	}
	if ev.Name != "" && ev.Name != info.name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %s != %s", info.name, ev.Name)))
		return
	}
	admitted, err := s.admitSubresourceCreate(r.Context(), res, "eviction", policyv1.SchemeGroupVersion.WithKind("Eviction"),
		info.namespace, info.name, ev, opts.dryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev = admitted.(*policyv1.Eviction)
	delOpts := ev.DeleteOptions
	if delOpts == nil {
		delOpts = &metav1.DeleteOptions{}
	}
	if opts.dryRun {
		delOpts.DryRun = []string{metav1.DryRunAll}
	}
	if err := s.evict(r.Context(), res, info.namespace, info.name, delOpts); err != nil {
		s.writeError(w, r, err)
		return
	}
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}
	t, _ := negotiate(r)
	s.writeObject(w, r, target{media: t.media}, http.StatusCreated, st)
}

// evict checks the pod's budget, takes a disruption from it and deletes
// the pod.
func (s *Server) evict(ctx context.Context, pods *resource, namespace, name string, opts *metav1.DeleteOptions) error {
	current, err := s.readObject(ctx, pods, namespace, name)
	if err != nil {
		return err
	}
	pod, ok := current.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("evict %s: stored object is a %T", name, current))
	}
	dryRun := len(opts.DryRun) > 0
	if !ignoresBudgets(pod) {
		pdb, err := s.podBudget(pod)
		if err != nil {
			return err
		}
		if pdb != nil && !(pdb.Spec.UnhealthyPodEvictionPolicy != nil &&
			*pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow && !podIsReady(pod)) {
			if err := s.takeDisruption(ctx, pdb, pod, dryRun); err != nil {
				return err
			}
		}
		if !dryRun {
			s.markDisruptionTarget(ctx, pods, pod)
		}
	}
	if opts.Preconditions == nil {
		opts.Preconditions = &metav1.Preconditions{UID: &pod.UID}
	}
	_, _, err = s.delete(ctx, pods, namespace, name, opts)
	return err
}

// ignoresBudgets reports whether a pod goes without asking its budget:
// it is not running yet, is done, or is already being deleted.
func ignoresBudgets(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

func podIsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podBudget is the PodDisruptionBudget whose selector matches the pod, or
// nil; more than one is an error, as upstream.
func (s *Server) podBudget(pod *corev1.Pod) (*policyv1.PodDisruptionBudget, error) {
	var found []*policyv1.PodDisruptionBudget
	for _, o := range s.Objects(policyv1.GroupName, "v1", "poddisruptionbudgets", pod.Namespace) {
		pdb, ok := o.(*policyv1.PodDisruptionBudget)
		if !ok || pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		found = append(found, pdb)
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, apierrors.NewInternalError(fmt.Errorf("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
}

// takeDisruption takes one allowed disruption from pdb for pod, retrying
// on conflicts with the budget's other writers.
func (s *Server) takeDisruption(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pod *corev1.Pod, dryRun bool) error {
	res, ok := s.lookup(policyv1.GroupName, "v1", "poddisruptionbudgets")
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("poddisruptionbudgets are not served"))
	}
	check := func(p *policyv1.PodDisruptionBudget) error {
		if p.Status.ObservedGeneration < p.Generation {
			return tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
				"DisruptionBudget", fmt.Sprintf("The disruption budget %s is still being processed by the server.", p.Name))
		}
		if p.Status.DisruptionsAllowed < 0 {
			return apierrors.NewForbidden(pdbGR, p.Name, fmt.Errorf("pdb disruptions allowed is negative"))
		}
		if len(p.Status.DisruptedPods) > 2000 {
			return apierrors.NewForbidden(pdbGR, p.Name, fmt.Errorf("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
		}
		if p.Status.DisruptionsAllowed == 0 {
			return tooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
				"DisruptionBudget", fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", p.Name, p.Status.DesiredHealthy, p.Status.CurrentHealthy))
		}
		return nil
	}
	if dryRun {
		return check(pdb)
	}
	var err error
	for range evictionRetries {
		_, err = s.update(ctx, res, requestInfo{namespace: pdb.Namespace, name: pdb.Name}, "", func(cur runtime.Object) (runtime.Object, error) {
			p, ok := cur.(*policyv1.PodDisruptionBudget)
			if !ok {
				return nil, apierrors.NewInternalError(fmt.Errorf("budget %s is a %T", pdb.Name, cur))
			}
			if err := check(p); err != nil {
				return nil, err
			}
			p.Status.DisruptionsAllowed--
			if p.Status.DisruptedPods == nil {
				p.Status.DisruptedPods = map[string]metav1.Time{}
			}
			p.Status.DisruptedPods[pod.Name] = metav1.NewTime(time.Now())
			return p, nil
		}, writeOptions{fieldManager: "skiff-eviction"}, &subresourceOps{name: "status"})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// markDisruptionTarget records on the pod, before it is deleted, that an
// eviction is why, as upstream's DisruptionTarget condition does.
func (s *Server) markDisruptionTarget(ctx context.Context, pods *resource, pod *corev1.Pod) {
	_, err := s.update(ctx, pods, requestInfo{namespace: pod.Namespace, name: pod.Name}, "", func(cur runtime.Object) (runtime.Object, error) {
		p, ok := cur.(*corev1.Pod)
		if !ok {
			return nil, apierrors.NewInternalError(fmt.Errorf("pod %s is a %T", pod.Name, cur))
		}
		setPodCondition(&p.Status, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: metav1.Now()})
		return p, nil
	}, writeOptions{fieldManager: "skiff-eviction"}, &subresourceOps{name: "status"})
	if err != nil {
		s.log.Debug("eviction: disruption target condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// tooManyRequests is the 429 an eviction gets from its budget.
func tooManyRequests(msg, causeType, causeMsg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests,
		Message: msg,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseType(causeType), Message: causeMsg}}},
	}}
}
