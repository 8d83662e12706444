package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff/internal/etcd/etcdtest"
	"skiff/internal/storage"
	"skiff/internal/storage/storagetest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

func TestStoreEmbedded(t *testing.T) {
	srv := etcdtest.StartServer(t, nil)
	s := New(srv.Client(), Config{})
	storagetest.Run(t, func(*testing.T) storage.Store { return s })
}

// TestStoreExternalCluster runs the suite over the network against a
// three-member cluster, as a server started with --etcd-servers does, then
// again after the leader stops.
func TestStoreExternalCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3, nil)
	client, err := Dial(c.ClientURLs, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer client.Close()
	s := New(client, Config{})
	newStore := func(*testing.T) storage.Store { return s }

	t.Run("AllMembers", func(t *testing.T) { storagetest.Run(t, newStore) })

	leader := leaderIndex(t, client, c.ClientURLs)
	c.Stop(leader)
	waitForLeader(t, client, c.ClientURLs, leader)
	t.Run("LeaderStopped", func(t *testing.T) { storagetest.Run(t, newStore) })
}

// leaderIndex returns the index in urls of the cluster's leader.
func leaderIndex(t *testing.T, client *clientv3.Client, urls []string) int {
	t.Helper()
	for i, u := range urls {
		st, err := client.Status(t.Context(), u)
		if err != nil {
			t.Fatalf("status of %s: %v", u, err)
		}
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatalf("no member of %v is the leader", urls)
	return -1
}

// waitForLeader waits until the members other than stopped agree on a leader
// among themselves.
func waitForLeader(t *testing.T, client *clientv3.Client, urls []string, stopped int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		leaders := map[uint64]bool{}
		var members []uint64
		for i, u := range urls {
			if i == stopped {
				continue
			}
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, err := client.Status(sctx, u)
			scancel()
			if err == nil {
				leaders[st.Leader] = true
				members = append(members, st.Header.MemberId)
			}
		}
		if len(members) == len(urls)-1 && len(leaders) == 1 {
			for l := range leaders {
				if l == members[0] || l == members[1] {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no new leader among the remaining members: %v", ctx.Err())
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

func TestCompactOnceTakesTurns(t *testing.T) {
	srv := etcdtest.StartServer(t, nil)
	a := New(srv.Client(), Config{})
	b := New(srv.Client(), Config{})
	ctx := t.Context()
	key := "/compact/k"
	r0, err := a.Create(ctx, key, []byte("v0"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	// a claims the first interval; nothing to compact yet.
	va, ra, err := a.compactOnce(ctx, 0, 0)
	if err != nil || va != 1 || ra <= r0 {
		t.Fatalf("first claim by a = version %d rev %d, %v; want version 1, rev > %d", va, ra, err, r0)
	}
	// b, which saw no claim yet, loses and learns the version.
	vb, rb, err := b.compactOnce(ctx, 0, 0)
	if err != nil || vb != 1 || rb < ra {
		t.Fatalf("claim by b = version %d rev %d, %v; want version 1, rev >= %d", vb, rb, err, ra)
	}
	if _, err := a.List(ctx, "/compact/", storage.ListOptions{Revision: r0}); err != nil {
		t.Fatalf("history was compacted by a losing claim: %v", err)
	}
	// b now claims the next interval and compacts to what it saw before.
	if _, _, err := b.compactOnce(ctx, vb, rb); err != nil {
		t.Fatalf("second claim by b: %v", err)
	}
	if _, err := a.List(ctx, "/compact/", storage.ListOptions{Revision: rb - 1}); !errors.Is(err, storage.ErrCompacted) {
		t.Errorf("List before b's compaction revision error = %v, want ErrCompacted", err)
	}
	if _, err := a.List(ctx, "/compact/", storage.ListOptions{Revision: rb}); err != nil {
		t.Errorf("List at b's compaction revision: %v", err)
	}
}

func TestRunCompacts(t *testing.T) {
	srv := etcdtest.StartServer(t, nil)
	s := New(srv.Client(), Config{CompactInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = s.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run returned %v, want nil", runErr)
		}
	}()

	rev, err := s.Create(ctx, "/run/k", []byte("v"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	for {
		_, err := s.List(wctx, "/run/", storage.ListOptions{Revision: rev})
		if errors.Is(err, storage.ErrCompacted) {
			return
		}
		if err != nil {
			t.Fatalf("List at %d: %v", rev, err)
		}
		select {
		case <-wctx.Done():
			t.Fatalf("revision %d never compacted: %v", rev, wctx.Err())
		case <-time.After(10 * time.Millisecond): // poll interval
		}
	}
}

func TestDialRejectsNoEndpoints(t *testing.T) {
	if c, err := Dial(nil, nil); err == nil {
		c.Close()
		t.Errorf("Dial with no endpoints succeeded, want an error")
	}
}

func BenchmarkCreate(b *testing.B) {
	srv := etcdtest.StartServer(b, nil)
	s := New(srv.Client(), Config{})
	value := make([]byte, 1024)
	i := 0
	for b.Loop() {
		if _, err := s.Create(b.Context(), fmt.Sprintf("/bench/%d", i), value); err != nil {
			b.Fatalf("Create: %v", err)
		}
		i++
	}
}
