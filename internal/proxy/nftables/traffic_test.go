package nftables

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/proxy"
)

// helperEnv makes the test binary act as TestNetnsHelper's client/server.
const helperEnv = "SKIFF_PROXY_NETNS_HELPER"

// Addresses inside the test's namespace, all on its loopback device.
const (
	podA   = "10.42.0.5"
	podB   = "10.42.0.6"
	client = "10.42.0.100"
)

func trafficState() proxy.State {
	svc := func(name, ip string, nodePort int32, affinity bool) *v1.Service {
		s := &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: ip,
				Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, NodePort: nodePort}}},
		}
		if nodePort != 0 {
			s.Spec.Type = v1.ServiceTypeNodePort
		}
		if affinity {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		}
		return s
	}
	slice := func(svc string, ips ...string) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svc, Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
		}
		for _, ip := range ips {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
		}
		return es
	}
	return proxy.State{
		NodeName:           "node-a",
		ClusterCIDR:        netip.MustParsePrefix("10.42.0.0/16"),
		ServiceCIDR:        netip.MustParsePrefix("10.43.0.0/16"),
		LocalhostNodePorts: true,
		Services: []*v1.Service{
			svc("web", "10.43.0.20", 30080, false),
			svc("empty", "10.43.0.30", 0, false),
			svc("sticky", "10.43.0.50", 0, true),
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{slice("web", podA), slice("empty"), slice("sticky", podA, podB)},
	}
}

// TestKernelTraffic loads trafficState into a fresh network namespace and
// has a helper process inside it connect through the rules: a ClusterIP
// reaches its endpoint, a NodePort answers on 127.0.0.1, a Service without
// endpoints and a wrong port on a ClusterIP refuse the connection, and
// session affinity sticks to one endpoint. All traffic stays on the
// namespace's loopback device.
func TestKernelTraffic(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	realNFT, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("needs nft")
	}
	ns := netns(t)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("link", "set", "lo", "up")
	for _, a := range []string{podA, podB, client} {
		ip("addr", "add", a+"/32", "dev", "lo")
	}
	// The service CIDR is routed to a device, as on a node, so that nothing
	// untranslated could leave: a veth pair inside the namespace. (A route
	// to lo would not do: the kernel sends no ICMP error for a packet
	// rejected on its way to lo, so "refused" would become a timeout.)
	ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip("addr", "add", "192.168.88.1/24", "dev", "v0")
	ip("link", "set", "v0", "up")
	ip("link", "set", "v1", "up")
	ip("route", "add", "10.43.0.0/16", "via", "192.168.88.2")

	bin := t.TempDir()
	script := "#!/bin/sh\nexec ip netns exec " + ns + " " + realNFT + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "nft"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, _ := exec.LookPath("nft"); got != filepath.Join(bin, "nft") {
		t.Fatalf("nft resolves to %q, want the namespace wrapper", got)
	}
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := proxy.Compute(trafficState())
	if err := a.Apply(context.Background(), &r); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	var got map[string]string
	// The helper's JSON line comes before the test framework's PASS.
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&got); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	want := map[string]string{
		"clusterip":       podA,
		"nodeport-local":  podA,
		"no-endpoints":    "refused",
		"wrong-port":      "refused",
		"affinity-sticks": "true",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("traffic through the rules (-want +got):\n%s", diff)
	}
}

// TestNetnsHelper is not a test: TestKernelTraffic runs the test binary
// inside its namespace with helperEnv set, and this serves the pods'
// addresses, connects through the Services and prints what happened.
func TestNetnsHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper for TestKernelTraffic")
	}
	for _, pod := range []string{podA, podB} {
		l, err := net.Listen("tcp", pod+":8080")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fmt.Fprint(c, pod)
				c.Close()
			}
		}()
	}
	get := func(addr string) string {
		// The timeout only bounds a failure (a drop instead of a reject).
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}, Timeout: 20 * time.Second}
		if addr[:4] == "127." {
			d.LocalAddr = nil
		}
		c, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "refused"
		}
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	res := map[string]string{
		"clusterip":      get("10.43.0.20:80"),
		"nodeport-local": get("127.0.0.1:30080"),
		"no-endpoints":   get("10.43.0.30:80"),
		"wrong-port":     get("10.43.0.20:81"),
	}
	first, sticks := get("10.43.0.50:80"), true
	for range 8 {
		sticks = sticks && get("10.43.0.50:80") == first
	}
	res["affinity-sticks"] = fmt.Sprint(sticks && (first == podA || first == podB))
	json.NewEncoder(os.Stdout).Encode(res)
}
