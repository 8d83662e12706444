package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"skiff/internal/storage"
)

// eventWait bounds the wait for a watch event that must come. It is a
// deadline for a hung test, not a performance bound.
const eventWait = 30 * time.Second

// Run runs the contract suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, prefix string)
	}{
		{"CreateGet", testCreateGet},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"ListPaging", testListPaging},
		{"ListAtRevision", testListAtRevision},
		{"WatchFromNow", testWatchFromNow},
		{"WatchFromRevision", testWatchFromRevision},
		{"WatchStopsWithContext", testWatchStopsWithContext},
		{"Compaction", testCompaction},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CurrentRevision", testCurrentRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A random part keeps runs apart when a store outlives a run.
			prefix := fmt.Sprintf("/storagetest/%s/%x/", t.Name(), rand.Uint32())
			tt.fn(t, newStore(t), prefix)
		})
	}
}

func testCreateGet(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	key := p + "k"
	rev, err := s.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if rev <= 0 {
		t.Errorf("Create revision = %d, want > 0", rev)
	}
	got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := storage.KV{Key: key, Value: []byte("v1"), ModRevision: rev, CreateRevision: rev}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get after Create (-want +got):\n%s", diff)
	}

	if _, err := s.Create(ctx, key, []byte("v2")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second Create error = %v, want ErrExists", err)
	}
	if got, err := s.Get(ctx, key); err != nil || string(got.Value) != "v1" {
		t.Errorf("Get after failed Create = %q, %v; want v1 unchanged", got.Value, err)
	}
	if _, err := s.Get(ctx, p+"missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a missing key error = %v, want ErrNotFound", err)
	}
	// A key that only shares a prefix with an existing one does not exist.
	if _, err := s.Get(ctx, p); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of the prefix itself error = %v, want ErrNotFound", err)
	}
}

func testUpdate(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	key := p + "k"
	created, err := s.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	rev, cur, err := s.Update(ctx, key, []byte("v2"), created)
	if err != nil {
		t.Fatalf("Update at the current revision: %v", err)
	}
	if rev <= created {
		t.Errorf("Update revision = %d, want > %d", rev, created)
	}
	if diff := cmp.Diff(storage.KV{}, cur); diff != "" {
		t.Errorf("Update success returned a KV (-want +got):\n%s", diff)
	}
	want := storage.KV{Key: key, Value: []byte("v2"), ModRevision: rev, CreateRevision: created}
	if got, err := s.Get(ctx, key); err != nil {
		t.Fatalf("Get: %v", err)
	} else if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get after Update (-want +got):\n%s", diff)
	}

	// A stale revision conflicts and hands back the current value.
	_, cur, err = s.Update(ctx, key, []byte("v3"), created)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Update at a stale revision error = %v, want ErrConflict", err)
	}
	if diff := cmp.Diff(want, cur); diff != "" {
		t.Errorf("KV returned with ErrConflict (-want +got):\n%s", diff)
	}
	// Retrying with that KV's revision succeeds without another read.
	if _, _, err := s.Update(ctx, key, []byte("v3"), cur.ModRevision); err != nil {
		t.Errorf("Update retried at the returned revision: %v", err)
	}

	// Revision 0 updates whatever is there.
	rev0, _, err := s.Update(ctx, key, []byte("v4"), 0)
	if err != nil {
		t.Fatalf("Update at revision 0: %v", err)
	}
	if got, err := s.Get(ctx, key); err != nil || string(got.Value) != "v4" || got.ModRevision != rev0 {
		t.Errorf("Get after Update at revision 0 = %+v, %v; want v4 at %d", got, err, rev0)
	}

	// Update never creates.
	for _, r := range []int64{0, rev0} {
		if _, _, err := s.Update(ctx, p+"missing", []byte("x"), r); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Update of a missing key at revision %d error = %v, want ErrNotFound", r, err)
		}
	}
	if _, err := s.Get(ctx, p+"missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Update of a missing key error = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	create := func(key, value string) int64 {
		t.Helper()
		rev, err := s.Create(ctx, key, []byte(value))
		if err != nil {
			t.Fatalf("Create %s: %v", key, err)
		}
		return rev
	}

	// Delete at the current revision.
	a := p + "a"
	aRev := create(a, "va")
	prev, delRev, err := s.Delete(ctx, a, aRev)
	if err != nil {
		t.Fatalf("Delete at the current revision: %v", err)
	}
	if diff := cmp.Diff(storage.KV{Key: a, Value: []byte("va"), ModRevision: aRev, CreateRevision: aRev}, prev); diff != "" {
		t.Errorf("deleted KV (-want +got):\n%s", diff)
	}
	if delRev <= aRev {
		t.Errorf("Delete revision = %d, want > %d", delRev, aRev)
	}
	if _, err := s.Get(ctx, a); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete error = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Delete(ctx, a, aRev); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete error = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Delete(ctx, a, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete of a missing key at revision 0 error = %v, want ErrNotFound", err)
	}

	// Delete at a stale revision.
	b := p + "b"
	bRev := create(b, "v1")
	bRev2, _, err := s.Update(ctx, b, []byte("v2"), bRev)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	cur, _, err := s.Delete(ctx, b, bRev)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("Delete at a stale revision error = %v, want ErrConflict", err)
	}
	if diff := cmp.Diff(storage.KV{Key: b, Value: []byte("v2"), ModRevision: bRev2, CreateRevision: bRev}, cur); diff != "" {
		t.Errorf("KV returned with ErrConflict (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, b); err != nil {
		t.Errorf("Get after a conflicting Delete: %v, want the key kept", err)
	}

	// Delete at revision 0 deletes whatever is there.
	prev, _, err = s.Delete(ctx, b, 0)
	if err != nil {
		t.Fatalf("Delete at revision 0: %v", err)
	}
	if string(prev.Value) != "v2" {
		t.Errorf("Delete at revision 0 returned value %q, want v2", prev.Value)
	}
	if _, err := s.Get(ctx, b); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete at revision 0 error = %v, want ErrNotFound", err)
	}

	// A deleted key can be created again, with a new CreateRevision.
	again := create(a, "va2")
	if got, err := s.Get(ctx, a); err != nil || got.CreateRevision != again {
		t.Errorf("Get after re-Create = %+v, %v; want CreateRevision %d", got, err, again)
	}
}

func testListOrderAndPrefix(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	// Created out of order; "ab/" and "a" share bytes with "a/" but lie
	// outside it.
	for _, k := range []string{"a/3", "ab/1", "a/1", "a", "a/2", "b/1"} {
		if _, err := s.Create(ctx, p+k, []byte(k)); err != nil {
			t.Fatalf("Create %s: %v", k, err)
		}
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{p + "a/", []string{"a/1", "a/2", "a/3"}},
		{p + "ab/", []string{"ab/1"}},
		{p + "a", []string{"a", "a/1", "a/2", "a/3", "ab/1"}},
		{p + "c/", nil},
		{p, []string{"a", "a/1", "a/2", "a/3", "ab/1", "b/1"}},
	}
	for _, tt := range tests {
		res, err := s.List(ctx, tt.prefix, storage.ListOptions{})
		if err != nil {
			t.Fatalf("List %s: %v", tt.prefix, err)
		}
		var got []string
		for _, kv := range res.KVs {
			got = append(got, kv.Key[len(p):])
			if string(kv.Value) != kv.Key[len(p):] {
				t.Errorf("List %s: %s has value %q", tt.prefix, kv.Key, kv.Value)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("List %s keys (-want +got):\n%s", tt.prefix, diff)
		}
		if res.More || res.Remaining != 0 {
			t.Errorf("List %s without a limit: More %v Remaining %d, want false 0", tt.prefix, res.More, res.Remaining)
		}
		if res.Revision <= 0 {
			t.Errorf("List %s revision = %d, want > 0", tt.prefix, res.Revision)
		}
		n, err := s.Count(ctx, tt.prefix)
		if err != nil {
			t.Fatalf("Count %s: %v", tt.prefix, err)
		}
		if n != int64(len(tt.want)) {
			t.Errorf("Count %s = %d, want %d", tt.prefix, n, len(tt.want))
		}
	}
}

func testListPaging(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	var all []string
	for i := range 5 {
		k := p + "k" + strconv.Itoa(i)
		if _, err := s.Create(ctx, k, []byte("v")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		all = append(all, k)
	}
	if _, err := s.Create(ctx, p+"z", []byte("v")); err != nil { // outside the listed prefix
		t.Fatalf("Create: %v", err)
	}

	type page struct {
		Keys      []string
		More      bool
		Remaining int64
	}
	var got []page
	var rev int64
	start := ""
	for i := 0; ; i++ {
		res, err := s.List(ctx, p+"k", storage.ListOptions{Limit: 2, StartKey: start, Revision: rev})
		if err != nil {
			t.Fatalf("List page %d: %v", i, err)
		}
		var pg page
		for _, kv := range res.KVs {
			pg.Keys = append(pg.Keys, kv.Key)
		}
		pg.More, pg.Remaining = res.More, res.Remaining
		got = append(got, pg)
		if i == 0 {
			// Later pages read the first page's snapshot: writes made
			// meanwhile must not show.
			rev = res.Revision
			if _, err := s.Create(ctx, p+"k1a", []byte("v")); err != nil {
				t.Fatalf("Create between pages: %v", err)
			}
			if _, _, err := s.Delete(ctx, all[4], 0); err != nil {
				t.Fatalf("Delete between pages: %v", err)
			}
		} else if res.Revision != rev {
			t.Errorf("List page %d revision = %d, want the requested %d", i, res.Revision, rev)
		}
		if !res.More || i > 5 {
			break
		}
		start = res.KVs[len(res.KVs)-1].Key + "\x00"
	}
	want := []page{
		{Keys: all[0:2], More: true, Remaining: 3},
		{Keys: all[2:4], More: true, Remaining: 1},
		{Keys: all[4:5]},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	// The latest state shows the writes made between pages.
	res, err := s.List(ctx, p+"k", storage.ListOptions{Limit: 10})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(res.KVs) != 5 || res.More {
		t.Errorf("List of the latest state = %d keys, More %v; want 5, false", len(res.KVs), res.More)
	}

	if _, err := s.List(ctx, p+"k", storage.ListOptions{StartKey: p + "a"}); err == nil {
		t.Errorf("List with a start key outside the prefix succeeded, want an error")
	}
}

func testListAtRevision(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	k1, k2 := p+"k1", p+"k2"
	r1, err := s.Create(ctx, k1, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	r2, _, err := s.Update(ctx, k1, []byte("v2"), r1)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	r3, err := s.Create(ctx, k2, []byte("w1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	_, r4, err := s.Delete(ctx, k1, 0)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	tests := []struct {
		rev  int64
		want []storage.KV
	}{
		{r1, []storage.KV{{Key: k1, Value: []byte("v1"), ModRevision: r1, CreateRevision: r1}}},
		{r2, []storage.KV{{Key: k1, Value: []byte("v2"), ModRevision: r2, CreateRevision: r1}}},
		{r3, []storage.KV{
			{Key: k1, Value: []byte("v2"), ModRevision: r2, CreateRevision: r1},
			{Key: k2, Value: []byte("w1"), ModRevision: r3, CreateRevision: r3},
		}},
		{r4, []storage.KV{{Key: k2, Value: []byte("w1"), ModRevision: r3, CreateRevision: r3}}},
	}
	for _, tt := range tests {
		res, err := s.List(ctx, p, storage.ListOptions{Revision: tt.rev})
		if err != nil {
			t.Fatalf("List at %d: %v", tt.rev, err)
		}
		if diff := cmp.Diff(tt.want, res.KVs); diff != "" {
			t.Errorf("List at %d (-want +got):\n%s", tt.rev, diff)
		}
		if res.Revision != tt.rev {
			t.Errorf("List at %d reported revision %d", tt.rev, res.Revision)
		}
	}

	cur, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	if _, err := s.List(ctx, p, storage.ListOptions{Revision: cur + 1000}); !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("List at a future revision error = %v, want ErrFutureRevision", err)
	}
}

func testWatchFromNow(t *testing.T, s storage.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key := p + "k"
	ch := s.Watch(ctx, p, 0)

	// Every write after Watch returns is seen, with no write before.
	r1, err := s.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Create(ctx, p[:len(p)-1]+"x/k", []byte("other")); err != nil { // a sibling prefix
		t.Fatalf("Create: %v", err)
	}
	r2, _, err := s.Update(ctx, key, []byte("v2"), r1)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	_, r3, err := s.Delete(ctx, key, r2)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	v1 := storage.KV{Key: key, Value: []byte("v1"), ModRevision: r1, CreateRevision: r1}
	v2 := storage.KV{Key: key, Value: []byte("v2"), ModRevision: r2, CreateRevision: r1}
	want := []storage.Event{
		{Type: storage.EventPut, KV: v1},
		{Type: storage.EventPut, KV: v2, PrevKV: &v1},
		{Type: storage.EventDelete, KV: storage.KV{Key: key, ModRevision: r3}, PrevKV: &v2},
	}
	if diff := cmp.Diff(want, receive(t, ch, len(want))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testWatchFromRevision(t *testing.T, s storage.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key := p + "k"
	var revs []int64
	var kvs []storage.KV
	r, err := s.Create(ctx, key, []byte("v0"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	revs = append(revs, r)
	kvs = append(kvs, storage.KV{Key: key, Value: []byte("v0"), ModRevision: r, CreateRevision: revs[0]})
	for i := 1; i < 5; i++ {
		v := "v" + strconv.Itoa(i)
		r, _, err := s.Update(ctx, key, []byte(v), revs[i-1])
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		revs = append(revs, r)
		kvs = append(kvs, storage.KV{Key: key, Value: []byte(v), ModRevision: r, CreateRevision: revs[0]})
		if i == 2 {
			if _, err := s.Create(ctx, p[:len(p)-1]+"x/k", []byte("other")); err != nil { // a sibling prefix
				t.Fatalf("Create: %v", err)
			}
		}
	}

	// From revs[1] (exclusive): the updates at revs[2..4], then a new one.
	ch := s.Watch(ctx, p, revs[1])
	last, _, err := s.Update(ctx, key, []byte("v5"), revs[4])
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	kvs = append(kvs, storage.KV{Key: key, Value: []byte("v5"), ModRevision: last, CreateRevision: revs[0]})
	var want []storage.Event
	for i := 2; i < len(kvs); i++ {
		want = append(want, storage.Event{Type: storage.EventPut, KV: kvs[i], PrevKV: &kvs[i-1]})
	}
	if diff := cmp.Diff(want, receive(t, ch, len(want))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// A watch from the latest revision sees only what follows.
	ch2 := s.Watch(ctx, p, last)
	r6, err := s.Create(ctx, p+"k2", []byte("w"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want2 := []storage.Event{{Type: storage.EventPut, KV: storage.KV{Key: p + "k2", Value: []byte("w"), ModRevision: r6, CreateRevision: r6}}}
	if diff := cmp.Diff(want2, receive(t, ch2, 1)); diff != "" {
		t.Errorf("events from the latest revision (-want +got):\n%s", diff)
	}
	// The first watch sees that write next: nothing was sent twice.
	if diff := cmp.Diff(want2, receive(t, ch, 1)); diff != "" {
		t.Errorf("first watch after its replay (-want +got):\n%s", diff)
	}
}

func testWatchStopsWithContext(t *testing.T, s storage.Store, p string) {
	for _, rev := range []int64{0, 1} {
		ctx, cancel := context.WithCancel(t.Context())
		ch := s.Watch(ctx, p, rev)
		cancel()
		deadline := time.After(eventWait)
		for open := true; open; {
			select {
			case ev, ok := <-ch:
				if ok && ev.Err != nil {
					t.Errorf("watch from %d sent %v after its context ended, want a plain close", rev, ev.Err)
				}
				open = ok
			case <-deadline:
				t.Fatalf("watch from %d still open %v after its context ended", rev, eventWait)
			}
		}
	}
}

func testCompaction(t *testing.T, s storage.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	key := p + "k"
	r1, err := s.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	r2, _, err := s.Update(ctx, key, []byte("v2"), r1)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	r3, _, err := s.Update(ctx, key, []byte("v3"), r2)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Compact(ctx, r3); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	if err := s.Compact(ctx, r3); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("second Compact to %d error = %v, want ErrCompacted", r3, err)
	}
	if err := s.Compact(ctx, r3+1_000_000); !errors.Is(err, storage.ErrFutureRevision) {
		t.Errorf("Compact to a future revision error = %v, want ErrFutureRevision", err)
	}

	// Watching from before the compacted revision fails once.
	ch := s.Watch(ctx, p, r1)
	evs := receive(t, ch, 1)
	if !errors.Is(evs[0].Err, storage.ErrCompacted) {
		t.Fatalf("watch from a compacted revision sent %+v, want Err ErrCompacted", evs[0])
	}
	if diff := cmp.Diff(storage.Event{Err: storage.ErrCompacted}, evs[0], cmpopts.EquateErrors()); diff != "" {
		t.Errorf("error event carries more than the error (-want +got):\n%s", diff)
	}
	select {
	case ev, ok := <-ch:
		if ok {
			t.Errorf("watch sent %+v after ErrCompacted, want the channel closed", ev)
		}
	case <-time.After(eventWait):
		t.Fatalf("watch still open %v after ErrCompacted", eventWait)
	}

	if _, err := s.List(ctx, p, storage.ListOptions{Revision: r1}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List at a compacted revision error = %v, want ErrCompacted", err)
	}
	// The compacted revision itself is still readable.
	res, err := s.List(ctx, p, storage.ListOptions{Revision: r3})
	if err != nil {
		t.Fatalf("List at the compaction revision: %v", err)
	}
	if len(res.KVs) != 1 || string(res.KVs[0].Value) != "v3" {
		t.Errorf("List at the compaction revision = %+v, want v3", res.KVs)
	}
	// A watch from just before the compaction revision sees the next write.
	ch = s.Watch(ctx, p, r3)
	r4, _, err := s.Update(ctx, key, []byte("v4"), r3)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if evs := receive(t, ch, 1); evs[0].Err != nil || evs[0].KV.ModRevision != r4 {
		t.Errorf("watch from the compaction revision sent %+v, want the put at %d", evs[0], r4)
	}
}

func testConcurrentUpdates(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	key := p + "counter"
	if _, err := s.Create(ctx, key, []byte("0")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	const workers, increments = 8, 20
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
		errs      []error
	)
	for range workers {
		wg.Go(func() {
			kv, err := s.Get(ctx, key)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			for done := 0; done < increments; {
				n, err := strconv.Atoi(string(kv.Value))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				value := []byte(strconv.Itoa(n + 1))
				rev, cur, err := s.Update(ctx, key, value, kv.ModRevision)
				switch {
				case err == nil:
					kv = storage.KV{Key: key, Value: value, ModRevision: rev}
					done++
				case errors.Is(err, storage.ErrConflict):
					kv = cur // retry on the value that won
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("updates failed: %v", errors.Join(errs...))
	}
	got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if want := strconv.Itoa(workers * increments); string(got.Value) != want {
		t.Errorf("counter = %s after %d increments (%d conflicts retried), want %s", got.Value, workers*increments, conflicts, want)
	}
}

func testCurrentRevision(t *testing.T, s storage.Store, p string) {
	ctx := t.Context()
	prev, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	for i := range 3 {
		rev, err := s.Create(ctx, p+strconv.Itoa(i), []byte("v"))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if rev <= prev {
			t.Errorf("Create revision %d, want > the earlier current revision %d", rev, prev)
		}
		cur, err := s.CurrentRevision(ctx)
		if err != nil {
			t.Fatalf("CurrentRevision: %v", err)
		}
		if cur < rev {
			t.Errorf("CurrentRevision = %d right after a write at %d, want >= %d", cur, rev, rev)
		}
		prev = cur
	}
}

// receive reads n events from ch, failing the test if ch closes or stays
// silent for eventWait.
func receive(t *testing.T, ch <-chan storage.Event, n int) []storage.Event {
	t.Helper()
	var got []storage.Event
	for len(got) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events: %+v", len(got), n, got)
			}
			got = append(got, ev)
		case <-time.After(eventWait):
			t.Fatalf("got %d of %d events within %v: %+v", len(got), n, eventWait, got)
		}
	}
	return got
}
