package reconcile

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestPodsSelectedBy(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, LabelIndex: labelIndexKeys})
	add := func(ns, name string, lbls map[string]string) {
		if err := idx.Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}); err != nil {
			t.Fatal(err)
		}
	}
	add("a", "web-1", map[string]string{"app": "web", "tier": "front"})
	add("a", "web-2", map[string]string{"app": "web", "tier": "back"})
	add("a", "db", map[string]string{"app": "db", "tier": "back"})
	add("a", "bare", nil)
	add("b", "web-3", map[string]string{"app": "web", "tier": "front"})
	for _, tt := range []struct {
		ns   string
		sel  map[string]string
		want []string
	}{
		{"a", map[string]string{"app": "web"}, []string{"web-1", "web-2"}},
		{"a", map[string]string{"app": "web", "tier": "back"}, []string{"web-2"}},
		{"a", map[string]string{"tier": "back"}, []string{"db", "web-2"}},
		{"a", map[string]string{"app": "none"}, nil},
		{"a", map[string]string{"app": "web", "tier": "none"}, nil},
		{"a", map[string]string{}, []string{"bare", "db", "web-1", "web-2"}},
		{"b", map[string]string{"app": "web"}, []string{"web-3"}},
	} {
		got := sortedNames(t)(PodsSelectedBy(idx, tt.ns, tt.sel))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %v: %v, want %v", tt.ns, tt.sel, got, tt.want)
		}
	}
}

func TestClaimCandidates(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc,
		LabelIndex: labelIndexKeys, ControllerIndex: controllerIndexKeys})
	yes := true
	add := func(name, owner string, lbls map[string]string) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name, Labels: lbls}}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{UID: types.UID(owner), Controller: &yes}}
		}
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	add("kept", "rs", map[string]string{"app": "web"})
	add("relabelled", "rs", map[string]string{"app": "other"})
	add("orphan", "", map[string]string{"app": "web"})
	add("others", "rs2", map[string]string{"app": "web"})
	add("unrelated", "", map[string]string{"app": "db"})
	names := func(sel *metav1.LabelSelector) []string {
		return sortedNames(t)(ClaimCandidates(idx, "a", "rs", sel))
	}
	// Claim decides on these: keep, release, adopt, and ignore (another
	// controller's, which it must see to ignore as the scan did).
	if got, want := names(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}), []string{"kept", "orphan", "others", "relabelled"}; !slices.Equal(got, want) {
		t.Errorf("match labels: %v, want %v", got, want)
	}
	// Without match labels every pod is a candidate.
	expr := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}}
	if got := names(expr); len(got) != 5 {
		t.Errorf("expressions only: %v, want every pod", got)
	}
}

// sortedNames takes a lookup's result: the pods' names, sorted, or the
// test's end on an error.
func sortedNames(t *testing.T) func([]*corev1.Pod, error) []string {
	return func(pods []*corev1.Pod, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pods {
			got = append(got, p.Name)
		}
		slices.Sort(got)
		return got
	}
}
