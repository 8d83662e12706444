package deployment

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func dep(replicas int32, surge, unavail string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavail)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
		},
	}
}

func rs(name string, spec, available int32, age int) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(1000+age), 0))},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &spec},
		Status:     appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestFenceposts(t *testing.T) {
	tests := []struct {
		name               string
		d                  *appsv1.Deployment
		surge, unavailable int32
	}{
		{"numbers", dep(10, "2", "3"), 2, 3},
		{"percent rounds surge up and unavailable down", dep(10, "25%", "25%"), 3, 2},
		{"both zero allows one unavailable", dep(3, "0", "0"), 0, 1},
		{"unavailable capped at replicas", dep(2, "0", "5"), 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []int32{maxSurge(tt.d), maxUnavailable(tt.d)}
			if diff := cmp.Diff([]int32{tt.surge, tt.unavailable}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRSReplicas(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  *appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want int32
	}{
		{"surge one above replicas", dep(3, "1", "0"), rs("old", 3, 3, 0), rs("new", 0, 0, 1), 1},
		{"at the surge limit waits", dep(3, "1", "0"), rs("old", 3, 3, 0), rs("new", 1, 0, 1), 1},
		{"old scaled down makes room", dep(3, "1", "0"), rs("old", 2, 2, 0), rs("new", 1, 1, 1), 2},
		{"never above replicas", dep(3, "5", "0"), rs("old", 0, 0, 0), rs("new", 0, 0, 1), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newRSReplicas(tt.d, []*appsv1.ReplicaSet{tt.old, tt.new}, tt.new); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPlanOldScaleDown(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		old  []*appsv1.ReplicaSet
		new  *appsv1.ReplicaSet
		want scaleDownPlan
	}{
		{"new not available yet: keep old", dep(3, "1", "0"), []*appsv1.ReplicaSet{rs("old", 3, 3, 0)}, rs("new", 1, 0, 1), scaleDownPlan{}},
		{"one new available: one old goes", dep(3, "1", "0"), []*appsv1.ReplicaSet{rs("old", 3, 3, 0)}, rs("new", 1, 1, 1), scaleDownPlan{"old": 2}},
		{"unhealthy old pods go first, within maxScaledDown", dep(3, "1", "0"), []*appsv1.ReplicaSet{rs("old", 3, 1, 0)}, rs("new", 1, 1, 1), scaleDownPlan{"old": 2}},
		{"maxUnavailable allows dropping", dep(4, "0", "2"), []*appsv1.ReplicaSet{rs("old", 4, 4, 0)}, rs("new", 0, 0, 1), scaleDownPlan{"old": 2}},
		{"a scaled-down old ReplicaSet's stale status counts at most its size", dep(3, "1", "0"), []*appsv1.ReplicaSet{rs("old", 2, 3, 0)}, rs("new", 2, 2, 1), scaleDownPlan{"old": 1}},
		{"oldest first", dep(2, "0", "1"), []*appsv1.ReplicaSet{rs("b", 1, 1, 5), rs("a", 1, 1, 0)}, rs("new", 0, 0, 9), scaleDownPlan{"a": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := append(append([]*appsv1.ReplicaSet(nil), tt.old...), tt.new)
			got := planOldScaleDown(tt.d, all, tt.old, tt.new)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProportionalSizes(t *testing.T) {
	old, newer := rs("old", 6, 6, 0), rs("new", 4, 0, 1)
	for _, r := range []*appsv1.ReplicaSet{old, newer} {
		setReplicasAnnotations(r, 10, 11)
	}
	tests := []struct {
		name     string
		replicas int32
		want     map[string]int32
	}{
		{"scale up keeps the ratio, leftover to the largest", 20, map[string]int32{"old": 13, "new": 8}},
		{"scale down keeps the ratio", 5, map[string]int32{"old": 3, "new": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dep(tt.replicas, "1", "0")
			got := proportionalSizes(d, []*appsv1.ReplicaSet{old, newer})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var sum int32
			for _, v := range got {
				sum += v
			}
			if sum != tt.replicas+maxSurge(d) {
				t.Errorf("total %d, want replicas+surge %d", sum, tt.replicas+maxSurge(d))
			}
		})
	}
}

func TestRolloutStatusConditions(t *testing.T) {
	now := time.Unix(5000, 0)
	deadline := int32(60)
	d := dep(2, "1", "0")
	d.Spec.ProgressDeadlineSeconds = &deadline
	newRS := rs("new", 2, 2, 1)
	st := rolloutStatus(d, []*appsv1.ReplicaSet{newRS}, newRS, now)
	got := map[appsv1.DeploymentConditionType]string{}
	for _, c := range st.Conditions {
		got[c.Type] = string(c.Status) + "/" + c.Reason
	}
	want := map[appsv1.DeploymentConditionType]string{
		appsv1.DeploymentAvailable:   "True/MinimumReplicasAvailable",
		appsv1.DeploymentProgressing: "True/NewReplicaSetAvailable",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("complete rollout (-want +got):\n%s", diff)
	}

	// A rollout stuck past its deadline times out.
	stuck := rs("new", 2, 0, 1)
	d.Status.Conditions = []appsv1.DeploymentCondition{condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, "", now.Add(-2*time.Minute))}
	d.Status.UpdatedReplicas, d.Status.Replicas = 2, 2
	st = rolloutStatus(d, []*appsv1.ReplicaSet{stuck}, stuck, now)
	if c := getCondition(&st, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonTimedOut || c.Status != corev1.ConditionFalse {
		t.Errorf("stuck rollout Progressing = %+v, want False/%s", c, reasonTimedOut)
	}
}

func TestHistoryToPrune(t *testing.T) {
	limit := int32(1)
	d := dep(1, "1", "0")
	d.Spec.RevisionHistoryLimit = &limit
	mk := func(name, rev string, replicas int32) *appsv1.ReplicaSet {
		r := rs(name, replicas, replicas, 0)
		r.Annotations = map[string]string{revisionAnnotation: rev}
		return r
	}
	got := historyToPrune(d, []*appsv1.ReplicaSet{mk("r3", "3", 0), mk("r1", "1", 0), mk("r2", "2", 0), mk("busy", "0", 1)})
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff([]string{"r1", "r2"}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
