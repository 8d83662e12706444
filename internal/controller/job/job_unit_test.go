package job

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int32
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {30, 6 * time.Minute}}
	for _, tt := range tests {
		if got := backoff(tt.failures); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	tests := []struct{ in, want string }{{"", ""}, {"0", "0"}, {"0,1,2", "0-2"}, {"3-5,1,7", "1,3-5,7"}, {"0-1", "0,1"}, {"1,2,4,5,6", "1,2,4-6"}}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, formatIndexes(parseIndexes(tt.in))); diff != "" {
			t.Errorf("round trip %q (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestLeftovers(t *testing.T) {
	owned := func(kind, name string, uid types.UID) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
		}
	}
	labelled := func(p *corev1.Pod) { p.Labels = map[string]string{batchv1.JobNameLabel: "j"} }
	pods := []*corev1.Pod{
		testPod("live", corev1.PodRunning, owned("Job", "j", "new")),
		testPod("old", corev1.PodRunning, owned("Job", "j", "old")),
		testPod("other-job", corev1.PodRunning, owned("Job", "k", "old")),
		testPod("replicaset", corev1.PodRunning, owned("ReplicaSet", "j", "old")),
		testPod("orphan", corev1.PodRunning, labelled),
		testPod("released", corev1.PodRunning, owned("Job", "j", "old"), noFinalizer),
	}
	tests := []struct {
		name string
		uid  types.UID
		want []string
	}{
		{"the job was recreated", "new", []string{"old"}},
		{"no job has the name", "", []string{"live", "old", "orphan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(leftovers(pods, "j", tt.uid))); diff != "" {
				t.Errorf("leftovers (-want +got):\n%s", diff)
			}
		})
	}
}
