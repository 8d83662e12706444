package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Benchmark scale: a cluster of benchServices Services with
// benchEndpointsPerService endpoints each (10,000 in all). Every other
// Service is headless, so half the endpoints become A, SRV and per-host
// records; the rest stand behind a ClusterIP.
const (
	benchServices            = 1000
	benchEndpointsPerService = 10
)

// benchCluster returns the Services and EndpointSlices of the benchmark
// cluster.
func benchCluster() ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var eps []*discoveryv1.EndpointSlice
	for i := range benchServices {
		name := fmt.Sprintf("svc-%d", i)
		ns := fmt.Sprintf("ns-%d", i%20)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
			ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, i%250+1),
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if i%2 == 1 {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, nil
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
		}
		for j := range benchEndpointsPerService {
			n := i*benchEndpointsPerService + j
			ep := discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.42.%d.%d", n/250, n%250+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
			if j == 0 {
				ep.Hostname = ptr.To(fmt.Sprintf("web-%d", j))
			}
			es.Endpoints = append(es.Endpoints, ep)
		}
		svcs = append(svcs, svc)
		eps = append(eps, es)
	}
	return svcs, eps
}

// benchQuestions is the query mix the benchmarks cycle through: for each
// of a spread of Services, its A record (a ClusterIP or ten endpoints),
// its SRV records, a pod name and a PTR, plus names that do not exist.
func benchQuestions() []dns.Question {
	var qs []dns.Question
	q := func(name string, t uint16) {
		qs = append(qs, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET})
	}
	for i := 0; i < benchServices; i += 37 {
		base := fmt.Sprintf("svc-%d.ns-%d.svc.cluster.local.", i, i%20)
		q(base, dns.TypeA)
		q("_http._tcp."+base, dns.TypeSRV)
		q(fmt.Sprintf("missing-%d.ns-%d.svc.cluster.local.", i, i%20), dns.TypeA)
		if i%2 == 1 {
			q("web-0."+base, dns.TypeA)
		} else {
			rev, _ := dns.ReverseAddr(fmt.Sprintf("10.43.%d.%d", i/250, i%250+1))
			q(rev, dns.TypePTR)
		}
		q(fmt.Sprintf("10-42-%d-%d.ns-%d.pod.cluster.local.", i/250, i%250+1, i%20), dns.TypeA)
	}
	return qs
}

// BenchmarkBuild measures building the record table of the whole cluster,
// which Follow does on every change.
func BenchmarkBuild(b *testing.B) {
	svcs, eps := benchCluster()
	b.ReportAllocs()
	for b.Loop() {
		Build("cluster.local", svcs, eps)
	}
}

// BenchmarkAnswer measures a lookup in the table alone, with no message
// packing or network.
func BenchmarkAnswer(b *testing.B) {
	svcs, eps := benchCluster()
	tbl := Build("cluster.local", svcs, eps)
	qs := benchQuestions()
	for _, q := range qs {
		if _, _, ok := tbl.Answer(q); !ok {
			b.Fatalf("%s is not answered from the table", q.Name)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tbl.Answer(qs[i%len(qs)])
		i++
	}
}

// benchClients is how many client goroutines keep queries in flight
// against the server at once.
const benchClients = 16

// BenchmarkServerUDP measures queries answered per second by the real
// server (Server.Run) over UDP on 127.0.0.1, with benchClients clients
// each keeping one query in flight, and reports the p50 and p99 latency
// a client saw. Run with -cpu 1 for one core; the clients share that core
// with the server, so the server alone answers more.
func BenchmarkServerUDP(b *testing.B) {
	svcs, eps := benchCluster()
	srv, addr := startBenchServer(b)
	srv.SetTable(Build("cluster.local", svcs, eps))

	qs := benchQuestions()
	packed := make([][]byte, len(qs))
	for i, q := range qs {
		m := new(dns.Msg)
		m.Question = []dns.Question{q}
		m.RecursionDesired = true
		buf, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		packed[i] = buf
	}
	checkAnswers(b, addr, qs)

	var next, timeouts atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range benchClients {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		wg.Go(func() {
			buf := make([]byte, dns.MaxMsgSize)
			msg := make([]byte, 0, 512)
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				msg = append(msg[:0], packed[n%int64(len(packed))]...)
				id := uint16(n)
				binary.BigEndian.PutUint16(msg, id)
				t0 := time.Now()
				if !exchange(conn, msg, buf, id) {
					timeouts.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no query was answered")
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "qps")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	if n := timeouts.Load(); n > 0 {
		b.ReportMetric(float64(n), "timeouts")
	}
}

// exchange sends one packed query and waits for the reply carrying its id;
// false when none came within a second.
func exchange(conn net.Conn, msg, buf []byte, id uint16) bool {
	if _, err := conn.Write(msg); err != nil {
		return false
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return false
		}
		// A late reply to an earlier, timed-out query is skipped.
		if n >= 12 && binary.BigEndian.Uint16(buf) == id {
			return true
		}
	}
}

// checkAnswers asks every question once with a full client and fails the
// benchmark unless the server answers it authoritatively.
func checkAnswers(b *testing.B, addr string, qs []dns.Question) {
	b.Helper()
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, q := range qs {
		m := new(dns.Msg)
		m.Question = []dns.Question{q}
		resp, _, err := c.Exchange(m, addr)
		if err != nil {
			b.Fatalf("query %s: %v", q.Name, err)
		}
		if !resp.Authoritative {
			b.Fatalf("query %s: answer not authoritative: %v", q.Name, resp)
		}
	}
}

// startBenchServer runs a Server on a free loopback port until the
// benchmark ends and returns it with its address once it answers.
func startBenchServer(b *testing.B) (*Server, string) {
	b.Helper()
	for range 5 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		srv, err := New(Config{Addrs: []string{addr}, Upstreams: []string{"127.0.0.1:1"}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- srv.Run(ctx) }()
		if waitServing(addr, errc) {
			b.Cleanup(func() { cancel(); <-errc })
			return srv, addr
		}
		cancel()
		<-errc // the port was taken meanwhile: try another
	}
	b.Fatal("could not start the DNS server")
	return nil, ""
}

// waitServing polls addr until it answers a query or Run fails.
func waitServing(addr string, errc chan error) bool {
	c := &dns.Client{Timeout: 100 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("kubernetes.default.svc.cluster.local.", dns.TypeA)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			errc <- err
			return false
		default:
		}
		if _, _, err := c.Exchange(m, addr); err == nil {
			return true
		}
	}
	return false
}
