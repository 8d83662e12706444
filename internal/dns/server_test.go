package dns

import (
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestServerLargeAnswers checks that an answer too big for a UDP client
// comes back truncated with TC set (so the client retries over TCP), whole
// to a client that offers a larger EDNS0 buffer, and whole over TCP.
func TestServerLargeAnswers(t *testing.T) {
	const endpoints = 60
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "big-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "big"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i := range endpoints {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.42.0.%d", i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	srv, err := New(Config{Upstreams: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetTable(Build("cluster.local", []*corev1.Service{svc}, []*discoveryv1.EndpointSlice{es}))
	udp, udpAddr := startUDP(t, srv)
	defer udp.Shutdown()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	tcp := &dns.Server{Listener: l, Handler: srv, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	defer tcp.Shutdown()

	query := func(edns uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("big.default.svc.cluster.local.", dns.TypeA)
		if edns > 0 {
			m.SetEdns0(edns, false)
		}
		return m
	}
	tests := []struct {
		name      string
		net       string
		addr      string
		edns      uint16
		truncated bool
	}{
		{"udp, no edns0", "udp", udpAddr, 0, true},
		{"udp, edns0 4096", "udp", udpAddr, 4096, false},
		{"tcp", "tcp", l.Addr().String(), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &dns.Client{Net: tt.net, UDPSize: dns.MaxMsgSize}
			resp, _, err := c.Exchange(query(tt.edns), tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Compress = true // the size on the wire
			size := resp.Len()
			if resp.Truncated != tt.truncated {
				t.Errorf("TC = %v, want %v (%d answers, %d bytes)", resp.Truncated, tt.truncated, len(resp.Answer), size)
			}
			if tt.truncated && (size > dns.MinMsgSize || len(resp.Answer) >= endpoints) {
				t.Errorf("truncated reply has %d answers in %d bytes", len(resp.Answer), size)
			}
			if !tt.truncated && len(resp.Answer) != endpoints {
				t.Errorf("got %d answers, want %d", len(resp.Answer), endpoints)
			}
			if (tt.edns > 0) != (resp.IsEdns0() != nil) {
				t.Errorf("reply OPT record %v for a request with EDNS0 size %d", resp.IsEdns0(), tt.edns)
			}
		})
	}
}
