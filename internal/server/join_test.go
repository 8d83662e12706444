package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"skiff/internal/node"
	"skiff/internal/pki"
)

func TestJoin(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	token, err := ca.LoadOrCreateJoinToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", ServiceCIDR: "10.43.0.0/16", Logger: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	for p, h := range joinHandlers(cfg, ca, token) {
		mux.Handle(p, h)
	}
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	ctx := context.Background()

	caPEM, err := node.FetchClusterCA(ctx, srv.URL, token)
	if err != nil {
		t.Fatalf("fetch CA: %v", err)
	}
	wrongHash := token
	wrongHash.CAHash = strings.Repeat("0", 64)
	if _, err := node.FetchClusterCA(ctx, srv.URL, wrongHash); err == nil || !strings.Contains(err.Error(), "wrong server or token") {
		t.Errorf("a token for another CA: %v", err)
	}

	var keys [3]pki.KeyAndCSR
	for i := range keys {
		if keys[i], err = pki.NewKeyAndCSR("n1"); err != nil {
			t.Fatal(err)
		}
	}
	req := node.JoinRequest{NodeName: "n1", NodeIPs: []string{"192.0.2.9"},
		NodeCSR: string(keys[0].CSRPEM), ProxyCSR: string(keys[1].CSRPEM), ServingCSR: string(keys[2].CSRPEM)}
	// node.RequestJoin trusts only the cluster CA; the test server's own
	// certificate is not signed by it, so these calls go through a client
	// that trusts the test server instead.
	post := func(tok pki.JoinToken, r node.JoinRequest) (node.JoinResponse, error) {
		return node.RequestJoin(ctx, srv.URL, tok, pemOf(srv.Certificate()), r)
	}
	bad := token
	bad.Secret = "nope"
	if _, err := post(bad, req); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong secret: %v", err)
	}
	badName := req
	badName.NodeName = "Not_A_Name"
	if _, err := post(token, badName); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("a bad node name: %v", err)
	}
	badCSR := req
	badCSR.ProxyCSR = "junk"
	if _, err := post(token, badCSR); err == nil {
		t.Error("a junk certificate request was signed")
	}
	resp, err := post(token, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.CA != string(caPEM) || resp.ClusterDNS != "10.43.0.10" || resp.ServiceCIDR != "10.43.0.0/16" {
		t.Errorf("settings %+v", resp)
	}
	for _, c := range []struct {
		pem, cn string
		usage   x509.ExtKeyUsage
	}{
		{resp.NodeCert, "system:node:n1", x509.ExtKeyUsageClientAuth},
		{resp.ProxyCert, "system:kube-proxy", x509.ExtKeyUsageClientAuth},
		{resp.ServingCert, "n1", x509.ExtKeyUsageServerAuth},
	} {
		block, _ := pem.Decode([]byte(c.pem))
		if block == nil {
			t.Fatalf("no certificate for %s", c.cn)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != c.cn {
			t.Errorf("CN %q, want %q", cert.Subject.CommonName, c.cn)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s does not verify: %v", c.cn, err)
		}
	}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
