package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"skiff/internal/pki"
)

// TestCertificateCommands runs `skiff certificate check` and `rotate-ca`
// on a data dir: check lists each certificate with its status, rotate-ca
// leaves a bundle of both CAs and a new join token, and check then lists
// the bundle's CAs and the cross-signed one.
func TestCertificateCommands(t *testing.T) {
	dataDir := t.TempDir()
	tlsDir := filepath.Join(dataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.LoadOrCreateJoinToken(tlsDir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.IssueClient(tlsDir, "client-admin", "system:admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	// Issued 300 days ago: past two thirds of its year.
	ca.SetClock(func() time.Time { return time.Now().Add(-300 * 24 * time.Hour) })
	if _, _, err := ca.IssueServing(tlsDir, "serving-kube-apiserver", pki.SANs{DNSNames: []string{"localhost"}}); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := newCertificateCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append(args, "--data-dir", dataDir))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("certificate %v: %v", args, err)
		}
		return out.String()
	}
	// fileAndStatus keeps a table's first and last columns.
	fileAndStatus := func(table string) []string {
		lines := strings.Split(strings.TrimSpace(table), "\n")
		var out []string
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			out = append(out, f[0]+" "+f[len(f)-1])
		}
		return out
	}

	want := []string{"tls/ca.crt ca", "tls/client-admin.crt ok", "tls/serving-kube-apiserver.crt due"}
	if diff := cmp.Diff(want, fileAndStatus(run("check"))); diff != "" {
		t.Errorf("check (-want +got):\n%s", diff)
	}

	oldToken := readTrimmed(t, filepath.Join(dataDir, "tls", "join-token.secret"))
	run("rotate-ca")
	certs, err := pki.ReadCertFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[1].Equal(ca.Cert) || certs[0].Equal(ca.Cert) {
		t.Errorf("ca.crt after rotate-ca: want the new CA then the old one, got %d certificates", len(certs))
	}
	token, err := pki.ParseJoinToken(readTrimmed(t, filepath.Join(dataDir, "node-token")))
	if err != nil {
		t.Fatal(err)
	}
	if token.CAHash != pki.CertHash(certs[0].Raw) {
		t.Error("node-token does not name the new CA")
	}
	if !token.MatchesSecret(oldToken) {
		t.Error("rotate-ca changed the join token's secret")
	}
	t.Logf("after rotate-ca:\n%s", run("check"))
	want = []string{"tls/ca-cross.crt ca", "tls/ca.crt ca", "tls/ca.crt ca", "tls/client-admin.crt due(old-ca)", "tls/serving-kube-apiserver.crt due(old-ca)"}
	if diff := cmp.Diff(want, fileAndStatus(run("check"))); diff != "" {
		t.Errorf("check after rotate-ca (-want +got):\n%s", diff)
	}
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
