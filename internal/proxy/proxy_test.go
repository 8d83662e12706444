package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/proxy"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// recorder is an Applier and RouteSyncer that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	last   *proxy.Ruleset
	nodes  []string
	syncs  int
	routes int
	// fail makes that many Apply calls fail first, as a broken nft would.
	fail int
}

func (r *recorder) Apply(_ context.Context, rs *proxy.Ruleset) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("apply: injected failure")
	}
	r.last, r.syncs = rs, r.syncs+1
	return nil
}

func (r *recorder) SyncRoutes(_ context.Context, nodes []*v1.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes = nil
	for _, n := range nodes {
		r.nodes = append(r.nodes, n.Name)
	}
	r.routes++
	return nil
}

// waitFor polls cond against the latest ruleset until it holds.
func (r *recorder) waitFor(t *testing.T, what string, cond func(rs *proxy.Ruleset, nodes []string) bool) {
	t.Helper()
	servertest.Wait(t, what, func(context.Context) (bool, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.last == nil {
			return false, errors.New("no ruleset applied yet")
		}
		if cond(r.last, r.nodes) {
			return true, nil
		}
		return false, fmt.Errorf("last ruleset:\n%s", r.last.Render())
	})
}

func hasElement(rs *proxy.Ruleset, m, keyPrefix string) bool {
	for _, mm := range rs.Maps {
		if mm.Name == m {
			return slices.ContainsFunc(mm.Elements, func(e proxy.MapElement) bool { return strings.HasPrefix(e.Key, keyPrefix) })
		}
	}
	return false
}

func hasSetElement(rs *proxy.Ruleset, set, el string) bool {
	for _, s := range rs.Sets {
		if s.Name == set {
			return slices.Contains(s.Elements, el)
		}
	}
	return false
}

// TestProxyFollowsAPIServer runs the proxy loop against an in-process
// control plane and checks that Service, EndpointSlice and Node changes
// reach the applied ruleset and the routes, after retrying failed applies.
func TestProxyFollowsAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := servertest.Start(t, nil).Client

	rec := &recorder{fail: 2} // the loop must retry
	p, err := proxy.New(proxy.Config{Client: client, NodeName: "node-a", Applier: rec, Routes: rec, Logger: servertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	node, err := client.CoreV1().Nodes().Create(ctx, testobj.Node("node-a").Obj(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.77.10"}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "node address as NodePort address and node routes", func(rs *proxy.Ruleset, nodes []string) bool {
		return hasSetElement(rs, "nodeport-ips", "192.168.77.10") && slices.Contains(nodes, "node-a")
	})

	svc := testobj.Service("web").Selector().Type(v1.ServiceTypeClusterIP).ClusterIP("10.43.0.99").Port("http", 80, 80).Obj()
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "reject for the Service without endpoints", func(rs *proxy.Ruleset, _ []string) bool {
		return hasElement(rs, "no-endpoint-services", "10.43.0.99 . tcp . 80")
	})

	es := testobj.EndpointSlice("web-1", "web").Port("http", 8080).Endpoint("10.42.0.7", "node-a").Obj()
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "ClusterIP load-balanced to the endpoint", func(rs *proxy.Ruleset, _ []string) bool {
		return hasElement(rs, "service-ips", "10.43.0.99 . tcp . 80") && !hasElement(rs, "no-endpoint-services", "10.43.0.99 . tcp . 80") &&
			strings.Contains(rs.Render(), "dnat to 10.42.0.7:8080")
	})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "rules gone with the Service", func(rs *proxy.Ruleset, _ []string) bool {
		return !hasElement(rs, "service-ips", "10.43.0.99") && !strings.Contains(rs.Render(), "10.42.0.7")
	})
}
