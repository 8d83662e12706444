package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"skiff/internal/pki"
)

// setUpPKI loads or creates the CA, the serving certificate and the admin
// credentials, writes the admin kubeconfig, and returns the TLS config the
// API server serves with.
func setUpPKI(cfg Config, serviceCIDR *net.IPNet, port int) (*tls.Config, string, string, error) {
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return nil, "", "", fmt.Errorf("ca: %w", err)
	}
	first := make(net.IP, len(serviceCIDR.IP.To4()))
	copy(first, serviceCIDR.IP.To4())
	first[len(first)-1]++
	sans := pki.DefaultAPIServerSANs(first, cfg.ClusterDomain).Merge(pki.HostSANs()).Merge(pki.ParseSANs(cfg.TLSSANs))
	certFile, keyFile, err := ca.IssueServing(tlsDir, "serving-kube-apiserver", sans)
	if err != nil {
		return nil, "", "", fmt.Errorf("serving certificate: %w", err)
	}
	adminCert, adminKey, err := ca.IssueClient(tlsDir, "client-admin", "system:admin", []string{"system:masters"})
	if err != nil {
		return nil, "", "", fmt.Errorf("admin certificate: %w", err)
	}
	kc := filepath.Join(cfg.DataDir, "admin.kubeconfig")
	err = pki.WriteKubeconfig(kc, pki.KubeconfigConfig{
		Server:         "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		CAFile:         ca.CertFile(),
		ClientCertFile: adminCert,
		ClientKeyFile:  adminKey,
	})
	if err != nil {
		return nil, "", "", fmt.Errorf("admin kubeconfig: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", "", fmt.Errorf("serving certificate: %w", err)
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	return t, kc, ca.CertFile(), nil
}

// frontProxy is what the API server needs to proxy to extension API
// servers: the front-proxy CA they trust (published in
// kube-system/extension-apiserver-authentication) and the client
// certificate it signs (CN front-proxy-client).
type frontProxy struct {
	caPEM []byte
	cert  tls.Certificate
}

// frontProxyClientName is the CN of the front-proxy client certificate,
// the only name extension API servers accept request headers from.
const frontProxyClientName = "front-proxy-client"

// setUpFrontProxy loads or creates the front-proxy CA, apart from the
// cluster CA as upstream keeps it (a certificate of the cluster CA must
// not be able to assert request headers), and its client certificate.
func setUpFrontProxy(dataDir string) (*frontProxy, error) {
	dir := filepath.Join(dataDir, "tls", "front-proxy")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		return nil, fmt.Errorf("front-proxy ca: %w", err)
	}
	certFile, keyFile, err := ca.IssueClient(dir, frontProxyClientName, frontProxyClientName, nil)
	if err != nil {
		return nil, fmt.Errorf("front-proxy client certificate: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("front-proxy client certificate: %w", err)
	}
	return &frontProxy{caPEM: ca.CertPEM(), cert: pair}, nil
}
