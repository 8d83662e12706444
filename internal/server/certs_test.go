package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clocktesting "k8s.io/utils/clock/testing"

	"skiff/internal/pki"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestCertificatesRenewedWithoutRestart runs a server whose certificates
// were issued, by a fake clock, 250 days ago: a year-long certificate is
// due at two thirds of its life, 243 days. Moving the clock to the present
// must make the renewal loop replace every one, and what holds them in
// memory serve the new ones, while the clients keep working. Issuing them
// in the past keeps both generations valid for the real clock that TLS
// checks them by.
func TestCertificatesRenewedWithoutRestart(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now().Add(-250 * 24 * time.Hour))
	s := servertest.Start(t, func(cfg *server.Config) {
		cfg.Clock = clk
		cfg.DisableAgent = false
		cfg.SimulateAgent = true
		cfg.NodeName = "host-a"
		cfg.Disable = []string{"controllers", "proxy", "dns", "ingress"}
	})
	tlsDir := filepath.Join(s.DataDir, "tls")
	files := []string{
		"serving-kube-apiserver", "client-admin", "client-system-kube-scheduler",
		"client-system-node-host-a", "serving-kubelet",
		"client-kube-apiserver-kubelet",
		"etcd/server", "etcd/peer", "etcd/apiserver-etcd-client",
		"front-proxy/front-proxy-client",
	}
	// The node issues its certificates as it starts; wait for it.
	var kubeletAddr string
	servertest.Wait(t, "node host-a with its kubelet endpoint", func(ctx context.Context) (bool, error) {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, "host-a", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		// The kubelet API listens on every address; loopback will do.
		if port := n.Status.DaemonEndpoints.KubeletEndpoint.Port; port != 0 {
			kubeletAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
			return true, nil
		}
		return false, nil
	})
	before := map[string]*big.Int{}
	for _, f := range files {
		cert := readCertFile(t, filepath.Join(tlsDir, f+".crt"))
		if time.Now().Before(pki.RenewAt(cert)) {
			t.Fatalf("%s: due at %v, want it issued by the fake clock in the past", f, pki.RenewAt(cert))
		}
		before[f] = cert.SerialNumber
	}
	if got := servedSerial(t, s.URL(), ""); got.Cmp(before["serving-kube-apiserver"]) != 0 {
		t.Fatalf("API server serves serial %v, want the one on disk %v", got, before["serving-kube-apiserver"])
	}

	clk.SetTime(time.Now())

	servertest.Wait(t, "every certificate renewed", func(context.Context) (bool, error) {
		for _, f := range files {
			cert, err := parseCertFile(filepath.Join(tlsDir, f+".crt"))
			if err != nil {
				return false, err
			}
			if cert.SerialNumber.Cmp(before[f]) == 0 {
				return false, fmt.Errorf("%s not renewed yet", f)
			}
			if !time.Now().Before(pki.RenewAt(cert)) {
				return false, fmt.Errorf("%s renewed but due already", f)
			}
		}
		return true, nil
	})
	current := func(f string) *big.Int { return readCertFile(t, filepath.Join(tlsDir, f+".crt")).SerialNumber }

	servertest.Wait(t, "API server serving the renewed certificate", func(context.Context) (bool, error) {
		return servedSerial(t, s.URL(), "").Cmp(current("serving-kube-apiserver")) == 0, nil
	})
	// The client made before the renewal goes on working, and so does one
	// made now from admin.kubeconfig, which presents the renewed pair.
	if _, err := s.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("admin client made before the renewal: %v", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("admin client from admin.kubeconfig after the renewal: %v", err)
	}
	if err := getWithPair(s.URL()+"/api/v1/namespaces", filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "client-admin")); err != nil {
		t.Errorf("renewed admin certificate: %v", err)
	}

	// The embedded etcd reads its files at every handshake.
	etcdURL, err := url.Parse(s.EtcdClientURL())
	if err != nil {
		t.Fatal(err)
	}
	etcdClient := filepath.Join(tlsDir, "etcd", "apiserver-etcd-client")
	if got := servedSerial(t, etcdURL.Host, etcdClient); got.Cmp(current("etcd/server")) != 0 {
		t.Errorf("etcd serves serial %v, want the renewed %v", got, current("etcd/server"))
	}

	// The node's kubelet API (its reloader looks at the files every ten
	// seconds) serves the renewed certificate to the API server's renewed
	// client certificate.
	servertest.Wait(t, "kubelet API serving the renewed certificate", func(context.Context) (bool, error) {
		got := servedSerial(t, kubeletAddr, filepath.Join(tlsDir, "client-kube-apiserver-kubelet"))
		return got.Cmp(current("serving-kubelet")) == 0, nil
	})
}

// servedSerial returns the serial of the certificate served at addr (a URL
// or host:port), presenting pair.crt and pair.key unless pair is empty.
func servedSerial(t *testing.T, addr, pair string) *big.Int {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		addr = u.Host
	}
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only the serial is looked at
	if pair != "" {
		kp, err := tls.LoadX509KeyPair(pair+".crt", pair+".key")
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// getWithPair GETs url over a new connection that verifies the server with
// caFile and presents pair.crt and pair.key.
func getWithPair(url, caFile, pair string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	kp, err := tls.LoadX509KeyPair(pair+".crt", pair+".key")
	if err != nil {
		return err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func parseCertFile(path string) (*x509.Certificate, error) {
	certs, err := pki.ReadCertFile(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func readCertFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	c, err := parseCertFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRotateCAOnRunningServer rotates the cluster CA under a running
// server: once its renewal loop has looked (the fake clock is moved past
// its hourly wait), it serves a certificate of the new CA that verifies
// for a client trusting only the new CA and for one trusting only the old
// (through the cross-signed certificate), and a client certificate of the
// old CA is still accepted.
func TestRotateCAOnRunningServer(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now().Add(-2 * time.Hour))
	s := servertest.Start(t, func(cfg *server.Config) { cfg.Clock = clk })
	tlsDir := filepath.Join(s.DataDir, "tls")
	oldCA := readCertFile(t, filepath.Join(tlsDir, "ca.crt"))
	oldPEM, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	// Keep the old CA's admin pair, as a client elsewhere would hold it.
	oldPair := filepath.Join(t.TempDir(), "old-admin")
	for _, ext := range []string{".crt", ".key"} {
		b, err := os.ReadFile(filepath.Join(tlsDir, "client-admin"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(oldPair+ext, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	newCA, err := server.RotateCA(s.DataDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clk.SetTime(time.Now())

	pool := func(certs ...*x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		for _, c := range certs {
			p.AddCert(c)
		}
		return p
	}
	addr := strings.TrimPrefix(s.URL(), "https://")
	servertest.Wait(t, "API server serving a certificate of the new CA", func(context.Context) (bool, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(newCA.Cert), MinVersion: tls.VersionTLS12})
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(oldCA), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("a client trusting only the old CA: %v", err)
	}
	conn.Close()

	// Clients trusting only the old CA, only the new, or the bundle all
	// list with the renewed admin pair; the old CA's pair is accepted.
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	newPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: newCA.Cert.Raw})
	for name, caPEM := range map[string][]byte{"old CA": oldPEM, "new CA": newPEM} {
		c := rest.CopyConfig(rc)
		c.CAFile, c.CAData = "", caPEM
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
			t.Errorf("client trusting the %s: %v", name, err)
		}
	}
	if _, err := s.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Errorf("admin client made before the rotation: %v", err)
	}
	if err := getWithPair(s.URL()+"/api/v1/namespaces", filepath.Join(tlsDir, "ca.crt"), oldPair); err != nil {
		t.Errorf("the old CA's admin certificate: %v", err)
	}
	if err := readCertFile(t, filepath.Join(tlsDir, "client-admin.crt")).CheckSignatureFrom(newCA.Cert); err != nil {
		t.Errorf("admin certificate not renewed by the new CA: %v", err)
	}
}
