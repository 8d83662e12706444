package pki

import (
	"context"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRenewAt(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &x509.Certificate{NotBefore: start, NotAfter: start.Add(300 * time.Hour)}
	if got, want := RenewAt(cert), start.Add(200*time.Hour); !got.Equal(want) {
		t.Errorf("RenewAt = %v, want %v", got, want)
	}
}

// TestRenewerRenewsAtTwoThirds walks a fake clock through a leaf's life:
// nothing is renewed before two thirds of it, everything after, and the
// pass says when the next renewal is due.
func TestRenewerRenewsAtTwoThirds(t *testing.T) {
	dir := t.TempDir()
	mustCA(t, dir)
	leaves := []Leaf{
		{CADir: dir, Dir: dir, Name: "serving", Kind: ServingLeaf, SANs: SANs{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}},
		{CADir: dir, Dir: dir, Name: "peer", Kind: PeerLeaf, SANs: SANs{DNSNames: []string{"localhost"}}},
		{CADir: dir, Dir: dir, Name: "client", Kind: ClientLeaf, User: "u", Groups: []string{"g"}},
	}
	start := time.Now()
	clk := clocktesting.NewFakeClock(start)
	r, err := NewRenewer(RenewerConfig{Leaves: func() []Leaf { return leaves }, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	names := func(ls []Leaf) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Name)
		}
		return out
	}
	serial := func() string { return readCert(t, filepath.Join(dir, "serving.crt")).SerialNumber.String() }

	renewed, next, err := r.RenewDue()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"serving", "peer", "client"}, names(renewed)); diff != "" {
		t.Errorf("first pass issued (-want +got):\n%s", diff)
	}
	cert := readCert(t, filepath.Join(dir, "serving.crt"))
	if want := RenewAt(cert); !next.Equal(want) {
		t.Errorf("next = %v, want %v", next, want)
	}
	first := serial()

	clk.SetTime(next.Add(-time.Minute))
	if renewed, _, err = r.RenewDue(); err != nil || len(renewed) != 0 {
		t.Fatalf("a minute before two thirds: renewed %v, err %v", names(renewed), err)
	}
	if serial() != first {
		t.Fatal("serving certificate replaced before it was due")
	}

	clk.SetTime(next)
	renewed, next2, err := r.RenewDue()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"serving", "peer", "client"}, names(renewed)); diff != "" {
		t.Errorf("at two thirds renewed (-want +got):\n%s", diff)
	}
	if serial() == first {
		t.Error("serving certificate not replaced at two thirds")
	}
	if !next2.After(next) {
		t.Errorf("next due %v is not after the renewal at %v", next2, next)
	}
	renewedCert := readCert(t, filepath.Join(dir, "client.crt"))
	if got := renewedCert.NotAfter.Sub(clk.Now()); got < leafValidity-time.Minute {
		t.Errorf("renewed certificate lives %v from now, want a year", got)
	}
}

// TestRotateCA checks both directions of trust during a CA rotation: a
// certificate of the old CA verifies against the new bundle, and one of
// the new CA verifies for a peer that trusts only the old CA, through the
// cross-signed certificate that follows it in its file.
func TestRotateCA(t *testing.T) {
	dir := t.TempDir()
	old := mustCA(t, dir)
	oldPool := old.Pool()
	oldLeaf, _, err := old.IssueClient(dir, "old-client", "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := RotateCA(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if next.Cert.Subject.String() == old.Cert.Subject.String() {
		t.Fatalf("the new CA has the old one's name %s", old.Cert.Subject)
	}
	if got := len(parseCerts(readFile(t, filepath.Join(dir, "ca.crt")))); got != 2 {
		t.Errorf("ca.crt holds %d certificates, want the new CA and the old", got)
	}
	reloaded := mustCA(t, dir)
	if !reloaded.Cert.Equal(next.Cert) {
		t.Error("LoadOrCreateCA after RotateCA does not return the new CA")
	}
	verify := func(file string, roots *x509.CertPool) error {
		certs := parseCerts(readFile(t, file))
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
	if err := verify(oldLeaf, reloaded.Pool()); err != nil {
		t.Errorf("old CA's certificate against the bundle: %v", err)
	}
	newLeaf, _, err := reloaded.IssueServing(dir, "new-serving", SANs{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(newLeaf, oldPool); err != nil {
		t.Errorf("new CA's certificate against the old CA only: %v", err)
	}
	newOnly := x509.NewCertPool()
	newOnly.AddCert(next.Cert)
	if err := verify(newLeaf, newOnly); err != nil {
		t.Errorf("new CA's certificate against the new CA only: %v", err)
	}
	// The old CA's leaf is due at once: it is not signed by the signing CA.
	if _, _, err := reloaded.IssueClient(dir, "old-client", "u", nil); err != nil {
		t.Fatal(err)
	}
	if err := readCert(t, oldLeaf).CheckSignatureFrom(next.Cert); err != nil {
		t.Errorf("old CA's client certificate not reissued by the new CA: %v", err)
	}
}

func TestCheckCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	start := time.Now()
	ca.SetClock(func() time.Time { return start })
	if _, _, err := ca.IssueClient(dir, "client-admin", "system:admin", []string{"system:masters"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.IssueServing(filepath.Join(dir, "sub"), "serving", SANs{DNSNames: []string{"localhost"}}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		File, Subject string
		CA, Due       bool
	}
	tests := []struct {
		name    string
		rotate  bool
		advance time.Duration
		want    []row
	}{
		{name: "fresh", want: []row{
			{"ca.crt", ca.Cert.Subject.String(), true, false},
			{"client-admin.crt", "CN=system:admin,O=system:masters", false, false},
			{"sub/serving.crt", "CN=serving", false, false},
		}},
		{name: "past two thirds", advance: 250 * 24 * time.Hour, want: []row{
			{"ca.crt", ca.Cert.Subject.String(), true, false},
			{"client-admin.crt", "CN=system:admin,O=system:masters", false, true},
			{"sub/serving.crt", "CN=serving", false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckCertificates(dir, start.Add(tt.advance))
			if err != nil {
				t.Fatal(err)
			}
			var rows []row
			for _, s := range got {
				rel, _ := filepath.Rel(dir, s.File)
				rows = append(rows, row{rel, s.Subject, s.CA, s.Due})
				if s.Expired {
					t.Errorf("%s: expired", rel)
				}
			}
			if diff := cmp.Diff(tt.want, rows); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// After a rotation ca.crt is a bundle of two CAs, both listed, and
	// ca-cross.crt is listed as a CA too.
	if _, err := RotateCA(dir, start); err != nil {
		t.Fatal(err)
	}
	got, err := CheckCertificates(dir, start)
	if err != nil {
		t.Fatal(err)
	}
	cas := 0
	for _, s := range got {
		if s.CA {
			cas++
		}
	}
	if cas != 3 {
		t.Errorf("after a rotation %d CA certificates listed, want 3 (the bundle's two and the cross-signed one)", cas)
	}
}

// TestRenewerRun runs the loop on a fake clock: it renews a leaf once the
// clock passes two thirds of its life, and tells Renewed.
func TestRenewerRun(t *testing.T) {
	dir := t.TempDir()
	mustCA(t, dir)
	leaf := Leaf{CADir: dir, Dir: dir, Name: "client", Kind: ClientLeaf, User: "u"}
	clk := clocktesting.NewFakeClock(time.Now())
	renewed := make(chan string, 10)
	r, err := NewRenewer(RenewerConfig{
		Leaves:  func() []Leaf { return []Leaf{leaf} },
		Renewed: func(l Leaf) { renewed <- l.Name },
		Clock:   clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if got := <-renewed; got != "client" {
		t.Fatalf("first pass issued %q", got)
	}
	first := readCert(t, leaf.CertFile())
	// Move the clock a month at a time until the leaf is due, each time
	// once the loop waits again (it sleeps an hour at most).
	for !clk.Now().After(RenewAt(first)) {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(30 * 24 * time.Hour)
	}
	if got := <-renewed; got != "client" {
		t.Fatalf("renewed %q", got)
	}
	if readCert(t, leaf.CertFile()).SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("Renewed called but the certificate on disk is the old one")
	}
}
