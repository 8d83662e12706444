package agent

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// res builds requirements from "cpu=..,mem=.." style pairs: requests
// first, then limits; "" leaves one out.
func res(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	add := func(l *corev1.ResourceList, n corev1.ResourceName, v string) {
		if v == "" {
			return
		}
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[n] = resource.MustParse(v)
	}
	add(&r.Requests, corev1.ResourceCPU, cpuReq)
	add(&r.Requests, corev1.ResourceMemory, memReq)
	add(&r.Limits, corev1.ResourceCPU, cpuLim)
	add(&r.Limits, corev1.ResourceMemory, memLim)
	return r
}

func (b *podBuilder) resources(name string, r corev1.ResourceRequirements) *podBuilder {
	for i := range b.p.Spec.Containers {
		if b.p.Spec.Containers[i].Name == name {
			b.p.Spec.Containers[i].Resources = r
		}
	}
	return b
}

func (b *podBuilder) resizePolicy(name string, rn corev1.ResourceName, p corev1.ResourceResizeRestartPolicy) *podBuilder {
	for i := range b.p.Spec.Containers {
		if b.p.Spec.Containers[i].Name == name {
			b.p.Spec.Containers[i].ResizePolicy = append(b.p.Spec.Containers[i].ResizePolicy, corev1.ContainerResizePolicy{ResourceName: rn, RestartPolicy: p})
		}
	}
	return b
}

func TestDecideResize(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")}
	other := testPod("other").containers("c").resources("c", res("1500m", "1Gi", "", "")).obj()
	tests := []struct {
		name   string
		pod    *corev1.Pod
		others []*corev1.Pod
		want   resizeVerdict
	}{
		{"fits", testPod("p").containers("c").resources("c", res("500m", "1Gi", "", "")).obj(), []*corev1.Pod{other}, resizeVerdict{Accept: true}},
		{"the pod's own allocation does not count", testPod("p").containers("c").resources("c", res("1", "", "", "")).obj(),
			[]*corev1.Pod{testPod("p").containers("c").resources("c", res("1500m", "", "", "")).obj()}, resizeVerdict{Accept: true}},
		{"cpu does not fit beside the others: deferred", testPod("p").containers("c").resources("c", res("600m", "", "", "")).obj(), []*corev1.Pod{other},
			resizeVerdict{Reason: "Deferred", Message: "Node didn't have enough resource: cpu, requested: 600, used: 1500, capacity: 2000"}},
		{"more memory than the node has: deferred too, as upstream v1.37", testPod("p").containers("c").resources("c", res("", "5Gi", "", "")).obj(), nil,
			resizeVerdict{Reason: "Deferred", Message: "Node didn't have enough resource: memory, requested: 5368709120, used: 0, capacity: 4294967296"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, decideResize(tt.pod, tt.others, alloc)); diff != "" {
				t.Errorf("decideResize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithAllocation(t *testing.T) {
	pod := testPod("p").containers("a", "b").resources("a", res("100m", "", "", "")).resources("b", res("200m", "", "", "")).obj()
	same, changed := withAllocation(pod, allocationOf(pod))
	if changed || same != pod {
		t.Errorf("equal allocation: changed=%v, copy=%v", changed, same != pod)
	}
	alloc := allocationOf(pod)
	alloc["b"] = res("50m", "", "", "")
	got, changed := withAllocation(pod, alloc)
	if !changed || got == pod {
		t.Fatalf("differing allocation: changed=%v, copy=%v", changed, got != pod)
	}
	if q := got.Spec.Containers[1].Resources.Requests.Cpu().String(); q != "50m" {
		t.Errorf("b's cpu request = %s, want the allocation's 50m", q)
	}
	if q := pod.Spec.Containers[1].Resources.Requests.Cpu().String(); q != "200m" {
		t.Errorf("the spec changed to %s", q)
	}
}

func TestResizeNeeded(t *testing.T) {
	tests := []struct {
		name                string
		pod                 *corev1.Pod
		actuated            corev1.ResourceRequirements
		wantUpdate, wantRst bool
	}{
		{"equal", testPod("p").containers("c").resources("c", res("20m", "", "", "")).obj(), res("20m", "", "", ""), false, false},
		{"equivalent quantities are equal", testPod("p").containers("c").resources("c", res("0.02", "", "", "")).obj(), res("20m", "", "", ""), false, false},
		{"cpu change, no policy: update", testPod("p").containers("c").resources("c", res("25m", "", "", "")).obj(), res("20m", "", "", ""), true, false},
		{"limit added: update", testPod("p").containers("c").resources("c", res("20m", "", "35m", "")).obj(), res("20m", "", "", ""), true, false},
		{"cpu change, cpu RestartContainer: restart",
			testPod("p").containers("c").resources("c", res("25m", "", "", "")).resizePolicy("c", corev1.ResourceCPU, corev1.RestartContainer).obj(), res("20m", "", "", ""), false, true},
		{"cpu change, memory RestartContainer: update",
			testPod("p").containers("c").resources("c", res("25m", "", "", "")).resizePolicy("c", corev1.ResourceMemory, corev1.RestartContainer).obj(), res("20m", "", "", ""), true, false},
		{"memory request change, memory RestartContainer: restart",
			testPod("p").containers("c").resources("c", res("", "40Mi", "", "")).resizePolicy("c", corev1.ResourceMemory, corev1.RestartContainer).obj(), res("", "35Mi", "", ""), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			update, restart := resizeNeeded(&tt.pod.Spec.Containers[0], tt.actuated)
			if update != tt.wantUpdate || restart != tt.wantRst {
				t.Errorf("resizeNeeded = update %v restart %v, want %v %v", update, restart, tt.wantUpdate, tt.wantRst)
			}
		})
	}
}

func TestComputeActionsResize(t *testing.T) {
	pod := testPod("p").containers("a", "b").
		resources("a", res("25m", "", "", "")).resources("b", res("", "40Mi", "", "")).
		resizePolicy("b", corev1.ResourceMemory, corev1.RestartContainer).obj()
	a1, b0 := running("a", 1), running("b", 0)
	obs := Observed{Sandboxes: []Sandbox{readySandbox()}, Containers: []Container{a1, b0},
		Actuated: map[string]corev1.ResourceRequirements{"a": res("20m", "", "", ""), "b": res("", "35Mi", "", "")}}
	want := []Action{
		{Kind: ResizeContainer, ContainerID: a1.ID, Container: "a", ContainerKind: Regular},
		{Kind: ResizeRestart, SandboxID: "sb0", ContainerID: b0.ID, Container: "b", ContainerKind: Regular, Attempt: 1, Grace: gracePeriod(pod), Reason: "Resize"},
	}
	if diff := cmp.Diff(want, computeActions(pod, obs, t0).Actions); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	obs.NoResize = true
	if got := computeActions(pod, obs, t0).Actions; len(got) != 0 {
		t.Errorf("with resizes held back: actions %v", got)
	}
	obs.NoResize = false
	obs.Actuated = allocationOf(pod)
	if got := computeActions(pod, obs, t0).Actions; len(got) != 0 {
		t.Errorf("actuated as allocated: actions %v", got)
	}
}

func TestStatusResizeResources(t *testing.T) {
	pod := testPod("p").containers("a", "b").resources("a", res("25m", "", "35m", "")).resources("b", res("", "40Mi", "", "")).obj()
	pod.Generation = 2
	obs := Observed{Sandboxes: []Sandbox{readySandbox()}, Containers: []Container{running("a", 0), exited("b", 0, 1, t0)},
		Actuated: map[string]corev1.ResourceRequirements{"a": res("20m", "", "", ""), "b": res("", "35Mi", "", "")}}
	inProgress := corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue, ObservedGeneration: 2}
	st := computeStatus(pod, obs, statusInput{Now: t0, ResizeConditions: []corev1.PodCondition{inProgress}})
	type got struct {
		Allocated corev1.ResourceList
		Resources *corev1.ResourceRequirements
	}
	want := []got{
		// Running: what was applied; allocated: the allocation's requests.
		{Allocated: res("25m", "", "", "").Requests, Resources: ptr.To(res("20m", "", "", ""))},
		// Not running: the allocation.
		{Allocated: res("", "40Mi", "", "").Requests, Resources: ptr.To(res("", "40Mi", "", ""))},
	}
	var gotRes []got
	for _, cs := range st.ContainerStatuses {
		gotRes = append(gotRes, got{cs.AllocatedResources, cs.Resources})
	}
	if diff := cmp.Diff(want, gotRes); diff != "" {
		t.Errorf("container status resources (-want +got):\n%s", diff)
	}
	if c := findCondition(st.Conditions, corev1.PodResizeInProgress); c == nil || c.ObservedGeneration != 2 {
		t.Errorf("PodResizeInProgress = %v", c)
	}
	// A stale resize condition in the old status goes once the agent has
	// none.
	pod.Status = st
	st = computeStatus(pod, obs, statusInput{Now: t0})
	if c := findCondition(st.Conditions, corev1.PodResizeInProgress); c != nil {
		t.Errorf("PodResizeInProgress kept: %v", c)
	}
}

func TestResizeInProgress(t *testing.T) {
	pod := testPod("p").containers("a").resources("a", res("25m", "", "", "")).obj()
	tests := []struct {
		name string
		obs  Observed
		want bool
	}{
		{"running, actuated differs", Observed{Containers: []Container{running("a", 0)}, Actuated: map[string]corev1.ResourceRequirements{"a": res("20m", "", "", "")}}, true},
		{"running, actuated equal", Observed{Containers: []Container{running("a", 0)}, Actuated: map[string]corev1.ResourceRequirements{"a": res("0.025", "", "", "")}}, false},
		{"not running", Observed{Containers: []Container{exited("a", 0, 0, t0)}, Actuated: map[string]corev1.ResourceRequirements{"a": res("20m", "", "", "")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resizeInProgress(pod, tt.obs); got != tt.want {
				t.Errorf("resizeInProgress = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResizeConditions(t *testing.T) {
	var rc resizeConditions
	if !rc.setPending("OutOfcpu", "m", 2, t0) || rc.pending.Reason != corev1.PodReasonDeferred {
		t.Fatalf("first pending: %+v", rc.pending)
	}
	if rc.setPending("OutOfcpu", "m", 2, t0.Add(1)) {
		t.Errorf("same pending again reported a change")
	}
	if !rc.setPending(corev1.PodReasonInfeasible, "m", 2, t0.Add(2)) || !rc.pending.LastTransitionTime.Time.Equal(t0.Add(2)) {
		t.Errorf("pending to Infeasible: %+v", rc.pending)
	}
	rc.setInProgress("", "", 3, t0)
	rc.setInProgress(corev1.PodReasonError, "boom", 4, t0)
	if c := rc.inProgress; c.Reason != corev1.PodReasonError || c.ObservedGeneration != 3 {
		t.Errorf("in progress keeps its generation, takes the error: %+v", c)
	}
	rc.setInProgress("", "", 5, t0)
	if c := rc.inProgress; c.Reason != corev1.PodReasonError || c.Message != "boom" {
		t.Errorf("in progress keeps its error: %+v", c)
	}
	if gen, ok := rc.clearInProgress(); !ok || gen != 3 {
		t.Errorf("clearInProgress = %d %v", gen, ok)
	}
	if got := len(rc.list()); got != 1 {
		t.Errorf("conditions left: %d, want the pending one", got)
	}
}

func TestCheckMemoryDecrease(t *testing.T) {
	tests := []struct {
		name string
		pod  memoryChange
		cs   []memoryChange
		want string
	}{
		{"increase", memoryChange{want: 200, have: 100, usage: ptr.To(int64(150))}, nil, ""},
		{"decrease above usage", memoryChange{want: 100, have: 200, usage: ptr.To(int64(50))}, nil, ""},
		{"unknown usage", memoryChange{want: 10, have: 200}, nil, ""},
		{"pod below usage", memoryChange{want: 100, have: 200, usage: ptr.To(int64(150))}, nil,
			"cannot decrease memory limits: attempting to set pod memory limit (100) below current usage (150)"},
		{"limit added below a container's usage", memoryChange{}, []memoryChange{{name: "c1", want: 10, usage: ptr.To(int64(20))}},
			`cannot decrease memory limits: attempting to set container "c1" memory limit (10) below current usage (20)`},
		{"both", memoryChange{want: 100, have: 200, usage: ptr.To(int64(150))}, []memoryChange{{name: "c1", want: 10, have: 20, usage: ptr.To(int64(20))}},
			`cannot decrease memory limits: [attempting to set pod memory limit (100) below current usage (150), attempting to set container "c1" memory limit (10) below current usage (20)]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := checkMemoryDecrease(tt.pod, tt.cs); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("checkMemoryDecrease = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAllocationsCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), allocationCheckpoint)
	al, err := loadAllocations(path)
	if err != nil {
		t.Fatal(err)
	}
	uid := types.UID("u1")
	alloc := map[string]corev1.ResourceRequirements{"c": res("25m", "40Mi", "", "")}
	if err := al.setAllocated(uid, alloc); err != nil {
		t.Fatal(err)
	}
	if err := al.initActuated(uid, map[string]corev1.ResourceRequirements{"c": res("20m", "", "", "")}); err != nil {
		t.Fatal(err)
	}
	again, err := loadAllocations(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(alloc, again.allocated(uid)); diff != "" {
		t.Errorf("allocation after reload (-want +got):\n%s", diff)
	}
	if act := again.actuated(uid)["c"]; act.Requests.Cpu().String() != "20m" {
		q := act.Requests.Cpu().String()
		t.Errorf("actuated after reload: %s", q)
	}
	if err := again.remove(uid); err != nil {
		t.Fatal(err)
	}
	third, err := loadAllocations(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := third.allocated(uid); got != nil {
		t.Errorf("removed pod still allocated: %v", got)
	}
}
