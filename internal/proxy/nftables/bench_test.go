package nftables

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	"skiff/internal/proxy"
	"skiff/internal/proxy/proxytest"
)

// BenchmarkKernelSync applies a 1,000-Service, 10,000-endpoint ruleset to
// the real kernel in a fresh namespace (root only): "full" loads it from
// scratch each time, "one-endpoint" flips one endpoint in and out through
// the incremental path. Both include Compute, as a real sync does.
func BenchmarkKernelSync(b *testing.B) {
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
	ctx := context.Background()
	big := proxytest.BigState(1000, 10)
	less := big
	less.EndpointSlices = append([]*discoveryv1.EndpointSlice(nil), big.EndpointSlices...)
	es := big.EndpointSlices[500].DeepCopy()
	es.Endpoints = es.Endpoints[1:]
	less.EndpointSlices[500] = es

	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			a, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			r := proxy.Compute(big)
			if err := a.Apply(ctx, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-endpoint", func(b *testing.B) {
		a, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
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
}
