package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// defaultTolerationSeconds is how long pods stay on a node that is not
// ready or unreachable before they are evicted, unless they say otherwise.
const defaultTolerationSeconds = 300

// defaultTolerationSecondsPlugin is upstream's DefaultTolerationSeconds: a
// pod tolerates not-ready and unreachable nodes for five minutes, unless it
// tolerates them already. Updates of the pod itself (not its
// subresources) get them back too, as upstream, so that an update that
// replaces the tolerations does not remove these.
type defaultTolerationSecondsPlugin struct{}

var _ Mutator = defaultTolerationSecondsPlugin{}

func (defaultTolerationSecondsPlugin) Name() string { return "DefaultTolerationSeconds" }

func (defaultTolerationSecondsPlugin) Handles(op Operation) bool { return op == Create || op == Update }

func (defaultTolerationSecondsPlugin) Admit(_ context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.SubResource != "" {
		return nil
	}
	secs := int64(defaultTolerationSeconds)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		has := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				has = true
				break
			}
		}
		if !has {
			s := secs
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
		}
	}
	return nil
}
