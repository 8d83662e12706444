package job

import (
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Backoff bounds, as upstream.
const (
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

// backoff is the wait before the next pod after failures failed pods.
func backoff(failures int32) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := backoffBase
	for i := int32(1); i < failures; i++ {
		d *= 2
		if d >= backoffMax {
			return backoffMax
		}
	}
	return d
}

// matchPodFailurePolicy returns the action of the first rule matching a
// failed pod and a message for FailJob, or ok=false when none matches.
// Only a pod that ended is matched: one in the Failed phase, as upstream,
// or one deleted that stopped (see stoppedAfterDeletion).
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) (action batchv1.PodFailurePolicyAction, msg string, ok bool) {
	if policy == nil || p.Status.Phase != corev1.PodFailed && !stoppedAfterDeletion(p) {
		return "", "", false
	}
	for i, rule := range policy.Rules {
		if r := rule.OnExitCodes; r != nil {
			for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
				if r.ContainerName != nil && *r.ContainerName != st.Name {
					continue
				}
				term := st.State.Terminated
				if term == nil || term.ExitCode == 0 {
					continue
				}
				in := slices.Contains(r.Values, term.ExitCode)
				if (r.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
					return rule.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
						st.Name, p.Namespace, p.Name, term.ExitCode, rule.Action, i), true
				}
			}
		}
		for _, pat := range rule.OnPodConditions {
			for _, c := range p.Status.Conditions {
				if c.Type == pat.Type && c.Status == pat.Status {
					return rule.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
						p.Namespace, p.Name, c.Type, rule.Action, i), true
				}
			}
		}
	}
	return "", "", false
}

// matchSuccessPolicy returns a message naming the first rule of policy
// that the completed indexes meet, or ok=false when none does. A rule
// with succeededIndexes wants succeededCount of those (all of them
// without a count); a rule with only succeededCount wants that many
// indexes of any kind.
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completed map[int]bool) (msg string, ok bool) {
	if policy == nil {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			want := parseIndexes(*rule.SucceededIndexes)
			n := 0
			for ix := range want {
				if completed[ix] {
					n++
				}
			}
			if rule.SucceededCount != nil {
				met = n >= int(*rule.SucceededCount)
			} else {
				met = len(want) > 0 && n == len(want)
			}
		case rule.SucceededCount != nil:
			met = len(completed) >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}
