package nftables

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"skiff/internal/proxy"
	"skiff/internal/proxy/proxytest"
)

// benchStates returns a cluster of services Services with 10 endpoints
// each, and the same cluster less one endpoint of one Service.
func benchStates(services int) (big, less proxy.State) {
	big = proxytest.BigState(services, 10)
	less = big
	less.EndpointSlices = append([]*discoveryv1.EndpointSlice(nil), big.EndpointSlices...)
	i := services / 2
	es := big.EndpointSlices[i].DeepCopy()
	es.Endpoints = es.Endpoints[1:]
	less.EndpointSlices[i] = es
	return big, less
}

// BenchmarkTransaction measures building the nft transaction of a sync,
// without running it: "full" from an empty table, "one-endpoint" the
// incremental change when one endpoint of a 1,000-Service,
// 10,000-endpoint cluster goes away, and "compute-one-endpoint" the whole
// CPU side of that change in a real sync (Compute, then the diff). ops/op
// is the transaction's size.
func BenchmarkTransaction(b *testing.B) {
	big, less := benchStates(1000)
	rBig, rLess := proxy.Compute(big), proxy.Compute(less)
	nft := knftables.NewFake(knftables.IPv4Family, proxy.TableName)
	b.Run("full", func(b *testing.B) {
		var ops int
		for b.Loop() {
			ops = FullSync(nft.NewTransaction(), nil, &rBig).NumOperations()
		}
		b.ReportMetric(float64(ops), "ops/op")
	})
	b.Run("one-endpoint", func(b *testing.B) {
		var ops int
		for b.Loop() {
			ops = Incremental(nft.NewTransaction(), &rBig, &rLess).NumOperations()
		}
		b.ReportMetric(float64(ops), "ops/op")
	})
	b.Run("compute-one-endpoint", func(b *testing.B) {
		for b.Loop() {
			r := proxy.Compute(less)
			Incremental(nft.NewTransaction(), &rBig, &r)
		}
	})
}

// BenchmarkKernelSync applies a 1,000-Service, 10,000-endpoint ruleset to
// the real kernel in a fresh network namespace (root only). "full" loads
// it into an empty table and "one-endpoint" flips one endpoint out and
// back in through the incremental path, both including Compute as a real
// sync does; "apply-full" and "apply-one-endpoint" time Apply alone on
// rulesets computed beforehand, and "apply-resync" is the first Apply of a
// restarted proxy over a table that already holds the ruleset.
// "apply-one-endpoint/services=N" repeats the incremental apply for
// clusters of N Services: a change that costs the same at every size is
// proportional to the change, not to the cluster.
func BenchmarkKernelSync(b *testing.B) {
	kernelNamespace(b)
	ctx := context.Background()
	big, less := benchStates(1000)
	rBig, rLess := proxy.Compute(big), proxy.Compute(less)

	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			deleteTable(b)
			b.StartTimer()
			a := newApplier(b)
			r := proxy.Compute(big)
			if err := a.Apply(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apply-full", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			deleteTable(b)
			a := newApplier(b)
			r := rBig
			b.StartTimer()
			if err := a.Apply(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apply-resync", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			a := newApplier(b)
			r := rBig
			b.StartTimer()
			if err := a.Apply(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-endpoint", func(b *testing.B) {
		a := newApplier(b)
		r := proxy.Compute(big)
		if err := a.Apply(ctx, &r); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			st := big
			if i%2 == 0 {
				st = less
			}
			i++
			r := proxy.Compute(st)
			if err := a.Apply(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apply-one-endpoint", func(b *testing.B) {
		benchIncrementalApply(b, rBig, rLess)
	})
	for _, n := range []int{100, 1000, 3000} {
		b.Run(fmt.Sprintf("apply-one-endpoint/services=%d", n), func(b *testing.B) {
			big, less := benchStates(n)
			benchIncrementalApply(b, proxy.Compute(big), proxy.Compute(less))
		})
	}
}

// benchIncrementalApply loads one ruleset, then times Applys that go back
// and forth between it and other.
func benchIncrementalApply(b *testing.B, one, other proxy.Ruleset) {
	ctx := context.Background()
	a := newApplier(b)
	r := one
	if err := a.Apply(ctx, &r); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		r := one
		if i%2 == 0 {
			r = other
		}
		i++
		if err := a.Apply(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// deleteTable removes the proxy's table, if any, so that the next Apply
// starts from nothing.
func deleteTable(b *testing.B) {
	b.Helper()
	out, err := exec.Command("nft", "delete", "table", "ip", proxy.TableName).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file or directory") {
		b.Fatalf("nft delete table: %v: %s", err, out)
	}
}

func newApplier(b *testing.B) *Applier {
	b.Helper()
	a, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// kernelNamespace makes `nft` run in a network namespace of the
// benchmark's own, removed at cleanup, or skips when not root.
func kernelNamespace(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	realNFT, err := exec.LookPath("nft")
	if err != nil {
		b.Skip("needs nft")
	}
	ns := "skiff-proxybench-" + filepath.Base(b.TempDir())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	bin := b.TempDir()
	script := "#!/bin/sh\nexec ip netns exec " + ns + " " + realNFT + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "nft"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, _ := exec.LookPath("nft"); got != filepath.Join(bin, "nft") {
		b.Fatalf("nft resolves to %q, want the namespace wrapper", got)
	}
}
