package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"

	"skiff/internal/node"
	"skiff/internal/pki"
)

// kubeletClientTLS issues (or keeps) the API server's client certificate
// toward node agents and returns the TLS configuration it dials them with.
func kubeletClientTLS(certs *serverCerts, dataDir string) (*tls.Config, error) {
	dir := filepath.Join(dataDir, "tls")
	pair, ca, err := certs.reloader(pki.Leaf{CADir: dir, Dir: dir, Name: "client-kube-apiserver-kubelet", Kind: pki.ClientLeaf,
		User: node.KubeletClientUser})
	if err != nil {
		return nil, fmt.Errorf("kubelet client: %w", err)
	}
	return &tls.Config{GetClientCertificate: pair.GetClientCertificate, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, nil
}

// nodeCredentials are the credentials of the server's own node, issued
// from the cluster CA that the server holds.
type nodeCredentials struct{ s *Server }

var _ node.Credentials = nodeCredentials{}

func (c nodeCredentials) RESTConfig(user string) (*rest.Config, error) {
	if strings.HasPrefix(user, node.AgentUserPrefix) {
		return c.s.clientConfig(user, node.NodesGroup)
	}
	return c.s.clientConfig(user)
}

// KubeletServing issues a serving certificate for the node's names and
// addresses and the host's.
func (c nodeCredentials) KubeletServing(nodeName string, nodeIPs []string) (string, string, *x509.CertPool, error) {
	dir := filepath.Join(c.s.cfg.DataDir, "tls")
	sans := pki.HostSANs().Merge(pki.SANs{DNSNames: []string{nodeName, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for _, ip := range nodeIPs {
		if p := net.ParseIP(ip); p != nil {
			sans = sans.Merge(pki.SANs{IPs: []net.IP{p}})
		}
	}
	// The node's kubelet API reloads these files when they change.
	certFile, keyFile, ca, err := c.s.certs.issue(pki.Leaf{CADir: dir, Dir: dir, Name: "serving-kubelet", Kind: pki.ServingLeaf, SANs: sans})
	if err != nil {
		return "", "", nil, err
	}
	return certFile, keyFile, ca.Pool(), nil
}
