package nftables

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/knftables"

	"skiff/internal/proxy"
	"skiff/internal/proxy/proxytest"
)

// loadStates reads the inputs of the proxy package's golden files.
func loadStates(t *testing.T) map[string]proxy.State {
	t.Helper()
	files, err := filepath.Glob("../testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	out := map[string]proxy.State{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, _, _ := strings.Cut(string(raw), "#### nft -f\n")
		st, err := proxytest.LoadState([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".txt")] = st
	}
	return out
}

// dropEndpoint returns st without the first endpoint of the first slice.
func dropEndpoint(st proxy.State) proxy.State {
	es := st.EndpointSlices[0].DeepCopy()
	es.Endpoints = es.Endpoints[1:]
	st.EndpointSlices = append(append(st.EndpointSlices[:0:0], es), st.EndpointSlices[1:]...)
	return st
}

// steps is a sequence of rulesets that adds, changes and removes
// services, endpoints, affinity sets and external chains.
func steps(t *testing.T) []struct {
	name string
	r    proxy.Ruleset
} {
	st := loadStates(t)
	var out []struct {
		name string
		r    proxy.Ruleset
	}
	add := func(name string, s proxy.State) {
		out = append(out, struct {
			name string
			r    proxy.Ruleset
		}{name, proxy.Compute(s)})
	}
	add("clusterip", st["clusterip"])
	add("clusterip-minus-endpoint", dropEndpoint(st["clusterip"]))
	add("external", st["external"])
	add("affinity-policy", st["affinity-policy"])
	add("no-endpoints", st["no-endpoints"])
	add("clusterip-again", st["clusterip"])
	return out
}

// TestIncrementalMatchesFull checks, against knftables' fake, that every
// incremental transaction leaves the same table as a full load.
func TestIncrementalMatchesFull(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.IPv4Family, proxy.TableName)
	a, err := New(Config{NFT: fake})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps(t) {
		t.Run(s.name, func(t *testing.T) {
			if err := a.Apply(ctx, &s.r); err != nil {
				t.Fatal(err)
			}
			fresh := knftables.NewFake(knftables.IPv4Family, proxy.TableName)
			if err := fresh.Run(ctx, FullSync(fresh.NewTransaction(), nil, &s.r)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fresh.Dump(), fake.Dump()); diff != "" {
				t.Errorf("incremental table differs from a full load (-full +incremental):\n%s", diff)
			}
		})
	}
}

// TestIncrementalIsSmall checks that removing one endpoint touches only
// that Service's chains and elements, and that an unchanged ruleset costs
// no transaction at all.
func TestIncrementalIsSmall(t *testing.T) {
	st := loadStates(t)["clusterip"]
	before := proxy.Compute(st)
	after := proxy.Compute(dropEndpoint(st))
	tx := Incremental(knftables.NewFake(knftables.IPv4Family, proxy.TableName).NewTransaction(), &before, &after)
	text := tx.String()
	if strings.Contains(text, "kube-system/dns") {
		t.Errorf("transaction touches an unrelated Service:\n%s", text)
	}
	if !strings.Contains(text, "delete chain ip skiff endpoint-") {
		t.Errorf("transaction does not delete the endpoint chain:\n%s", text)
	}
	if n := tx.NumOperations(); n > 6 {
		t.Errorf("one endpoint removal took %d operations, want <= 6:\n%s", n, text)
	}
	same := Incremental(knftables.NewFake(knftables.IPv4Family, proxy.TableName).NewTransaction(), &after, &after)
	if n := same.NumOperations(); n != 0 {
		t.Errorf("no-op sync took %d operations:\n%s", n, same.String())
	}
}
