package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/node"
	"skiff/internal/pki"
)

// memCluster is a joinCluster over maps, for the join protocol's rules.
type memCluster struct {
	mu      sync.Mutex
	secrets map[string]*corev1.Secret
	nodes   []*corev1.Node
}

func (c *memCluster) Secret(name string) (*corev1.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[name]
	return s, ok
}

func (c *memCluster) Nodes() []*corev1.Node { return c.nodes }

func (c *memCluster) GetSecret(_ context.Context, name string) (*corev1.Secret, error) {
	if s, ok := c.Secret(name); ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (c *memCluster) CreateSecret(_ context.Context, s *corev1.Secret) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.secrets[s.Name]; ok {
		return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, s.Name)
	}
	c.secrets[s.Name] = s
	return nil
}

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
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	bootstrap := func(id, secret string, expires time.Time, usages ...string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: pki.BootstrapTokenSecretPrefix + id, Namespace: "kube-system"},
			Type: pki.BootstrapTokenSecretType, Data: map[string][]byte{
				pki.BootstrapTokenIDKey: []byte(id), pki.BootstrapTokenSecretKey: []byte(secret),
				pki.BootstrapTokenExpirationKey: []byte(expires.Format(time.RFC3339))}}
		for _, u := range usages {
			s.Data[u] = []byte("true")
		}
		return s
	}
	cluster := &memCluster{secrets: map[string]*corev1.Secret{
		"bootstrap-token-abcdef": bootstrap("abcdef", "0123456789abcdef", now.Add(time.Hour), pki.BootstrapTokenUsageAuth),
		"bootstrap-token-oldold": bootstrap("oldold", "0123456789abcdef", now.Add(-time.Minute), pki.BootstrapTokenUsageAuth),
		"bootstrap-token-signer": bootstrap("signer", "0123456789abcdef", now.Add(time.Hour), "usage-bootstrap-signing"),
	}, nodes: []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "server-node"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}}}},
	}}
	cfg := Config{ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", ServiceCIDR: "10.43.0.0/16",
		AdvertiseAddress: net.ParseIP("192.0.2.100"), Logger: slog.New(slog.DiscardHandler)}
	j := &joiner{cfg: cfg, ca: ca, tlsDir: dir, cluster: cluster, now: func() time.Time { return now }}
	mux := http.NewServeMux()
	for p, h := range j.handlers() {
		mux.Handle(p, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	srv.StartTLS()
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

	request := func(name string, ips ...string) (node.JoinRequest, [4]pki.KeyAndCSR) {
		var keys [4]pki.KeyAndCSR
		for i := range keys {
			if keys[i], err = pki.NewKeyAndCSR(name); err != nil {
				t.Fatal(err)
			}
		}
		return node.JoinRequest{NodeName: name, NodeIPs: ips, NodePassword: "password-of-the-node-" + name,
			NodeCSR: string(keys[0].CSRPEM), ProxyCSR: string(keys[1].CSRPEM), ServingCSR: string(keys[2].CSRPEM),
			IngressCSR: string(keys[3].CSRPEM)}, keys
	}
	req, keys := request("n1", "192.0.2.9")
	// node.RequestJoin trusts only the cluster CA; the test server's own
	// certificate is not signed by it, so these calls go through a client
	// that trusts the test server instead.
	post := func(tok pki.JoinToken, r node.JoinRequest) (node.JoinResponse, error) {
		return node.RequestJoin(ctx, srv.URL, tok, pemOf(srv.Certificate()), r)
	}
	with := func(secret string) pki.JoinToken { t := token; t.Secret = secret; return t }
	refused := func(what string, tok pki.JoinToken, r node.JoinRequest, status string) {
		t.Helper()
		if _, err := post(tok, r); err == nil || !strings.Contains(err.Error(), status) {
			t.Errorf("%s: got %v, want %s", what, err, status)
		}
	}
	refused("a wrong secret", with("nope"), req, "401")
	refused("an expired bootstrap token", with("oldold.0123456789abcdef"), req, "401")
	refused("a bootstrap token for signing only", with("signer.0123456789abcdef"), req, "401")
	refused("a bootstrap token with a wrong secret", with("abcdef.0123456789abcdee"), req, "401")
	badName := req
	badName.NodeName = "Not_A_Name"
	refused("a bad node name", token, badName, "400")
	badCSR := req
	badCSR.ProxyCSR = "junk"
	refused("a junk certificate request", token, badCSR, "400")
	for _, ips := range [][]string{{"127.0.0.1"}, {"10.43.0.1"}, {"192.0.2.100"}, {"192.0.2.1"}, {"192.0.2.9", "0.0.0.0"}} {
		r, _ := request("n9", ips...)
		refused("serving addresses "+strings.Join(ips, ","), token, r, "403")
	}
	apiName, _ := request("kubernetes.default.svc", "192.0.2.20")
	refused("the API server's name", token, apiName, "403")
	serverNode, _ := request("server-node", "192.0.2.1")
	refused("the name of a node that joined without a password", token, serverNode, "403")

	resp, err := post(token, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.CA != string(caPEM) || resp.ClusterDNS != "10.43.0.10" || resp.ServiceCIDR != "10.43.0.0/16" {
		t.Errorf("settings %+v", resp)
	}
	certs := map[string]*x509.Certificate{}
	for _, c := range []struct {
		pem, cn string
		usage   x509.ExtKeyUsage
	}{
		{resp.NodeCert, "system:node:n1", x509.ExtKeyUsageClientAuth},
		{resp.ProxyCert, "system:kube-proxy", x509.ExtKeyUsageClientAuth},
		{resp.IngressCert, "system:skiff-ingress", x509.ExtKeyUsageClientAuth},
		{resp.ServingCert, "n1", x509.ExtKeyUsageServerAuth},
	} {
		cert := parseCert(t, c.pem)
		certs[c.cn] = cert
		if cert.Subject.CommonName != c.cn {
			t.Errorf("CN %q, want %q", cert.Subject.CommonName, c.cn)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s does not verify: %v", c.cn, err)
		}
	}
	if s := certs["n1"]; len(s.DNSNames) != 1 || s.DNSNames[0] != "n1" || len(s.IPAddresses) != 1 || !s.IPAddresses[0].Equal(net.ParseIP("192.0.2.9")) {
		t.Errorf("serving certificate names %v %v, want only n1 and 192.0.2.9", s.DNSNames, s.IPAddresses)
	}

	// The name is n1's now: the same password joins again, another does not.
	again, _ := request("n1", "192.0.2.9")
	if _, err := post(token, again); err != nil {
		t.Errorf("n1 joining again with its password: %v", err)
	}
	thief := again
	thief.NodePassword = "another-hosts-password"
	refused("n1's name with another password", token, thief, "403")
	// A bootstrap token joins a new node.
	n2, _ := request("n2", "192.0.2.10")
	if _, err := post(with("abcdef.0123456789abcdef"), n2); err != nil {
		t.Errorf("join with a bootstrap token: %v", err)
	}
	// Rotating the static token stops the old one at once.
	rotated, err := ca.RotateJoinToken(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	n3, _ := request("n3", "192.0.2.11")
	refused("the token before rotation", token, n3, "401")
	if _, err := post(rotated, n3); err != nil {
		t.Errorf("join with the rotated token: %v", err)
	}

	// Renewal needs the node's own client certificate.
	renew := func(r node.JoinRequest, cert string, key []byte) (node.JoinResponse, error) {
		var certs []tls.Certificate
		if cert != "" {
			pair, err := tls.X509KeyPair([]byte(cert), key)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, pair)
		}
		return node.PostJoin(ctx, srv.URL, node.RenewPath, "", pemOf(srv.Certificate()), certs, r)
	}
	r1, _ := request("n1", "192.0.2.9")
	if _, err := renew(r1, "", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("renewal without a certificate: %v", err)
	}
	if _, err := renew(r1, resp.ProxyCert, keys[1].KeyPEM); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("renewal with the proxy's certificate: %v", err)
	}
	r2, _ := request("n2", "192.0.2.10")
	if _, err := renew(r2, resp.NodeCert, keys[0].KeyPEM); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("n1 renewing n2's certificates: %v", err)
	}
	renewed, err := renew(r1, resp.NodeCert, keys[0].KeyPEM)
	if err != nil {
		t.Fatalf("n1 renewing its own certificates: %v", err)
	}
	if c := parseCert(t, renewed.NodeCert); c.Subject.CommonName != "system:node:n1" || c.SerialNumber.Cmp(certs["system:node:n1"].SerialNumber) == 0 {
		t.Errorf("renewed client certificate %q serial %v", c.Subject.CommonName, c.SerialNumber)
	}
}

func parseCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("no certificate in %q", s)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
