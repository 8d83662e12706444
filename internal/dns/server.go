package dns

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Server.
type Config struct {
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// Addrs are the host:port addresses to serve on, over UDP and TCP.
	Addrs []string
	// Upstreams are the resolvers names outside the cluster are forwarded
	// to (host:port); empty means the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for Upstreams (default /etc/resolv.conf).
	ResolvConf string
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server answers DNS queries from the current Table.
type Server struct {
	cfg   Config
	table atomic.Pointer[Table]
	// recursion are the sources, besides loopback, whose queries for names
	// outside the cluster are forwarded.
	recursion atomic.Pointer[[]netip.Prefix]
	log       *slog.Logger
}

// New returns a Server with an empty table.
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" {
		cfg.Domain = "cluster.local"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Upstreams) == 0 {
		cfg.Upstreams = nameservers(cfg.ResolvConf)
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.table.Store(Build(cfg.Domain, nil, nil))
	return s, nil
}

// nameservers reads the nameserver lines of a resolv.conf.
func nameservers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, net.JoinHostPort(fields[1], "53"))
		}
	}
	return out
}

// SetTable replaces the records answered.
func (s *Server) SetTable(t *Table) { s.table.Store(t) }

// SetRecursionSources sets the sources, besides loopback, whose queries for
// names outside the cluster are forwarded upstream (the cluster's pods and
// nodes); anyone else gets REFUSED for them, so the server answers the
// cluster's names to anyone but is not an open resolver.
func (s *Server) SetRecursionSources(p []netip.Prefix) { s.recursion.Store(&p) }

// mayRecurse reports whether a query from addr may be forwarded.
func (s *Server) mayRecurse(addr net.Addr) bool {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	if p := s.recursion.Load(); p != nil {
		for _, pre := range *p {
			if pre.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// Table returns the records answered now.
func (s *Server) Table() *Table { return s.table.Load() }

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	network := w.RemoteAddr().Network()
	resp := s.answer(r, network, func() bool { return s.mayRecurse(w.RemoteAddr()) })
	resp.Truncate(replySize(r, network))
	_ = w.WriteMsg(resp)
}

// replySize is the largest reply the client of r takes: 512 bytes over
// UDP unless its EDNS0 record offers more (then the reply is cut and
// marked truncated, and the client retries over TCP), 64 KiB over TCP.
func replySize(r *dns.Msg, network string) int {
	if network == "tcp" {
		return dns.MaxMsgSize
	}
	if opt := r.IsEdns0(); opt != nil {
		return max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	return dns.MinMsgSize
}

// answer answers r from the table, or forwards it upstream when the table
// does not hold its name and recurse allows.
func (s *Server) answer(r *dns.Msg, network string, recurse func() bool) *dns.Msg {
	m := new(dns.Msg)
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeNotImplemented)
		return m
	}
	q := r.Question[0]
	t := s.table.Load()
	rcode, answer, ok := t.Answer(q)
	if ok {
		m.SetReply(r)
		m.Authoritative = true
		m.RecursionAvailable = true
		m.Rcode = rcode
		m.Answer = answer
		if rcode == dns.RcodeNameError || len(answer) == 0 {
			m.Ns = []dns.RR{s.soa(t)}
		}
		if r.IsEdns0() != nil {
			// RFC 6891: a request with OPT gets a reply with OPT.
			m.SetEdns0(dns.DefaultMsgSize, false)
		}
		return m
	}
	if !recurse() {
		m.SetRcode(r, dns.RcodeRefused)
		return m
	}
	return s.forward(r, network)
}

func (s *Server) soa(t *Table) dns.RR {
	return &dns.SOA{Hdr: dns.RR_Header{Name: t.domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns: "ns.dns." + t.domain, Mbox: "hostmaster." + t.domain, Serial: uint32(time.Now().Unix()),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL}
}

// forward asks the upstream resolvers; SERVFAIL when none answers.
func (s *Server) forward(r *dns.Msg, network string) *dns.Msg {
	if network != "tcp" {
		network = "udp"
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	for _, up := range s.cfg.Upstreams {
		resp, _, err := c.Exchange(r, up)
		if err == nil && resp != nil {
			return resp
		}
		s.log.Debug("dns upstream failed", "upstream", up, "err", err)
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	return m
}

// Run serves on every address over UDP and TCP until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if len(s.cfg.Addrs) == 0 {
		return errors.New("dns: no address to serve on")
	}
	var servers []*dns.Server
	for _, addr := range s.cfg.Addrs {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			shutdownAll(servers)
			return err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			shutdownAll(servers)
			return err
		}
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: s}, &dns.Server{Listener: l, Handler: s})
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil && ctx.Err() == nil {
				errc <- err
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownAll(servers)
	wg.Wait()
	return err
}

func shutdownAll(servers []*dns.Server) {
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
}
