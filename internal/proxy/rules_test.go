package proxy_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"skiff/internal/proxy"
	"skiff/internal/proxy/proxytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the current output")

// goldenMarker separates a golden file's input (YAML documents) from the
// expected `nft -f` text.
const goldenMarker = "#### nft -f\n"

// TestGolden computes the ruleset for each testdata file's Services,
// EndpointSlices and Node and compares it with the text after the marker.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, _ := strings.Cut(string(raw), goldenMarker)
			st, err := proxytest.LoadState([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			r := proxy.Compute(st)
			got := r.Render()
			if *update {
				if err := os.WriteFile(f, []byte(in+goldenMarker+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ruleset mismatch (-want +got), rerun with -update if intended:\n%s", diff)
			}
		})
	}
}

// TestNodePortAddresses checks which destinations NodePorts answer on.
func TestNodePortAddresses(t *testing.T) {
	node := []netip.Addr{netip.MustParseAddr("192.168.50.10"), netip.MustParseAddr("fd00::10")}
	tests := []struct {
		name      string
		addresses []netip.Prefix
		localhost bool
		want      []string
	}{
		{name: "node IPs and localhost", localhost: true, want: []string{"127.0.0.1", "192.168.50.10"}},
		{name: "node IPs only", want: []string{"192.168.50.10"}},
		{name: "configured ranges", localhost: true,
			addresses: []netip.Prefix{netip.MustParsePrefix("192.168.50.0/24"), netip.MustParsePrefix("fd00::/64")},
			want:      []string{"127.0.0.1", "192.168.50.0/24"}},
		{name: "configured ranges covering localhost", localhost: true,
			addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			want:      []string{"127.0.0.0/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := proxy.Compute(proxy.State{
				NodeName: "node-a", NodeIPs: node,
				ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16"),
				NodePortAddresses: tt.addresses, LocalhostNodePorts: tt.localhost,
			})
			var got []string
			for _, s := range r.Sets {
				if s.Name == "nodeport-ips" {
					got = s.Elements
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("nodeport-ips (-want +got):\n%s", diff)
			}
		})
	}
}
