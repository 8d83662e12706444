package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"skiff/internal/etcd"
	"skiff/internal/pki"
)

// The embedded etcd member's default URLs: loopback only, over TLS.
const (
	defaultEtcdClientURL = "https://127.0.0.1:2379"
	defaultEtcdPeerURL   = "https://127.0.0.1:2380"
	// etcdClientName names the API server's client certificate for etcd.
	etcdClientName = "apiserver-etcd-client"
)

// setUpEtcdPKI loads or creates the embedded etcd's own CA under
// <data-dir>/tls/etcd (apart from the cluster CA, so that no cluster
// certificate opens etcd), the member's serving and peer certificates for
// loopback and the URLs' hosts, and the API server's client certificate.
func setUpEtcdPKI(certs *serverCerts, dataDir, clientURL, peerURL string) (*etcd.TLS, error) {
	dir := filepath.Join(dataDir, "tls", "etcd")
	sans := pki.SANs{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	for _, raw := range []string{clientURL, peerURL} {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("etcd url %q: %w", raw, err)
		}
		switch ip := net.ParseIP(u.Hostname()); {
		case ip == nil:
			sans = sans.Merge(pki.SANs{DNSNames: []string{u.Hostname()}})
		case ip.IsUnspecified():
			sans = sans.Merge(pki.HostSANs())
		default:
			sans = sans.Merge(pki.SANs{IPs: []net.IP{ip}})
		}
	}
	// The member reads its files at every handshake (etcd's
	// transport.TLSInfo), so renewed ones are served at once; its CA pool
	// is read at start only.
	t := &etcd.TLS{CAFile: filepath.Join(dir, "ca.crt")}
	var err error
	if t.CertFile, t.KeyFile, _, err = certs.issue(pki.Leaf{CADir: dir, Dir: dir, Name: "server", Kind: pki.ServingLeaf, SANs: sans}); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if t.PeerCertFile, t.PeerKeyFile, _, err = certs.issue(pki.Leaf{CADir: dir, Dir: dir, Name: "peer", Kind: pki.PeerLeaf, SANs: sans}); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	if _, _, _, err := certs.issue(pki.Leaf{CADir: dir, Dir: dir, Name: etcdClientName, Kind: pki.ClientLeaf, User: etcdClientName}); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return t, nil
}

// etcdClientTLS is the TLS config for an external etcd from
// --etcd-cafile, --etcd-certfile and --etcd-keyfile; nil when none is set
// (plain http endpoints).
func etcdClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("etcd client certificate: --etcd-certfile and --etcd-keyfile go together")
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("etcd ca: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd ca: no certificate in %s", caFile)
		}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// setUpPKI loads or creates the CA, the serving certificate and the admin
// credentials, writes the admin kubeconfig, and returns the TLS config the
// API server serves with: it serves the serving certificate the renewal
// loop last wrote.
func setUpPKI(certs *serverCerts, cfg Config, serviceCIDR *net.IPNet, port int) (*tls.Config, string, string, error) {
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	first := make(net.IP, len(serviceCIDR.IP.To4()))
	copy(first, serviceCIDR.IP.To4())
	first[len(first)-1]++
	sans := pki.DefaultAPIServerSANs(first, cfg.ClusterDomain).Merge(pki.HostSANs()).Merge(pki.ParseSANs(cfg.TLSSANs))
	serving, ca, err := certs.reloader(pki.Leaf{CADir: tlsDir, Dir: tlsDir, Name: "serving-kube-apiserver", Kind: pki.ServingLeaf, SANs: sans})
	if err != nil {
		return nil, "", "", fmt.Errorf("serving certificate: %w", err)
	}
	adminCert, adminKey, _, err := certs.issue(pki.Leaf{CADir: tlsDir, Dir: tlsDir, Name: "client-admin", Kind: pki.ClientLeaf,
		User: "system:admin", Groups: []string{"system:masters"}})
	if err != nil {
		return nil, "", "", fmt.Errorf("admin certificate: %w", err)
	}
	// The kubeconfig names the files rather than embedding them, so that
	// it goes on working when the certificate is renewed or the CA
	// rotated.
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
	t := &tls.Config{
		GetCertificate: serving.GetCertificate,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      ca.Pool(),
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	return t, kc, ca.CertFile(), nil
}

// frontProxy is what the API server needs to proxy to extension API
// servers: the front-proxy CA they trust (published in
// kube-system/extension-apiserver-authentication) and the client
// certificate it signs (CN front-proxy-client).
type frontProxy struct {
	caPEM []byte
	cert  *pki.KeyPairReloader
}

// frontProxyClientName is the CN of the front-proxy client certificate,
// the only name extension API servers accept request headers from.
const frontProxyClientName = "front-proxy-client"

// setUpFrontProxy loads or creates the front-proxy CA, apart from the
// cluster CA as upstream keeps it (a certificate of the cluster CA must
// not be able to assert request headers), and its client certificate.
func setUpFrontProxy(certs *serverCerts, dataDir string) (*frontProxy, error) {
	dir := filepath.Join(dataDir, "tls", "front-proxy")
	pair, ca, err := certs.reloader(pki.Leaf{CADir: dir, Dir: dir, Name: frontProxyClientName, Kind: pki.ClientLeaf, User: frontProxyClientName})
	if err != nil {
		return nil, fmt.Errorf("front-proxy client certificate: %w", err)
	}
	return &frontProxy{caPEM: ca.CertPEM(), cert: pair}, nil
}

// RotateCA replaces the cluster CA under dataDir with a new one
// (pki.RotateCA: ca.crt becomes the bundle of the new CA and the old,
// ca-cross.crt the new CA signed by the old) and writes
// <data-dir>/node-token anew, since a join token names the CA's hash. A
// running server on dataDir signs nodes' certificates with the new CA at
// once and replaces its own within the hour (its renewal loop); a stopped
// one does both when it starts.
func RotateCA(dataDir string, now time.Time) (*pki.CA, error) {
	tlsDir := filepath.Join(dataDir, "tls")
	ca, err := pki.RotateCA(tlsDir, now)
	if err != nil {
		return nil, err
	}
	token, err := ca.LoadOrCreateJoinToken(tlsDir)
	if err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "node-token"), []byte(token.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	return ca, nil
}
