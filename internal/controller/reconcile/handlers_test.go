package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	testingclock "k8s.io/utils/clock/testing"
)

// drain returns the keys waiting in q, in order.
func drain(q *Loop) []string {
	var keys []string
	for q.q.Len() > 0 {
		k, _ := q.q.Get()
		q.q.Done(k)
		keys = append(keys, k)
	}
	return keys
}

func TestExpectationsMixed(t *testing.T) {
	e := NewExpectations(testingclock.NewFakePassiveClock(time.Unix(0, 0)))
	e.ExpectCreations("k", 1)
	e.CreationObserved("k", "someone-else") // not expected by name: counts
	e.CreationObserved("k", "again")        // the count cannot go below zero
	steps := []bool{e.Satisfied("k")}
	e.ExpectCreate("k", "a")
	e.CreationObserved("k", "b") // neither named nor counted: changes nothing
	steps = append(steps, e.Satisfied("k"))
	e.CreationObserved("k", "a")
	steps = append(steps, e.Satisfied("k"))
	e.ExpectDeletions("k", []string{"x"})
	e.Forget("k")
	steps = append(steps, e.Satisfied("k"))
	if diff := cmp.Diff([]bool{true, false, true, true}, steps); diff != "" {
		t.Errorf("Satisfied after each step (-want +got):\n%s", diff)
	}
}

func TestOwnedPodHandler(t *testing.T) {
	ctrl := true
	owned := func(name, kind string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name,
			OwnerReferences: []metav1.OwnerReference{{Kind: kind, Name: "owner", Controller: &ctrl}}}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	tests := []struct {
		name      string
		event     func(h cache.ResourceEventHandlerFuncs)
		wantKeys  []string
		satisfied bool
	}{
		{"add observes the creation", func(h cache.ResourceEventHandlerFuncs) { h.OnAdd(owned("c", "DaemonSet", false), false) }, []string{"ns/owner"}, true},
		{"update to deleting observes the deletion", func(h cache.ResourceEventHandlerFuncs) {
			h.OnUpdate(owned("d", "DaemonSet", false), owned("d", "DaemonSet", true))
		}, []string{"ns/owner"}, false},
		{"tombstone observes the deletion", func(h cache.ResourceEventHandlerFuncs) {
			h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/d", Obj: owned("d", "DaemonSet", false)})
		}, []string{"ns/owner"}, false},
		{"other kind is ignored", func(h cache.ResourceEventHandlerFuncs) { h.OnAdd(owned("c", "Job", false), false) }, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoop("test", nil, nil, func(context.Context, string) (Result, error) { return Result{}, nil })
			e := NewExpectations(nil)
			e.ExpectCreate("ns/owner", "c")
			e.ExpectDelete("ns/owner", "d")
			tt.event(l.OwnedPodHandler("DaemonSet", e))
			if diff := cmp.Diff(tt.wantKeys, drain(l)); diff != "" {
				t.Errorf("queued keys (-want +got):\n%s", diff)
			}
			// Only the remaining half of the expectation is left; observe it
			// to learn whether the handler cleared the other half.
			e.DeletionObserved("ns/owner", "d")
			if got := e.Satisfied("ns/owner"); got != tt.satisfied {
				t.Errorf("Satisfied after clearing the deletion = %v, want %v", got, tt.satisfied)
			}
		})
	}
}

func TestServicePodHandler(t *testing.T) {
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "headless"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "a"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}}},
	} {
		if err := services.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(rv, app string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: rv, Labels: map[string]string{"app": app}}}
	}
	tests := []struct {
		name  string
		event func(h cache.ResourceEventHandlerFuncs)
		want  []string
	}{
		{"add", func(h cache.ResourceEventHandlerFuncs) { h.OnAdd(pod("1", "a"), false) }, []string{"ns/a"}},
		{"resync", func(h cache.ResourceEventHandlerFuncs) { h.OnUpdate(pod("1", "a"), pod("1", "b")) }, nil},
		{"relabel queues old and new", func(h cache.ResourceEventHandlerFuncs) { h.OnUpdate(pod("1", "a"), pod("2", "b")) }, []string{"ns/b", "ns/a"}},
		{"tombstone", func(h cache.ResourceEventHandlerFuncs) {
			h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod("1", "b")})
		}, []string{"ns/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewLoop("test", nil, nil, nil)
			tt.event(ServicePodHandler(services, q))
			if diff := cmp.Diff(tt.want, drain(q)); diff != "" {
				t.Errorf("queued keys (-want +got):\n%s", diff)
			}
		})
	}
}
