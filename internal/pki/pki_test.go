package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var serviceIP = net.IPv4(10, 43, 0, 1)

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Cert.Raw, second.Cert.Raw) {
		t.Error("second load returned a different CA certificate")
	}
	if !first.Key.(*ecdsa.PrivateKey).Equal(second.Key) {
		t.Error("second load returned a different CA key")
	}
	if !first.Cert.IsCA || first.Cert.CheckSignatureFrom(first.Cert) != nil {
		t.Error("CA certificate is not a self-signed CA")
	}
	if years := first.Cert.NotAfter.Sub(first.Cert.NotBefore).Hours() / 24 / 365; years < 9.99 {
		t.Errorf("CA valid for %.2f years, want 10", years)
	}
	if got := second.CertFile(); got != filepath.Join(dir, "ca.crt") {
		t.Errorf("CertFile() = %s", got)
	}
	checkMode(t, filepath.Join(dir, "ca.key"), 0o600)
	checkMode(t, filepath.Join(dir, "ca.crt"), 0o644)
}

func TestLoadOrCreateCABrokenFiles(t *testing.T) {
	tests := []struct {
		name    string
		break_  func(t *testing.T, dir string)
		wantErr string // empty: a new CA is made
	}{
		{
			name:    "cert without key",
			break_:  func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca.key")) },
			wantErr: "ca.key is missing",
		},
		{
			name:   "key without cert is an interrupted first start",
			break_: func(t *testing.T, dir string) { remove(t, filepath.Join(dir, "ca.crt")) },
		},
		{
			name:    "corrupt cert",
			break_:  func(t *testing.T, dir string) { write(t, filepath.Join(dir, "ca.crt"), "junk") },
			wantErr: "no PEM certificate",
		},
		{
			name: "key of another CA",
			break_: func(t *testing.T, dir string) {
				other := t.TempDir()
				if _, err := LoadOrCreateCA(other); err != nil {
					t.Fatal(err)
				}
				copyFile(t, filepath.Join(other, "ca.key"), filepath.Join(dir, "ca.key"))
			},
			wantErr: "does not match",
		},
		{
			name: "leaf certificate as CA",
			break_: func(t *testing.T, dir string) {
				ca, err := LoadOrCreateCA(dir)
				if err != nil {
					t.Fatal(err)
				}
				crt, key, err := ca.IssueClient(dir, "leaf", "u", nil)
				if err != nil {
					t.Fatal(err)
				}
				copyFile(t, crt, filepath.Join(dir, "ca.crt"))
				copyFile(t, key, filepath.Join(dir, "ca.key"))
			},
			wantErr: "not a CA certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			orig, err := LoadOrCreateCA(dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.break_(t, dir)
			ca, err := LoadOrCreateCA(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadOrCreateCA() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(ca.Cert.Raw, orig.Cert.Raw) {
				t.Error("want a new CA")
			}
		})
	}
}

func TestIssueServingVerifiesForEverySAN(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	sans := DefaultAPIServerSANs(serviceIP, "").
		Merge(HostSANs()).
		Merge(ParseSANs([]string{"api.example.com", "192.0.2.10", "2001:db8::1"}))
	certFile, keyFile, err := ca.IssueServing(dir, "apiserver", sans)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, keyFile, 0o600)
	cert := readCert(t, certFile)
	var names []string
	names = append(names, sans.DNSNames...)
	for _, ip := range sans.IPs {
		names = append(names, ip.String())
	}
	for _, want := range []string{
		"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "127.0.0.1", "::1", "10.43.0.1",
		"api.example.com", "192.0.2.10", "2001:db8::1",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("wanted SANs lack %s", want)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{
				DNSName:     name,
				Roots:       ca.Pool(),
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				CurrentTime: time.Now(),
			})
			if err != nil {
				t.Errorf("Verify(%s): %v", name, err)
			}
		})
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "not-a-san.example", Roots: ca.Pool()}); err == nil {
		t.Error("Verify accepted a name that is not a SAN")
	}
}

func TestIssueServingReuse(t *testing.T) {
	base := SANs{DNSNames: []string{"localhost", "kubernetes"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	tests := []struct {
		name        string
		sans        SANs
		useOtherCA  bool
		advance     time.Duration
		corrupt     string // file suffix to overwrite with junk before the second issue
		wantReissue bool
	}{
		{name: "same SANs", sans: base},
		{name: "fewer SANs", sans: SANs{DNSNames: []string{"KUBERNETES"}}},
		{name: "same SANs another order", sans: SANs{IPs: base.IPs, DNSNames: []string{"kubernetes", "localhost"}}},
		{name: "new DNS name", sans: base.Merge(SANs{DNSNames: []string{"new.example"}}), wantReissue: true},
		{name: "new IP", sans: base.Merge(SANs{IPs: []net.IP{net.ParseIP("192.0.2.1")}}), wantReissue: true},
		{name: "other CA", sans: base, useOtherCA: true, wantReissue: true},
		{name: "200 days on", sans: base, advance: 200 * 24 * time.Hour},
		{name: "240 days on, before two thirds", sans: base, advance: 240 * 24 * time.Hour},
		{name: "250 days on, past two thirds", sans: base, advance: 250 * 24 * time.Hour, wantReissue: true},
		{name: "300 days on", sans: base, advance: 300 * 24 * time.Hour, wantReissue: true},
		{name: "corrupt key", sans: base, corrupt: ".key", wantReissue: true},
		{name: "corrupt cert", sans: base, corrupt: ".crt", wantReissue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, dir)
			certFile, _, err := ca.IssueServing(dir, "apiserver", base)
			if err != nil {
				t.Fatal(err)
			}
			before := readFile(t, certFile)
			if tt.corrupt != "" {
				write(t, filepath.Join(dir, "apiserver"+tt.corrupt), "junk")
			}
			second := ca
			if tt.useOtherCA {
				second = mustCA(t, t.TempDir())
			}
			start := time.Now()
			second.now = func() time.Time { return start.Add(tt.advance) }
			certFile2, keyFile2, err := second.IssueServing(dir, "apiserver", tt.sans)
			if err != nil {
				t.Fatal(err)
			}
			if certFile2 != certFile {
				t.Errorf("cert file moved from %s to %s", certFile, certFile2)
			}
			reissued := !bytes.Equal(before, readFile(t, certFile2))
			if reissued != tt.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.wantReissue)
			}
			// Whatever happened, the pair on disk must now fit the request.
			cert := readCert(t, certFile2)
			key, err := parseKey(readFile(t, keyFile2))
			if err != nil {
				t.Fatal(err)
			}
			spec := leafSpec{commonName: "apiserver", usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, sans: tt.sans.Merge(SANs{})}
			if err := checkLeaf(cert, key, second.Cert, spec, second.now()); err != nil {
				t.Errorf("certificate on disk does not fit: %v", err)
			}
		})
	}
}

func TestIssueClient(t *testing.T) {
	tests := []struct {
		name        string
		user        string
		groups      []string
		wantReissue bool
	}{
		{name: "same user and groups", user: "admin", groups: []string{"system:masters"}},
		{name: "duplicate group", user: "admin", groups: []string{"system:masters", "system:masters"}},
		{name: "other user", user: "root", groups: []string{"system:masters"}, wantReissue: true},
		{name: "more groups", user: "admin", groups: []string{"system:masters", "ops"}, wantReissue: true},
		{name: "no groups", user: "admin", wantReissue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, dir)
			certFile, _, err := ca.IssueClient(dir, "admin", "admin", []string{"system:masters"})
			if err != nil {
				t.Fatal(err)
			}
			before := readFile(t, certFile)
			certFile, keyFile, err := ca.IssueClient(dir, "admin", tt.user, tt.groups)
			if err != nil {
				t.Fatal(err)
			}
			checkMode(t, keyFile, 0o600)
			if reissued := !bytes.Equal(before, readFile(t, certFile)); reissued != tt.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, tt.wantReissue)
			}
			cert := readCert(t, certFile)
			if cert.Subject.CommonName != tt.user {
				t.Errorf("CN = %q, want %q", cert.Subject.CommonName, tt.user)
			}
			if !sameSet(cert.Subject.Organization, tt.groups) {
				t.Errorf("O = %q, want %q", cert.Subject.Organization, tt.groups)
			}
			if _, err := cert.Verify(x509.VerifyOptions{
				Roots:     ca.Pool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}); err != nil {
				t.Errorf("client certificate does not verify: %v", err)
			}
		})
	}
}

// TestKubeconfigHandshake writes a kubeconfig, loads it the way kubectl and
// client-go do, and makes a real mutual-TLS request with it to a server using
// the issued serving certificate and trusting only the CA for clients.
func TestKubeconfigHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	srvCert, srvKey, err := ca.IssueServing(dir, "apiserver", DefaultAPIServerSANs(serviceIP, ""))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0]
		fmt.Fprintf(w, "%s %s", peer.Subject.CommonName, strings.Join(peer.Subject.Organization, ","))
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	clientCert, clientKey, err := ca.IssueClient(dir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sub", "admin.kubeconfig")
	if err := WriteKubeconfig(path, KubeconfigConfig{
		Server:         srv.URL,
		CAFile:         ca.CertFile(),
		ClientCertFile: clientCert,
		ClientKeyFile:  clientKey,
	}); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)

	loaded, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.CurrentContext != "default" || loaded.Contexts["default"] == nil {
		t.Errorf("current context %q, contexts %v; want default", loaded.CurrentContext, loaded.Contexts)
	}
	// Self-contained: nothing in it points at the files it was made from.
	if auth := loaded.AuthInfos["default"]; auth == nil || auth.ClientCertificate != "" || len(auth.ClientCertificateData) == 0 {
		t.Errorf("client certificate not embedded: %+v", auth)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, cfg, srv.URL); got != "admin system:masters" {
		t.Errorf("server saw %q, want %q", got, "admin system:masters")
	}

	// A client certificate from another CA must fail the handshake.
	other := mustCA(t, t.TempDir())
	otherDir := t.TempDir()
	oc, ok, err := other.IssueClient(otherDir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(otherDir, "bad.kubeconfig")
	if err := WriteKubeconfig(badPath, KubeconfigConfig{
		Server: srv.URL, CAData: ca.CertPEM(), ClientCertFile: oc, ClientKeyFile: ok, ContextName: "bad",
	}); err != nil {
		t.Fatal(err)
	}
	badCfg, err := clientcmd.BuildConfigFromFlags("", badPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(badCfg)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("server accepted a client certificate from another CA")
	}
}

func TestWriteKubeconfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     KubeconfigConfig
		wantErr string
	}{
		{name: "no server", cfg: KubeconfigConfig{CAData: []byte("x")}, wantErr: "no server URL"},
		{name: "no CA", cfg: KubeconfigConfig{Server: "https://127.0.0.1:6443"}, wantErr: "no CA"},
		{name: "missing CA file", cfg: KubeconfigConfig{Server: "https://h", CAFile: "/nonexistent/ca.crt"}, wantErr: "no such file"},
		{name: "cert without key", cfg: KubeconfigConfig{Server: "https://h", CAData: []byte("x"), ClientCertData: []byte("y")}, wantErr: "together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			err := WriteKubeconfig(path, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("WriteKubeconfig() error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a failed write left %s behind", path)
			}
		})
	}
}

func TestLoadOrCreateServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(dir, "sa.pub")) // derived: must come back
	second, err := LoadOrCreateServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.(*ecdsa.PrivateKey).Equal(second) {
		t.Error("second load returned a different key")
	}
	checkMode(t, filepath.Join(dir, "sa.key"), 0o600)
	pub, err := parsePublicKeyFile(filepath.Join(dir, "sa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !first.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Error("sa.pub is not the public half of sa.key")
	}
}

func TestRotateServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateServiceAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := RotateServiceAccountKey(dir, time.Unix(int64(1_800_000_000+i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	signer, verify, err := LoadServiceAccountKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.(*ecdsa.PrivateKey).Equal(signer) {
		t.Error("the signing key did not change")
	}
	if len(verify) != 2 || !first.(*ecdsa.PrivateKey).PublicKey.Equal(verify[0]) {
		t.Errorf("verification keys %v: want the first key, then the second", verify)
	}
	pubs, err := ReadPublicKeys(filepath.Join(dir, "sa.key"))
	if err != nil || len(pubs) != 1 || !signer.Public().(*ecdsa.PublicKey).Equal(pubs[0]) {
		t.Errorf("public key of sa.key: %v, %v", pubs, err)
	}
	if _, err := ReadPublicKeys(filepath.Join(dir, "missing.pub")); err == nil {
		t.Error("a missing key file read without error")
	}
}

func TestSANs(t *testing.T) {
	tests := []struct {
		name string
		got  SANs
		want SANs
	}{
		{
			name: "ParseSANs sorts and dedups",
			got:  ParseSANs([]string{" api.example.com ", "", "10.0.0.1", "API.example.com", "::1", "10.0.0.1"}),
			want: SANs{DNSNames: []string{"api.example.com"}, IPs: []net.IP{net.ParseIP("10.0.0.1").To4(), net.ParseIP("::1")}},
		},
		{
			name: "defaults",
			got:  DefaultAPIServerSANs(serviceIP, "example.org."),
			want: SANs{
				DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.example.org"},
				IPs:      []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1"), net.ParseIP("10.43.0.1").To4()},
			},
		},
		{
			name: "host addresses drop loopback and link-local",
			got: SANs{IPs: hostIPs([]net.Addr{
				&net.IPNet{IP: net.ParseIP("127.0.0.1")},
				&net.IPNet{IP: net.ParseIP("192.168.1.5")},
				&net.IPNet{IP: net.ParseIP("fe80::1")},
				&net.IPNet{IP: net.ParseIP("169.254.3.4")},
				&net.IPNet{IP: net.ParseIP("2001:db8::5")},
				&net.IPAddr{IP: net.ParseIP("::1")},
			})},
			want: SANs{IPs: []net.IP{net.ParseIP("192.168.1.5"), net.ParseIP("2001:db8::5")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkColdStart measures what a first `skiff server` start spends on
// PKI: a new CA, the API server certificate, the admin client certificate,
// the admin kubeconfig and the service account key, all written to disk.
func BenchmarkColdStart(b *testing.B) {
	root := b.TempDir()
	sans := DefaultAPIServerSANs(serviceIP, "").Merge(HostSANs())
	i := 0
	for b.Loop() {
		i++
		coldStart(b, filepath.Join(root, fmt.Sprint(i)), sans)
	}
}

// BenchmarkWarmStart measures every later start: everything is loaded and
// checked, and only the kubeconfig is written again.
func BenchmarkWarmStart(b *testing.B) {
	dir := b.TempDir()
	sans := DefaultAPIServerSANs(serviceIP, "").Merge(HostSANs())
	coldStart(b, dir, sans)
	for b.Loop() {
		coldStart(b, dir, sans)
	}
}

func coldStart(b *testing.B, dir string, sans SANs) {
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := ca.IssueServing(dir, "apiserver", sans); err != nil {
		b.Fatal(err)
	}
	crt, key, err := ca.IssueClient(dir, "admin", "admin", []string{"system:masters"})
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteKubeconfig(filepath.Join(dir, "admin.kubeconfig"), KubeconfigConfig{
		Server: "https://127.0.0.1:6443", CAData: ca.CertPEM(), ClientCertFile: crt, ClientKeyFile: key,
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := LoadOrCreateServiceAccountKey(dir); err != nil {
		b.Fatal(err)
	}
}

func get(t *testing.T, cfg *rest.Config, url string) string {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func mustCA(t testing.TB, dir string) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, err := parseCert(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func parsePublicKeyFile(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM public key")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	write(t, to, string(readFile(t, from)))
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}
