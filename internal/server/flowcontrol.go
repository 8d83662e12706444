package server

import (
	"context"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver"
	"skiff/internal/apiserver/apf"
)

// serverConcurrency is the seats API Priority and Fairness shares, as
// upstream: the sum of the two in-flight limits.
func serverConcurrency(cfg Config) int {
	read, mutating := cfg.MaxRequestsInflight, cfg.MaxMutatingRequestsInflight
	if read == 0 && mutating == 0 {
		return apiserver.DefaultServerConcurrency
	}
	return max(1, read+mutating)
}

// maxInflight is the in-flight limits that replace priority and fairness
// when it is off (nil when it is on).
func maxInflight(cfg Config) *[2]int {
	if !cfg.DisablePriorityAndFairness {
		return nil
	}
	read, mutating := cfg.MaxRequestsInflight, cfg.MaxMutatingRequestsInflight
	if read == 0 && mutating == 0 {
		read, mutating = 400, 200
	}
	return &[2]int{read, mutating}
}

// ensureFlowControlDefaults creates the mandatory and suggested
// FlowSchemas and PriorityLevelConfigurations, and puts back the spec of
// those the server may update (apf.AutoUpdateSpec), as upstream's API
// server does at every start. A user's deletion of a suggested object is
// undone too; one that set the autoupdate annotation to "false" keeps
// its changes.
func ensureFlowControlDefaults(ctx context.Context, api *apiserver.Server) error {
	gv := flowcontrolv1.SchemeGroupVersion
	d := apf.DefaultObjects()
	for want, mandatory := range mandatoryOrNot(d.MandatoryLevels, d.SuggestedLevels) {
		err := api.Reconcile(ctx, gv.WithResource("prioritylevelconfigurations"), "", want, func(cur runtime.Object) (runtime.Object, bool) {
			existing, ok := cur.(*flowcontrolv1.PriorityLevelConfiguration)
			if !ok || !apf.AutoUpdateSpec(existing, mandatory) {
				return nil, false
			}
			spec := *want.Spec.DeepCopy()
			// The exempt level's shares and lending are the admin's to
			// set, as upstream allows.
			if mandatory && existing.Spec.Exempt != nil && spec.Exempt != nil {
				spec.Exempt = existing.Spec.Exempt.DeepCopy()
			}
			if equality.Semantic.DeepEqual(existing.Spec, spec) && existing.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] == "true" {
				return nil, false
			}
			next := existing.DeepCopy()
			next.Spec = spec
			markAutoUpdate(&next.ObjectMeta)
			return next, false
		})
		if err != nil {
			return err
		}
	}
	for want, mandatory := range mandatoryOrNot(d.MandatorySchemas, d.SuggestedSchemas) {
		err := api.Reconcile(ctx, gv.WithResource("flowschemas"), "", want, func(cur runtime.Object) (runtime.Object, bool) {
			existing, ok := cur.(*flowcontrolv1.FlowSchema)
			if !ok || !apf.AutoUpdateSpec(existing, mandatory) {
				return nil, false
			}
			if equality.Semantic.DeepEqual(existing.Spec, want.Spec) && existing.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] == "true" {
				return nil, false
			}
			next := existing.DeepCopy()
			next.Spec = *want.Spec.DeepCopy()
			markAutoUpdate(&next.ObjectMeta)
			return next, false
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// mandatoryOrNot maps each default object to whether it is mandatory.
func mandatoryOrNot[T comparable](mandatory, suggested []T) map[T]bool {
	out := make(map[T]bool, len(mandatory)+len(suggested))
	for _, o := range mandatory {
		out[o] = true
	}
	for _, o := range suggested {
		out[o] = false
	}
	return out
}

// markAutoUpdate sets the annotation that lets the server keep a default
// object's spec.
func markAutoUpdate(m *metav1.ObjectMeta) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = "true"
}
