package pki

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestJoinToken(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ca.LoadOrCreateJoinToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ca.LoadOrCreateJoinToken(dir)
	if err != nil || again != tok {
		t.Fatalf("a second load gave %v (%v), want the same token %v", again, err, tok)
	}
	parsed, err := ParseJoinToken(tok.String() + "\n")
	if err != nil || parsed != tok {
		t.Fatalf("ParseJoinToken(String()) = %v, %v", parsed, err)
	}
	if parsed.CAHash != CertHash(ca.Cert.Raw) {
		t.Errorf("token hash %s is not the CA's", parsed.CAHash)
	}
	if !parsed.MatchesSecret(tok.Secret) || parsed.MatchesSecret(tok.Secret+"x") || parsed.MatchesSecret("") {
		t.Error("MatchesSecret accepts the wrong secret or refuses the right one")
	}
	for _, bad := range []string{"", "abc", "skiff1::" + tok.CAHash, "skiff2::" + tok.CAHash + "::s", "skiff1::xyz::s",
		"skiff1::" + strings.Repeat("g", 64) + "::s", "skiff1::" + tok.CAHash + "::"} {
		if _, err := ParseJoinToken(bad); err == nil {
			t.Errorf("ParseJoinToken(%q) succeeded", bad)
		}
	}
}

func TestCertificatesFromCSR(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := NewKeyAndCSR("asked-for-name")
	if err != nil {
		t.Fatal(err)
	}
	// The request's subject is ignored: the CA decides who the node is.
	certPEM, err := ca.ClientCertFromCSR(kc.CSRPEM, "system:node:n1", []string{"system:nodes"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := WritePair(filepath.Join(dir, "node"), "node", certPEM, kc.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !PairValid(filepath.Join(dir, "ca.crt"), certFile, keyFile) {
		t.Error("the signed pair is not valid against the CA")
	}
	cert := parsePEMCert(t, certPEM)
	if cert.Subject.CommonName != "system:node:n1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}

	serving, err := ca.ServingCertFromCSR(kc.CSRPEM, "n1", SANs{DNSNames: []string{"n1"}, IPs: []net.IP{net.IPv4(192, 0, 2, 7)}})
	if err != nil {
		t.Fatal(err)
	}
	sc := parsePEMCert(t, serving)
	if _, err := sc.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "n1"}); err != nil {
		t.Errorf("serving certificate does not verify for n1: %v", err)
	}
	if err := sc.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("serving certificate lacks the node IP: %v", err)
	}

	// Anything but a signed request is refused.
	if _, err := ca.ClientCertFromCSR([]byte("junk"), "u", nil); err == nil {
		t.Error("junk accepted as a request")
	}
	block, _ := pem.Decode(kc.CSRPEM)
	block.Bytes[len(block.Bytes)-1] ^= 0xff
	if _, err := ca.ClientCertFromCSR(pem.EncodeToMemory(block), "u", nil); err == nil {
		t.Error("a request with a broken signature was signed")
	}
	// A pair from another CA is not valid.
	other := t.TempDir()
	if _, err := LoadOrCreateCA(other); err != nil {
		t.Fatal(err)
	}
	if PairValid(filepath.Join(other, "ca.crt"), certFile, keyFile) {
		t.Error("the pair is valid against another CA")
	}
}

func parsePEMCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
