package servertest

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/pki"
)

// NodeClient returns a client with the credentials node name gets when
// it joins the cluster: a client certificate from the cluster CA for
// system:node:<name> in the group system:nodes, signed from a request as
// the join protocol signs it. The Node authorizer and NodeRestriction
// admission hold it to that node's own objects.
func (s *Server) NodeClient(t testing.TB, name string) kubernetes.Interface {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(filepath.Join(s.DataDir, "tls"))
	if err != nil {
		t.Fatalf("node client: %v", err)
	}
	user := "system:node:" + name
	kc, err := pki.NewKeyAndCSR(user)
	if err != nil {
		t.Fatalf("node client: %v", err)
	}
	certPEM, err := ca.ClientCertFromCSR(kc.CSRPEM, user, []string{"system:nodes"})
	if err != nil {
		t.Fatalf("node client: %v", err)
	}
	// In memory, not files: client-go would watch files for renewal in a
	// goroutine that lives as long as the client's transport.
	c, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL(), QPS: -1, UserAgent: user,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM(), CertData: certPEM, KeyData: kc.KeyPEM}})
	if err != nil {
		t.Fatalf("node client: %v", err)
	}
	return c
}
