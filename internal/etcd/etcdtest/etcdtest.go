package etcdtest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"skiff/internal/etcd"
)

// StartServer starts a single embedded member in a temporary directory, on
// free loopback ports, and closes it when the test ends. configure, if not
// nil, may change the Config before the start.
func StartServer(t testing.TB, configure func(*etcd.Config)) *etcd.Server {
	t.Helper()
	cfg := etcd.Config{
		DataDir:   filepath.Join(t.TempDir(), "etcd"),
		ClientURL: "http://127.0.0.1:0",
		PeerURL:   "http://127.0.0.1:0",
	}
	if configure != nil {
		configure(&cfg)
	}
	s, err := etcd.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Cluster is a set of embedded members that formed one cluster.
type Cluster struct {
	// Members are the running members; Stop sets an entry to nil.
	Members []*etcd.Server
	// ClientURLs are the members' client URLs, in member order.
	ClientURLs []string
}

// Stop closes member i, leaving the others running.
func (c *Cluster) Stop(i int) {
	if c.Members[i] != nil {
		c.Members[i].Close()
		c.Members[i] = nil
	}
}

// stopAll closes every running member, the followers together and then the
// leader: a leader closed while followers run first hands its leadership
// over, and one closed while they are closing waits seconds for a transfer
// that cannot finish.
func (c *Cluster) stopAll() {
	leader := -1
	var wg sync.WaitGroup
	for i, m := range c.Members {
		if m != nil && m.IsLeader() && leader < 0 {
			leader = i
			continue
		}
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
	if leader >= 0 {
		c.Stop(leader)
	}
}

// StartCluster starts n members on free loopback ports that bootstrap one
// cluster, and closes them when the test ends. configure, if not nil, may
// change member i's Config before the start.
func StartCluster(t testing.TB, n int, configure func(i int, cfg *etcd.Config)) *Cluster {
	t.Helper()
	dir := t.TempDir()
	cfgs := make([]etcd.Config, n)
	var initial []string
	for i := range cfgs {
		name := fmt.Sprintf("m%d", i)
		cfgs[i] = etcd.Config{
			DataDir:   filepath.Join(dir, name),
			Name:      name,
			ClientURL: freeURL(t),
			PeerURL:   freeURL(t),
			// Half of etcd's defaults: members on loopback answer at once,
			// and the tests wait less for the first election, while a
			// busy test machine still does not miss heartbeats.
			TickMs:     50,
			ElectionMs: 500,
		}
		initial = append(initial, name+"="+cfgs[i].PeerURL)
	}
	c := &Cluster{Members: make([]*etcd.Server, n)}
	for i := range cfgs {
		cfgs[i].InitialCluster = strings.Join(initial, ",")
		if configure != nil {
			configure(i, &cfgs[i])
		}
		c.ClientURLs = append(c.ClientURLs, cfgs[i].ClientURL)
	}
	t.Cleanup(c.stopAll)

	// A member is ready only once a quorum has formed, so all start at once.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Go(func() {
			c.Members[i], errs[i] = etcd.Start(ctx, cfgs[i])
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start member %d: %v", i, err)
		}
	}
	return c
}

// freeURL returns an http URL on a loopback port that was free a moment ago.
// Members of a cluster must know each other's ports before any starts, so
// port 0 cannot be left to etcd here.
func freeURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}
