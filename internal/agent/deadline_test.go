package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestActiveDeadline(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	deadline := int64(5)
	pod.Spec.ActiveDeadlineSeconds = &deadline
	pod.Status.StartTime = &metav1.Time{Time: t0}
	obs := Observed{Sandboxes: []Sandbox{readySandbox()}, Containers: []Container{running("c", 0)}}

	// Before the deadline: nothing to do but wake up when it passes.
	plan := computeActions(pod, obs, t0.Add(2*time.Second))
	if diff := cmp.Diff(Plan{RequeueAfter: 3 * time.Second}, plan); diff != "" {
		t.Errorf("before the deadline (-want +got):\n%s", diff)
	}
	if st := computeStatus(pod, obs, statusInput{Now: t0.Add(2 * time.Second)}); st.Phase != corev1.PodRunning {
		t.Errorf("phase before the deadline %s, want Running", st.Phase)
	}

	// Past it: the containers stop and the pod fails.
	plan = computeActions(pod, obs, t0.Add(6*time.Second))
	want := Plan{Actions: []Action{{Kind: KillContainer, ContainerID: running("c", 0).ID, Container: "c", Grace: 30 * time.Second, Reason: ReasonDeadlineExceeded}}}
	if diff := cmp.Diff(want, plan); diff != "" {
		t.Errorf("past the deadline (-want +got):\n%s", diff)
	}
	st := computeStatus(pod, obs, statusInput{Now: t0.Add(6 * time.Second)})
	if st.Phase != corev1.PodFailed || st.Reason != ReasonDeadlineExceeded || st.Message != MessageDeadlineExceeded {
		t.Errorf("status past the deadline: %s %s %q", st.Phase, st.Reason, st.Message)
	}
}
