package cache

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

func labelled(p *v1.Pod, labels map[string]string) *v1.Pod {
	p.Labels = labels
	return p
}

func withAnti(p *v1.Pod, sel map[string]string) *v1.Pod {
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: sel}, TopologyKey: v1.LabelHostname,
		}},
	}}
	return p
}

func names(m map[*framework.NodeInfo]int32) map[string]int32 {
	out := map[string]int32{}
	for ni, c := range m {
		out[ni.Name()] = c
	}
	return out
}

func nodeNames(list []*framework.NodeInfo) []string {
	var out []string
	for _, ni := range list {
		out = append(out, ni.Name())
	}
	sort.Strings(out)
	return out
}

// The snapshot's indexes follow pods being assumed, confirmed, removed and
// nodes joining (which moves every NodeInfo).
func TestSnapshotIndexes(t *testing.T) {
	c := New()
	c.AddNode(node("n1", "a"))
	c.AddNode(node("n2", "b"))
	s := NewSnapshot()
	a1 := labelled(pod("a1", "n1", "1"), map[string]string{"app": "x"})
	a2 := labelled(pod("a2", "n1", "1"), map[string]string{"app": "x"})
	b1 := withAnti(labelled(pod("b1", "n2", "1"), map[string]string{"app": "x"}), map[string]string{"group": "g"})
	if err := c.AssumePod(a1); err != nil {
		t.Fatal(err)
	}
	c.AddPod(a2)
	c.AddPod(b1)
	c.UpdateSnapshot(s)
	if diff := cmp.Diff(map[string]int32{"n1": 2, "n2": 1}, names(s.NodesWithPodLabel("ns", "app", "x"))); diff != "" {
		t.Errorf("app=x (-want +got):\n%s", diff)
	}
	if got := nodeNames(s.NodesWithAntiAffinityFor(map[string]string{"group": "g"})); !cmp.Equal(got, []string{"n2"}) {
		t.Errorf("anti-affinity for group=g: %v", got)
	}
	if got := s.NodesWithAntiAffinityFor(map[string]string{"group": "h"}); len(got) != 0 {
		t.Errorf("anti-affinity for group=h: %v", nodeNames(got))
	}

	// A node joins: the NodeInfos move, the indexes must point at the new ones.
	c.AddNode(node("n3", "a"))
	c.ForgetPod(a1)
	c.RemovePod(b1)
	c.UpdateSnapshot(s)
	got := s.NodesWithPodLabel("ns", "app", "x")
	if diff := cmp.Diff(map[string]int32{"n1": 1}, names(got)); diff != "" {
		t.Errorf("app=x after removals (-want +got):\n%s", diff)
	}
	for ni := range got {
		if ni != s.Get(ni.Name()) {
			t.Errorf("index holds a stale NodeInfo for %s", ni.Name())
		}
	}
	if got := s.NodesWithAntiAffinityFor(map[string]string{"group": "g"}); len(got) != 0 {
		t.Errorf("anti-affinity after removal: %v", nodeNames(got))
	}
	doms := s.Domains([]string{v1.LabelTopologyZone}, v1.LabelTopologyZone)
	sort.Strings(doms)
	if !cmp.Equal(doms, []string{"a", "b"}) {
		t.Errorf("zones: %v", doms)
	}

	// Relabelling a node invalidates the memoised domains.
	n2 := node("n2", "c")
	c.AddNode(n2)
	c.UpdateSnapshot(s)
	doms = s.Domains([]string{v1.LabelTopologyZone}, v1.LabelTopologyZone)
	sort.Strings(doms)
	if !cmp.Equal(doms, []string{"a", "c"}) {
		t.Errorf("zones after relabel: %v", doms)
	}
}
