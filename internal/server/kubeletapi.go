package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"

	"skiff/internal/agent"
	"skiff/internal/pki"
)

// kubeletClientUser is the identity the API server presents to node
// agents; the agents accept no other.
const kubeletClientUser = "kube-apiserver-kubelet-client"

// kubeletClientTLS issues (or keeps) the API server's client certificate
// toward node agents and returns the TLS configuration it dials them with.
func kubeletClientTLS(dataDir string) (*tls.Config, error) {
	dir := filepath.Join(dataDir, "tls")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		return nil, fmt.Errorf("kubelet client: ca: %w", err)
	}
	certFile, keyFile, err := ca.IssueClient(dir, "client-kube-apiserver-kubelet", kubeletClientUser, nil)
	if err != nil {
		return nil, fmt.Errorf("kubelet client: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet client: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, nil
}

// agentServer builds this node's kubelet API (logs, exec, attach,
// port-forward) with a serving certificate from the cluster CA for the
// node's names and addresses; it admits only the API server's client
// certificate.
func agentServer(cfg Config, nodeName string, nodeIPs []string, client kubernetes.Interface, rt agent.Runtime) (*agent.Server, error) {
	certFile, keyFile, pool, err := kubeletServing(cfg, nodeName, nodeIPs)
	if err != nil {
		return nil, fmt.Errorf("agent server: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent server: %w", err)
	}
	streams, _ := rt.(agent.StreamURLs)
	return agent.NewServer(agent.ServerConfig{
		TLS: &tls.Config{
			Certificates: []tls.Certificate{pair},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		// Another node on this host (tests, skiff sim next to a server)
		// may hold 10250 already.
		AnyPortIfBusy: true,
		AllowedUsers:  []string{kubeletClientUser},
		NodeName:      nodeName,
		Client:        client,
		Runtime:       rt,
		Streams:       streams,
		LogDir:        filepath.Join(cfg.DataDir, "pods"),
		Logger:        cfg.Logger.With("component", "agent-server"),
	})
}

// kubeletServing returns the node's kubelet API serving certificate and
// the CA pool its clients must chain to: the credentials the node joined
// with, or (on a server, which holds the CA key) ones issued here.
func kubeletServing(cfg Config, nodeName string, nodeIPs []string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	if c := cfg.nodeTLS; c != nil {
		caPEM, err := os.ReadFile(c.caFile)
		if err != nil {
			return "", "", nil, err
		}
		pool = x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		return c.servingCert, c.servingKey, pool, nil
	}
	dir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		return "", "", nil, fmt.Errorf("ca: %w", err)
	}
	sans := pki.HostSANs().Merge(pki.SANs{DNSNames: []string{nodeName, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for _, ip := range nodeIPs {
		if p := net.ParseIP(ip); p != nil {
			sans = sans.Merge(pki.SANs{IPs: []net.IP{p}})
		}
	}
	certFile, keyFile, err = ca.IssueServing(dir, "serving-kubelet", sans)
	if err != nil {
		return "", "", nil, err
	}
	return certFile, keyFile, ca.Pool(), nil
}
