package reconcile

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		pods, err := PodsSelectedBy(idx, tt.ns, tt.sel)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pods {
			got = append(got, p.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %v: %v, want %v", tt.ns, tt.sel, got, tt.want)
		}
	}
}
