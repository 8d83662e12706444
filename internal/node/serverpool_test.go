package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/pki"
)

// poolServer is a TLS server standing in for one API server: it answers
// the kubernetes Endpoints with every poolServer of its cluster, and
// names itself in the answer's annotations.
type poolServer struct {
	name  string
	addr  string
	srv   *httptest.Server
	stuck atomic.Bool // answer nothing until the request is given up
}

// poolCluster starts n servers whose certificates, from one CA, name only
// APIServerName: a client that checked them against the address it dialled
// would refuse every one.
func poolCluster(t *testing.T, n int) (*pki.CA, []*poolServer) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.IssueServing(dir, "apiserver", pki.SANs{DNSNames: []string{APIServerName}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]*poolServer, n)
	endpoints := func(self string) *corev1.Endpoints {
		ep := &corev1.Endpoints{TypeMeta: metav1.TypeMeta{Kind: "Endpoints", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Annotations: map[string]string{"server": self}}}
		for _, s := range servers {
			host, port, _ := net.SplitHostPort(s.addr)
			p, _ := strconv.Atoi(port)
			ep.Subsets = append(ep.Subsets, corev1.EndpointSubset{
				Addresses: []corev1.EndpointAddress{{IP: host}},
				Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(p), Protocol: corev1.ProtocolTCP}},
			})
		}
		return ep
	}
	for i := range servers {
		s := &poolServer{name: "server-" + strconv.Itoa(i)}
		s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.stuck.Load() {
				<-r.Context().Done()
				return
			}
			if r.URL.Path != "/api/v1/namespaces/default/endpoints/kubernetes" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(endpoints(s.name))
		}))
		s.srv.EnableHTTP2 = true
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		s.srv.StartTLS()
		s.addr = s.srv.Listener.Addr().String()
		t.Cleanup(s.srv.Close)
		servers[i] = s
	}
	return ca, servers
}

// kill stops s as a killed process would: its connections drop.
func (s *poolServer) kill() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// poolClient is a joined node's client, built as Join builds it: its URL
// names the first server, and it dials through pool.
func poolClient(t *testing.T, ca *pki.CA, servers []*poolServer, pool *ServerPool) kubernetes.Interface {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, err := ca.IssueClient(dir, "node", AgentUser("n1"), []string{NodesGroup})
	if err != nil {
		t.Fatal(err)
	}
	creds := &joinedCredentials{server: "https://" + servers[0].addr, caFile: ca.CertFile(),
		nodeUser: AgentUser("n1"), nodeCert: certFile, nodeKey: keyFile, pool: pool}
	rc, err := creds.RESTConfig(AgentUser("n1"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// answeredBy is the server that answered a read of the endpoints. A
// request already on its way over a connection that has just died fails,
// as it would for any client; the read is made again until one succeeds.
func answeredBy(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil {
			return ep.Annotations["server"]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("read through the pool: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func addrs(servers ...*poolServer) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.addr)
	}
	return out
}

// TestServerPoolFailsOver: a node that joined through one server learns
// the others from the endpoints, keeps working as servers die one after
// the other, and after a restart finds the live one through its saved
// list even though the server it joined through is gone.
func TestServerPoolFailsOver(t *testing.T) {
	ca, servers := poolCluster(t, 3)
	file := filepath.Join(t.TempDir(), "servers.json")
	newPool := func() *ServerPool {
		p, err := NewServerPool(ServerPoolConfig{Default: servers[0].addr, File: file})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pool := newPool()
	client := poolClient(t, ca, servers, pool)
	if got := answeredBy(t, client); got != "server-0" {
		t.Fatalf("first answer from %s, want server-0 (the joined one)", got)
	}
	if err := pool.Refresh(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	want := addrs(servers...)
	slices.Sort(want)
	got := pool.Servers()
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("servers after a refresh (-want +got):\n%s", diff)
	}

	servers[0].kill()
	second := answeredBy(t, client)
	if second == "server-0" || second == "" {
		t.Fatalf("with server-0 dead the answer came from %q", second)
	}
	// The last one standing.
	var last *poolServer
	for _, s := range servers[1:] {
		if s.name == second {
			s.kill()
		} else {
			last = s
		}
	}
	if got := answeredBy(t, client); got != last.name {
		t.Fatalf("with two servers dead the answer came from %s, want %s", got, last.name)
	}

	// A restarted node: its saved list gets it past the dead servers.
	restarted := newPool()
	if got := answeredBy(t, poolClient(t, ca, servers, restarted)); got != last.name {
		t.Errorf("after a restart the answer came from %s, want %s", got, last.name)
	}
}

// TestServerPoolLeavesSilentServer: a server that holds connections open
// but answers nothing is left when a refresh gets no answer, and the
// node's clients go to another at once rather than after HTTP/2's health
// check.
func TestServerPoolLeavesSilentServer(t *testing.T) {
	ca, servers := poolCluster(t, 2)
	pool, err := NewServerPool(ServerPoolConfig{Default: servers[0].addr, RefreshTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client := poolClient(t, ca, servers, pool)
	if err := pool.Refresh(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	if got := answeredBy(t, client); got != "server-0" {
		t.Fatalf("answer from %s, want server-0", got)
	}
	servers[0].stuck.Store(true)
	if err := pool.Refresh(context.Background(), client); err == nil {
		t.Fatal("a refresh from a server that answers nothing succeeded")
	}
	if got := pool.Servers()[0]; got != servers[1].addr {
		t.Errorf("preferred server after the silent one = %s, want %s", got, servers[1].addr)
	}
	if got := answeredBy(t, client); got != "server-1" {
		t.Errorf("answer after leaving the silent server from %s, want server-1", got)
	}
}

// TestServerPoolList: the list keeps the default server, ignores an empty
// update, survives a restart, and a damaged file costs only the list.
func TestServerPoolList(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "servers.json")
	const def = "192.0.2.1:6443"
	p, err := NewServerPool(ServerPoolConfig{Default: def, File: file})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{def}, p.Servers()); diff != "" {
		t.Errorf("a new pool (-want +got):\n%s", diff)
	}
	changed, err := p.SetServers([]string{"192.0.2.3:6443", "192.0.2.2:6443", "192.0.2.3:6443"})
	if err != nil || !changed {
		t.Fatalf("SetServers = %v, %v; want a change", changed, err)
	}
	want := []string{def, "192.0.2.2:6443", "192.0.2.3:6443"}
	if diff := cmp.Diff(want, p.Servers()); diff != "" {
		t.Errorf("after SetServers (-want +got):\n%s", diff)
	}
	if changed, err := p.SetServers(nil); changed || err != nil {
		t.Errorf("an empty list: changed %v, %v; want it ignored", changed, err)
	}
	if changed, err := p.SetServers([]string{"192.0.2.2:6443", "192.0.2.3:6443"}); changed || err != nil {
		t.Errorf("the same list: changed %v, %v; want no change", changed, err)
	}
	again, err := NewServerPool(ServerPoolConfig{Default: def, File: file})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again.Servers()); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged, err := NewServerPool(ServerPoolConfig{Default: def, File: file})
	if err != nil {
		t.Fatalf("a damaged list stopped the pool: %v", err)
	}
	if diff := cmp.Diff([]string{def}, damaged.Servers()); diff != "" {
		t.Errorf("with a damaged list (-want +got):\n%s", diff)
	}
	if _, err := NewServerPool(ServerPoolConfig{Default: "https://192.0.2.1"}); err == nil {
		t.Error("a URL as default server was accepted")
	}
}

func TestServersFromEndpoints(t *testing.T) {
	https := func(port int32) []corev1.EndpointPort {
		return []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}
	}
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    []string
	}{
		{name: "none"},
		{name: "three servers",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.2", "10.0.0.1", "10.0.0.3"), Ports: https(6443)}},
			want:    []string{"10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.3:6443"}},
		{name: "IPv6",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("fd00::1"), Ports: https(6443)}},
			want:    []string{"[fd00::1]:6443"}},
		{name: "ports by subset",
			subsets: []corev1.EndpointSubset{
				{Addresses: addrs("10.0.0.1"), Ports: https(6443)},
				{Addresses: addrs("10.0.0.2"), Ports: https(443)}},
			want: []string{"10.0.0.1:6443", "10.0.0.2:443"}},
		{name: "the https port among others",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1"),
				Ports: []corev1.EndpointPort{{Name: "metrics", Port: 9090}, {Name: "https", Port: 6443}}}},
			want: []string{"10.0.0.1:6443"}},
		{name: "an only port, unnamed",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1"), Ports: []corev1.EndpointPort{{Port: 6443}}}},
			want:    []string{"10.0.0.1:6443"}},
		{name: "no https port among several",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1"),
				Ports: []corev1.EndpointPort{{Name: "a", Port: 1}, {Name: "b", Port: 2}}}}},
		{name: "not-ready addresses are not servers",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1"), NotReadyAddresses: addrs("10.0.0.9"), Ports: https(6443)}},
			want:    []string{"10.0.0.1:6443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServersFromEndpoints(&corev1.Endpoints{Subsets: tt.subsets})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ServersFromEndpoints (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPIServerNameInServingCertificates: the name the pool checks every
// server against is one every API server certificate carries.
func TestAPIServerNameInServingCertificates(t *testing.T) {
	if !slices.Contains(pki.DefaultAPIServerSANs(nil, "").DNSNames, APIServerName) {
		t.Errorf("DefaultAPIServerSANs lacks %s", APIServerName)
	}
}

func TestServerAddress(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://10.0.0.1:6443", "10.0.0.1:6443"},
		{"https://10.0.0.1:6443/", "10.0.0.1:6443"},
		{"https://k8s.example", "k8s.example:443"},
		{"https://[fd00::1]:6443", "[fd00::1]:6443"},
	}
	for _, tt := range tests {
		got, err := ServerAddress(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ServerAddress(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	if _, err := ServerAddress("10.0.0.1:6443"); err == nil {
		t.Error("an address with no scheme was accepted")
	}
}
