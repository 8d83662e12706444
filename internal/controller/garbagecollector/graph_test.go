package garbagecollector

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestGraph(t *testing.T) {
	g := newGraph()
	yes, no := true, false
	obj := func(uid string, refs ...metav1.OwnerReference) (objectRef, *metav1.ObjectMeta) {
		return objectRef{Name: uid, UID: types.UID(uid)}, &metav1.ObjectMeta{Name: uid, UID: types.UID(uid), OwnerReferences: refs}
	}
	names := func(ns []node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.ref.Name)
		}
		sort.Strings(out)
		return out
	}
	g.upsert(obj("owner"))
	g.upsert(obj("blocking", metav1.OwnerReference{UID: "owner", BlockOwnerDeletion: &yes}))
	g.upsert(obj("free", metav1.OwnerReference{UID: "owner", BlockOwnerDeletion: &no}))
	tests := []struct {
		name     string
		blocking bool
		want     []string
	}{
		{"all dependents", false, []string{"blocking", "free"}},
		{"blocking only", true, []string{"blocking"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(g.dependentsOf("owner", tt.blocking))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// Dropping the reference, then the object, leaves no dependents.
	g.upsert(obj("blocking"))
	g.remove("free")
	if got := g.dependentsOf("owner", false); len(got) != 0 {
		t.Errorf("dependents after release and removal: %v", names(got))
	}
}
