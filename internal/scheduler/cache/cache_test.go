package cache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func node(name, zone string) *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelTopologyZone: zone}},
		Status: v1.NodeStatus{Allocatable: v1.ResourceList{
			v1.ResourceCPU: resource.MustParse("4"), v1.ResourcePods: resource.MustParse("10"),
		}},
	}
}

func pod(name, nodeName, cpu string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name)},
		Spec: v1.PodSpec{NodeName: nodeName, Containers: []v1.Container{{
			Name: "c", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
}

func requestedCPU(s *Snapshot, n string) int64 { return s.Get(n).Requested.MilliCPU }

func TestAssumeForgetConfirm(t *testing.T) {
	c := New()
	c.AddNode(node("n1", "a"))
	s := NewSnapshot()
	p := pod("p", "n1", "1")
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(s)
	if got := requestedCPU(s, "n1"); got != 1000 {
		t.Errorf("assumed pod counts %dm, want 1000m", got)
	}
	if !c.IsAssumed("p") {
		t.Error("pod not reported assumed")
	}
	c.ForgetPod(p)
	c.UpdateSnapshot(s)
	if got := requestedCPU(s, "n1"); got != 0 {
		t.Errorf("forgotten pod still counts %dm", got)
	}
	// Assume, then the informer confirms: counted once.
	if err := c.AssumePod(p); err != nil {
		t.Fatal(err)
	}
	c.AddPod(p)
	c.UpdateSnapshot(s)
	if got := requestedCPU(s, "n1"); got != 1000 || c.IsAssumed("p") {
		t.Errorf("confirmed pod counts %dm (assumed %v), want 1000m and not assumed", got, c.IsAssumed("p"))
	}
	c.RemovePod(p)
	c.UpdateSnapshot(s)
	if got := requestedCPU(s, "n1"); got != 0 {
		t.Errorf("removed pod still counts %dm", got)
	}
}

func TestSnapshotIncrementalAndZoneOrder(t *testing.T) {
	c := New()
	for _, n := range []*v1.Node{node("a1", "a"), node("a2", "a"), node("b1", "b"), node("c1", "c")} {
		c.AddNode(n)
	}
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	var names []string
	for _, ni := range s.List() {
		names = append(names, ni.Node().Name)
	}
	if diff := cmp.Diff([]string{"a1", "b1", "c1", "a2"}, names); diff != "" {
		t.Errorf("node order (-want +got):\n%s", diff)
	}
	before := s.Get("b1")
	c.AddPod(pod("p", "a1", "500m"))
	c.UpdateSnapshot(s)
	if s.Get("b1") != before {
		t.Error("unchanged node was replaced in the snapshot")
	}
	if got := requestedCPU(s, "a1"); got != 500 {
		t.Errorf("a1 requested %dm, want 500m", got)
	}
	c.RemoveNode("c1")
	c.UpdateSnapshot(s)
	if len(s.List()) != 3 || s.Get("c1") != nil {
		t.Errorf("removed node still listed: %d nodes", len(s.List()))
	}
}

func TestPodBeforeNode(t *testing.T) {
	c := New()
	c.AddPod(pod("early", "late-node", "1"))
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	if len(s.List()) != 0 {
		t.Fatal("a node known only from its pods is listed")
	}
	c.AddNode(node("late-node", "a"))
	c.UpdateSnapshot(s)
	if got := requestedCPU(s, "late-node"); got != 1000 {
		t.Errorf("late node requested %dm, want its early pod's 1000m", got)
	}
}
