package nftables

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// netns makes a network namespace for the test and deletes it at cleanup.
func netns(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "skiff-proxytest-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// nftIn runs nft inside the namespace ns.
func nftIn(t *testing.T, ns, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v in %s: %v: %s", args, ns, err, out)
	}
	return string(out)
}

// TestKernel applies a sequence of rulesets with the real nft inside a
// network namespace the test makes and checks after each step that the
// kernel holds exactly what a fresh `nft -f` of the rendered ruleset
// creates in a second namespace. The host's own ruleset is never touched:
// the only `nft` the Applier finds on PATH is a wrapper that enters the
// test's namespace.
func TestKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	realNFT, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("needs nft")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip")
	}
	applied, reference := netns(t), netns(t)

	bin := t.TempDir()
	wrapper := filepath.Join(bin, "nft")
	script := "#!/bin/sh\nexec ip netns exec " + applied + " " + realNFT + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, err := exec.LookPath("nft"); err != nil || got != wrapper {
		t.Fatalf("nft resolves to %q (%v), want the namespace wrapper", got, err)
	}

	ctx := context.Background()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	// A leftover object from an "older version" that the first (full)
	// sync must remove.
	nftIn(t, applied, "add table ip skiff\nadd chain ip skiff stale-chain\nadd rule ip skiff stale-chain drop\n", "-f", "-")

	for _, s := range steps(t) {
		t.Run(s.name, func(t *testing.T) {
			if err := a.Apply(ctx, &s.r); err != nil {
				t.Fatal(err)
			}
			// nft 1.0.6 has no "destroy": add then delete empties the namespace.
			nftIn(t, reference, "add table ip skiff\ndelete table ip skiff\n", "-f", "-")
			nftIn(t, reference, s.r.Render(), "-f", "-")
			want := nftIn(t, reference, "", "list", "table", "ip", "skiff")
			got := nftIn(t, applied, "", "list", "table", "ip", "skiff")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kernel table differs from a fresh load (-fresh +applied):\n%s", diff)
			}
		})
	}
}
