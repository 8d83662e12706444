package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, podCIDR, internalIP string) *v1.Node {
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NodeSpec{PodCIDR: podCIDR}}
	if internalIP != "" {
		n.Status.Addresses = []v1.NodeAddress{
			{Type: v1.NodeHostName, Address: name},
			{Type: v1.NodeInternalIP, Address: internalIP},
		}
	}
	return n
}

func route(dst, via string) Route {
	r := Route{Dst: netip.MustParsePrefix(dst)}
	if via != "" {
		r.Via = netip.MustParseAddr(via)
	}
	return r
}

var cluster = netip.MustParsePrefix("10.42.0.0/16")

func TestDesiredRoutes(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*v1.Node
		want  []Route
	}{
		{name: "alone", nodes: []*v1.Node{node("a", "10.42.0.0/24", "192.168.77.1")},
			want: []Route{route("10.42.0.0/16", "")}},
		{name: "three nodes", nodes: []*v1.Node{
			node("c", "10.42.2.0/24", "192.168.77.3"),
			node("a", "10.42.0.0/24", "192.168.77.1"),
			node("b", "10.42.1.0/24", "192.168.77.2"),
		}, want: []Route{route("10.42.0.0/16", ""), route("10.42.1.0/24", "192.168.77.2"), route("10.42.2.0/24", "192.168.77.3")}},
		{name: "nodes without podCIDR, address or IPv4 are skipped", nodes: []*v1.Node{
			node("b", "", "192.168.77.2"),
			node("c", "10.42.2.0/24", ""),
			node("d", "fd00:42::/64", "192.168.77.4"),
		}, want: []Route{route("10.42.0.0/16", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DesiredRoutes("a", cluster, tt.nodes)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b Route) bool { return a == b })); diff != "" {
				t.Errorf("DesiredRoutes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffRoutes(t *testing.T) {
	tests := []struct {
		name                string
		current, desired    []Route
		wantReplace, wantRm []Route
	}{
		{name: "empty"},
		{name: "from scratch", desired: []Route{route("10.42.1.0/24", "192.168.77.2")},
			wantReplace: []Route{route("10.42.1.0/24", "192.168.77.2")}},
		{name: "in sync", current: []Route{route("10.42.1.0/24", "192.168.77.2")}, desired: []Route{route("10.42.1.0/24", "192.168.77.2")}},
		{name: "node moved", current: []Route{route("10.42.1.0/24", "192.168.77.2")}, desired: []Route{route("10.42.1.0/24", "192.168.77.9")},
			wantReplace: []Route{route("10.42.1.0/24", "192.168.77.9")}},
		{name: "node gone", current: []Route{route("10.42.0.0/16", ""), route("10.42.1.0/24", "192.168.77.2")}, desired: []Route{route("10.42.0.0/16", "")},
			wantRm: []Route{route("10.42.1.0/24", "192.168.77.2")}},
	}
	eq := cmp.Comparer(func(a, b Route) bool { return a == b })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replace, rm := DiffRoutes(tt.current, tt.desired)
			if diff := cmp.Diff(tt.wantReplace, replace, eq); diff != "" {
				t.Errorf("replace (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRm, rm, eq); diff != "" {
				t.Errorf("remove (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRouterInNamespace programs routes in a network namespace the test
// makes (a veth pair inside it, one end on 192.168.77.1/24, makes the next hops reachable)
// and checks that syncs add, move and remove skiff's routes and leave
// other routes alone. No packet is sent.
func TestRouterInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip")
	}
	b := make([]byte, 4)
	rand.Read(b)
	ns := "skiff-routetest-" + hex.EncodeToString(b)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	run("netns", "add", ns)
	t.Cleanup(func() { run("netns", "del", ns) })
	run("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	run("-n", ns, "addr", "add", "192.168.77.1/24", "dev", "v0")
	run("-n", ns, "link", "set", "v0", "up")
	run("-n", ns, "link", "set", "v1", "up")
	run("-n", ns, "route", "add", "10.99.0.0/16", "via", "192.168.77.50") // not skiff's

	r, err := NewRouter(RouterConfig{NodeName: "a", ClusterCIDR: cluster, Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eq := cmp.Comparer(func(a, b Route) bool { return a == b })
	steps := []struct {
		name  string
		nodes []*v1.Node
		want  []Route
	}{
		{name: "three nodes", nodes: []*v1.Node{
			node("a", "10.42.0.0/24", "192.168.77.1"),
			node("b", "10.42.1.0/24", "192.168.77.2"),
			node("c", "10.42.2.0/24", "192.168.77.3"),
		}, want: []Route{route("10.42.0.0/16", ""), route("10.42.1.0/24", "192.168.77.2"), route("10.42.2.0/24", "192.168.77.3")}},
		{name: "b moved, c gone", nodes: []*v1.Node{
			node("a", "10.42.0.0/24", "192.168.77.1"),
			node("b", "10.42.1.0/24", "192.168.77.4"),
		}, want: []Route{route("10.42.0.0/16", ""), route("10.42.1.0/24", "192.168.77.4")}},
		{name: "alone", nodes: []*v1.Node{node("a", "10.42.0.0/24", "192.168.77.1")},
			want: []Route{route("10.42.0.0/16", "")}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := r.SyncRoutes(ctx, s.nodes); err != nil {
				t.Fatal(err)
			}
			got, err := r.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s.want, got, eq); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
		})
	}
	if out := run("-n", ns, "route", "show", "10.99.0.0/16"); !strings.Contains(out, "via 192.168.77.50") {
		t.Errorf("foreign route was touched: %q", out)
	}
	// A next hop on no local subnet fails for that route only.
	err = r.SyncRoutes(ctx, []*v1.Node{node("b", "10.42.1.0/24", "10.200.0.1")})
	if err == nil || !strings.Contains(err.Error(), "10.42.1.0/24") {
		t.Errorf("unreachable next hop: err = %v, want one naming the route", err)
	}
}
