package dns

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testTable() *Table {
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
		ClusterIP: "10.43.0.20", ClusterIPs: []string{"10.43.0.20"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
	db := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "data"}, Spec: corev1.ServiceSpec{
		ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeExternalName, ExternalName: "example.test"}}
	dbSlice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "db-1", Namespace: "data", Labels: map[string]string{discoveryv1.LabelServiceName: "db"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.42.0.5"}, Hostname: ptr.To("db-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.1.6"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"10.42.1.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("pg"), Port: ptr.To[int32](5432), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	return Build("cluster.local", []*corev1.Service{web, db, ext}, []*discoveryv1.EndpointSlice{dbSlice})
}

func TestAnswer(t *testing.T) {
	tbl := testTable()
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // answers' RDATA
		fwd   bool     // not ours: forwarded
	}{
		{"web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.43.0.20"}, false},
		{"WEB.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.43.0.20"}, false},
		{"web.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, false},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"0 100 80 web.default.svc.cluster.local."}, false},
		{"db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.5", "10.42.1.6"}, false},
		{"db-0.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.0.5"}, false},
		{"10-42-1-6.db.data.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.1.6"}, false},
		{"_pg._tcp.db.data.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"0 100 5432 10-42-1-6.db.data.svc.cluster.local.", "0 100 5432 db-0.db.data.svc.cluster.local."}, false},
		{"ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"example.test."}, false},
		{"10-42-3-4.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.42.3.4"}, false},
		{"20.0.43.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"web.default.svc.cluster.local."}, false},
		{"nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, false},
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, false},
		{"nope.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, false},
		{"example.test.", dns.TypeA, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			rcode, ans, ok := tbl.Answer(dns.Question{Name: tt.name, Qtype: tt.qtype, Qclass: dns.ClassINET})
			if ok == tt.fwd {
				t.Fatalf("authoritative = %v, want %v", ok, !tt.fwd)
			}
			if tt.fwd {
				return
			}
			if rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tt.rcode])
			}
			var got []string
			for _, rr := range ans {
				if rr.Header().Name != tt.name {
					t.Errorf("answer named %q, want %q", rr.Header().Name, tt.name)
				}
				f := strings.SplitN(rr.String(), "\t", 5)
				got = append(got, f[len(f)-1])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServer queries the server over UDP on loopback; names outside the
// cluster go to an upstream the test runs, cluster names never do.
func TestServer(t *testing.T) {
	var upstreamHits atomic.Int32
	up, upAddr := startUDP(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		upstreamHits.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	}))
	defer up.Shutdown()
	srv, err := New(Config{Upstreams: []string{upAddr}})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetTable(testTable())
	s, addr := startUDP(t, srv)
	defer s.Shutdown()

	c := &dns.Client{}
	ask := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		resp, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := ask("web.default.svc.cluster.local."); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
		t.Errorf("service answer: %v", r)
	}
	if r := ask("missing.default.svc.cluster.local."); r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		t.Errorf("missing service: %v", r)
	}
	if n := upstreamHits.Load(); n != 0 {
		t.Errorf("cluster names were forwarded %d times", n)
	}
	if r := ask("example.test."); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || upstreamHits.Load() != 1 {
		t.Errorf("forwarded answer: %v (upstream hits %d)", r, upstreamHits.Load())
	}
}

func startUDP(t *testing.T, h dns.Handler) (*dns.Server, string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	s := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.ActivateAndServe() }()
	<-started
	return s, pc.LocalAddr().String()
}

// fakeWriter is a dns.ResponseWriter for a query from a given address; it
// keeps the reply.
type fakeWriter struct {
	dns.ResponseWriter
	from  net.Addr
	reply *dns.Msg
}

func (w *fakeWriter) RemoteAddr() net.Addr        { return w.from }
func (w *fakeWriter) WriteMsg(m *dns.Msg) error   { w.reply = m; return nil }
func (w *fakeWriter) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestRecursionSources checks that cluster names are answered to anyone,
// while names outside the cluster are forwarded only for loopback and the
// nodes' addresses and pod CIDRs; everyone else gets REFUSED.
func TestRecursionSources(t *testing.T) {
	var upstreamHits atomic.Int32
	up, upAddr := startUDP(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		upstreamHits.Add(1)
		m := new(dns.Msg)
		m.SetReply(r)
		_ = w.WriteMsg(m)
	}))
	defer up.Shutdown()
	srv, err := New(Config{Upstreams: []string{upAddr}})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetTable(testTable())
	ask := func(from, name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		w := &fakeWriter{from: &net.UDPAddr{IP: net.ParseIP(from), Port: 4053}}
		srv.ServeDNS(w, m)
		return w.reply
	}
	nodes := []*corev1.Node{{
		Spec:   corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.7"}, {Type: corev1.NodeHostName, Address: "a"}}},
	}}
	steps := []struct {
		name    string
		sources []*corev1.Node
		from    string
		refused bool
	}{
		{"loopback before the nodes are known", nil, "127.0.0.1", false},
		{"stranger before the nodes are known", nil, "198.51.100.7", true},
		{"node address", nodes, "198.51.100.7", false},
		{"pod on a node", nodes, "10.42.1.9", false},
		{"address outside every pod CIDR", nodes, "10.42.2.9", true},
		{"stranger", nodes, "203.0.113.5", true},
		{"IPv4-mapped node address", nodes, "::ffff:198.51.100.7", false},
	}
	for _, s := range steps {
		srv.SetRecursionSources(NodeSources(s.sources))
		before := upstreamHits.Load()
		if r := ask(s.from, "web.default.svc.cluster.local."); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s: cluster name: %v", s.name, r)
		}
		r := ask(s.from, "example.test.")
		hits := upstreamHits.Load() - before
		if s.refused && (r.Rcode != dns.RcodeRefused || hits != 0) {
			t.Errorf("%s: outside name: rcode %s, %d upstream queries; want REFUSED and none", s.name, dns.RcodeToString[r.Rcode], hits)
		}
		if !s.refused && (r.Rcode != dns.RcodeSuccess || hits != 1) {
			t.Errorf("%s: outside name: rcode %s, %d upstream queries; want it forwarded", s.name, dns.RcodeToString[r.Rcode], hits)
		}
	}
}
