package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zone is what the test DNS server knows, in master-file syntax.
const zone = `
web.ns.svc.cluster.local.      30 IN A     10.96.0.10
web.ns.svc.cluster.local.      30 IN AAAA  fd00::10
_http._tcp.web.ns.svc.cluster.local. 30 IN SRV 0 100 80 web-0.web.ns.svc.cluster.local.
web-0.web.ns.svc.cluster.local. 30 IN A    10.244.1.5
10.0.96.10.in-addr.arpa.       30 IN PTR   web.ns.svc.cluster.local.
txt.ns.svc.cluster.local.      30 IN TXT   "hello world"
ext.ns.svc.cluster.local.      30 IN CNAME web.ns.svc.cluster.local.
v4only.ns.svc.cluster.local.   30 IN A     10.96.0.11
`

// startDNS serves zone on 127.0.0.1 over UDP and TCP on one free port,
// answering NXDOMAIN for unknown names and an empty NOERROR for known
// names without a record of the type, and returns the port.
func startDNS(t *testing.T) string {
	t.Helper()
	records := map[string][]dns.RR{}
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		records[name] = append(records[name], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		rrs, ok := records[strings.ToLower(q.Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
				if c, ok := rr.(*dns.CNAME); ok {
					for _, t := range records[c.Target] {
						if t.Header().Rrtype == q.Qtype {
							m.Answer = append(m.Answer, t)
						}
					}
				}
			}
		}
		w.WriteMsg(m)
	})
	// UDP and TCP on one port: a free UDP port may be taken for TCP, so
	// try a few.
	var (
		pc   net.PacketConn
		ln   net.Listener
		port int
	)
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			break
		}
		pc.Close()
		if attempt == 20 {
			t.Fatal(err)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return strconv.Itoa(port)
}

// testEnv writes a pod's resolver files and returns an env reading them.
func testEnv(t *testing.T, port string) (env, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(resolv, []byte("search ns.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5 timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n10.244.1.7\tquerier.sub.ns.svc.cluster.local\tquerier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	return env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, resolvConf: resolv, hosts: hosts, dnsPort: port}, &out, &errOut
}
