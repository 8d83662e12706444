package reconcile

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8stypes "k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestClaim(t *testing.T) {
	owner := &metav1.ObjectMeta{Name: "rs", UID: "owner"}
	deleting := &metav1.ObjectMeta{Name: "rs", UID: "owner", DeletionTimestamp: &metav1.Time{}}
	sel := labels.SelectorFromSet(labels.Set{"app": "a"})
	ref := func(uid string) []metav1.OwnerReference {
		t := true
		return []metav1.OwnerReference{{UID: k8stypes.UID(uid), Controller: &t}}
	}
	tests := []struct {
		name  string
		owner metav1.Object
		obj   *metav1.ObjectMeta
		want  ClaimDecision
	}{
		{"owned and matching", owner, &metav1.ObjectMeta{Labels: map[string]string{"app": "a"}, OwnerReferences: ref("owner")}, Keep},
		{"owned, not matching", owner, &metav1.ObjectMeta{Labels: map[string]string{"app": "b"}, OwnerReferences: ref("owner")}, Release},
		{"orphan matching", owner, &metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}, Adopt},
		{"orphan not matching", owner, &metav1.ObjectMeta{Labels: map[string]string{"app": "b"}}, Ignore},
		{"someone else's", owner, &metav1.ObjectMeta{Labels: map[string]string{"app": "a"}, OwnerReferences: ref("other")}, Ignore},
		{"deleting owner adopts nothing", deleting, &metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}, Ignore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Claim(tt.owner, sel, tt.obj); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlowStartByCalls(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAfter int64
		wantOK    int
		wantCalls int64
	}{
		{"all succeed", 10, 100, 10, 10},
		{"stops after the failing batch", 10, 3, 3, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			ok, err := SlowStart(tt.count, func(int) error {
				if calls.Add(1) > tt.failAfter {
					return errors.New("boom")
				}
				return nil
			})
			if diff := cmp.Diff([]int64{int64(tt.wantOK), tt.wantCalls}, []int64{int64(ok), calls.Load()}); diff != "" {
				t.Errorf("(successes, calls) (-want +got):\n%s", diff)
			}
			if (err != nil) != (tt.failAfter < int64(tt.count)) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestExpectationsCounted(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(0, 0))
	e := NewExpectations(clk)
	e.ExpectCreations("k", 2)
	e.CreationObserved("k", "")
	if e.Satisfied("k") {
		t.Fatal("satisfied with one creation outstanding")
	}
	e.CreationObserved("k", "")
	if !e.Satisfied("k") {
		t.Fatal("not satisfied after both creations")
	}
	e.ExpectDeletions("k", []string{"ns/a"})
	e.DeletionObserved("k", "ns/a")
	e.DeletionObserved("k", "ns/a")
	if !e.Satisfied("k") {
		t.Fatal("not satisfied after the deletion, seen twice")
	}
	e.ExpectCreations("k", 1)
	clk.SetTime(time.Unix(0, 0).Add(ExpectationsTimeout + time.Second))
	if !e.Satisfied("k") {
		t.Fatal("expired expectations still block")
	}
}

func TestWriteTracker(t *testing.T) {
	tr := NewWriteTracker()
	tr.Record("svc", "a", "10")
	tr.Record("svc", "b", "")
	tests := []struct {
		name   string
		cached map[string]string
		want   bool
	}{
		{"created object not cached yet", map[string]string{"b": "5"}, true},
		{"cache has an older version", map[string]string{"a": "9"}, true},
		{"caught up", map[string]string{"a": "11"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tr.Stale("svc", tt.cached); got != tt.want {
				t.Errorf("Stale = %v, want %v", got, tt.want)
			}
		})
	}
}
