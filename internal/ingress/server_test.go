package ingress

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/bench"
)

// testCert returns a self-signed certificate and key, PEM, for host.
func testCert(t testing.TB, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// backendState is a State routing host (all paths) to the backends at
// addrs (host:port on loopback), through Service "web".
func backendState(host string, addrs ...string) State {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	var slices []*discoveryv1.EndpointSlice
	for i, a := range addrs {
		ip, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		slices = append(slices, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(p))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}}},
		})
	}
	return State{
		Classes:        []*networkingv1.IngressClass{class("skiff", ControllerName, true)},
		Services:       []*corev1.Service{s},
		EndpointSlices: slices,
		Ingresses:      []*networkingv1.Ingress{ing("web", 0, path{host, "/", prefix, "web"})},
	}
}

// startServer runs a Server on free loopback ports until the test ends.
func startServer(t testing.TB) (s *Server, httpURL, httpsAddr string) {
	t.Helper()
	s, err := New(Config{HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addrs := s.Addrs()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, "http://" + addrs[0].String(), addrs[1].String()
}

func get(t *testing.T, c *http.Client, url, host string) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

func TestServer(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s path=%s xff=%s xfh=%s xfp=%s xfport=%s", r.Host, r.URL.Path,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Port"))
	}))
	defer backend.Close()
	s, httpURL, httpsAddr := startServer(t)
	c := &http.Client{}

	if code, _, _ := get(t, c, httpURL+"/", "web.test"); code != http.StatusNotFound {
		t.Errorf("empty table: status %d; want 404", code)
	}

	st := backendState("web.test", backend.Listener.Addr().String())
	cert, key := testCert(t, "web.test")
	st.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "default"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}}}
	st.Ingresses[0].Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"web.test"}, SecretName: "tls"}}
	s.SetTable(Build(st))

	_, port, _ := net.SplitHostPort(httpURL[len("http://"):])
	code, body, _ := get(t, c, httpURL+"/a/b", "web.test")
	want := "host=web.test path=/a/b xff=127.0.0.1 xfh=web.test xfp=http xfport=" + port
	if code != http.StatusOK || body != want {
		t.Errorf("GET = %d %q; want 200 %q", code, body, want)
	}
	if code, _, _ := get(t, c, httpURL+"/", "other.test"); code != http.StatusNotFound {
		t.Errorf("unknown host: status %d; want 404", code)
	}

	// TLS, with the Ingress's certificate for its host and HTTP/2.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	tc := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "web.test"}}}
	code, body, resp := get(t, tc, "https://"+httpsAddr+"/s", "web.test")
	if code != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("GET over TLS = %d %s; want 200 over HTTP/2", code, resp.Proto)
	}
	_, sport, _ := net.SplitHostPort(httpsAddr)
	if want := "host=web.test path=/s xff=127.0.0.1 xfh=web.test xfp=https xfport=" + sport; body != want {
		t.Errorf("GET over TLS = %q; want %q", body, want)
	}

	// No ready endpoints: 503.
	st.EndpointSlices = nil
	s.SetTable(Build(st))
	if code, _, _ := get(t, c, httpURL+"/", "web.test"); code != http.StatusServiceUnavailable {
		t.Errorf("no endpoints: status %d; want 503", code)
	}
}

// BenchmarkProxy measures requests per second and p99 latency of
// requests through the ingress to a loopback backend ("ingress") and of
// the same requests straight to the backend ("direct"), with parallel
// clients on kept-alive connections.
func BenchmarkProxy(b *testing.B) {
	payload := []byte("hello from the backend\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(payload) }))
	defer backend.Close()
	s, httpURL, _ := startServer(b)
	s.SetTable(Build(backendState("web.test", backend.Listener.Addr().String())))
	for _, tc := range []struct{ name, url string }{{"direct", backend.URL}, {"ingress", httpURL}} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer c.CloseIdleConnections()
			lat := make(chan []time.Duration, 64)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					req, _ := http.NewRequest(http.MethodGet, tc.url+"/", nil)
					req.Host = "web.test"
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				lat <- mine
			})
			elapsed := time.Since(start)
			b.StopTimer()
			close(lat)
			var all []time.Duration
			for l := range lat {
				all = append(all, l...)
			}
			sum := bench.Summarise(tc.name, elapsed, all)
			b.ReportMetric(sum.PerSecond, "req/s")
			b.ReportMetric(float64(sum.P99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(sum.P50.Microseconds()), "p50-µs")
		})
	}
}

// TestServerSwapAndUpgrade checks that a request in flight when the
// table changes finishes with the backend it got, and that a connection
// upgrade (WebSocket's handshake) is passed through both ways.
func TestServerSwapAndUpgrade(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "echo")
			w.WriteHeader(http.StatusSwitchingProtocols)
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line, _ := rw.ReadString('\n')
			_, _ = rw.WriteString("echo: " + line)
			_ = rw.Flush()
			return
		}
		started <- struct{}{}
		<-release
		fmt.Fprint(w, "slow answer")
	}))
	defer backend.Close()
	s, httpURL, _ := startServer(t)
	s.SetTable(Build(backendState("web.test", backend.Listener.Addr().String())))

	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, httpURL+"/slow", nil)
		req.Host = "web.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(b)}
	}()
	<-started
	s.SetTable(Build(State{}))
	close(release)
	if a := <-got; a.code != http.StatusOK || a.body != "slow answer" {
		t.Errorf("request in flight across a table swap = %d %q; want 200 %q", a.code, a.body, "slow answer")
	}
	if code, _, _ := get(t, &http.Client{}, httpURL+"/slow", "web.test"); code != http.StatusNotFound {
		t.Errorf("after the swap: status %d; want 404", code)
	}

	s.SetTable(Build(backendState("web.test", backend.Listener.Addr().String())))
	conn, err := net.Dial("tcp", httpURL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: web.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d; want 101", resp.StatusCode)
	}
	fmt.Fprint(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Errorf("over the upgraded connection: %q, %v; want %q", line, err, "echo: ping\n")
	}
}
