package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// digOptions are the parts of a dig command line the suite uses:
//
//	dig [@server] [-p port] [-x addr] [+short] [+tcp|+notcp] [+search]
//	    [+noall] [+answer] [+time=N] [+tries=N] [type] name [type]
type digOptions struct {
	name    string
	qtype   uint16
	server  string
	port    string
	tcp     bool
	short   bool
	search  bool
	answer  bool // print the answer section
	others  bool // print the other sections, comments and statistics
	timeout time.Duration
	tries   int
}

func parseDig(args []string) (digOptions, error) {
	o := digOptions{answer: true, others: true, timeout: 5 * time.Second, tries: 3}
	next := func(i *int, flag string) (string, error) {
		if *i+1 >= len(args) {
			return "", fmt.Errorf("option %s needs an argument", flag)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "@"):
			o.server = a[1:]
		case a == "-p":
			v, err := next(&i, a)
			if err != nil {
				return o, err
			}
			o.port = v
		case a == "-t":
			v, err := next(&i, a)
			if err != nil {
				return o, err
			}
			t, ok := dns.StringToType[strings.ToUpper(v)]
			if !ok {
				return o, fmt.Errorf("invalid type: %s", v)
			}
			o.qtype = t
		case a == "-x":
			v, err := next(&i, a)
			if err != nil {
				return o, err
			}
			rev, err := dns.ReverseAddr(v)
			if err != nil {
				return o, fmt.Errorf("invalid IP address %s", v)
			}
			o.name, o.qtype = rev, dns.TypePTR
		case a == "-4" || a == "-6":
		case strings.HasPrefix(a, "+"):
			if err := o.plusOption(a[1:]); err != nil {
				return o, err
			}
		case strings.HasPrefix(a, "-"):
			return o, fmt.Errorf("invalid option: %s", a)
		default:
			if t, ok := dns.StringToType[strings.ToUpper(a)]; ok && o.qtype == 0 {
				o.qtype = t
			} else if strings.EqualFold(a, "IN") {
				// the only class there is
			} else {
				o.name = a
			}
		}
	}
	if o.name == "" {
		// dig with no name asks for the root servers.
		o.name, o.qtype = ".", dns.TypeNS
	}
	if o.qtype == 0 {
		o.qtype = dns.TypeA
	}
	return o, nil
}

func (o *digOptions) plusOption(opt string) error {
	name, value, hasValue := strings.Cut(opt, "=")
	on := !strings.HasPrefix(name, "no")
	name = strings.TrimPrefix(name, "no")
	switch name {
	case "short":
		o.short = on
	case "tcp", "vc":
		o.tcp = on
	case "search":
		o.search = on
	case "all":
		o.answer, o.others = on, on
	case "answer":
		o.answer = on
	case "comments", "question", "authority", "additional", "stats", "cmd":
		o.others = on && o.others
	case "time", "tries", "retry":
		n, err := strconv.Atoi(value)
		if !hasValue || err != nil || n < 0 {
			return fmt.Errorf("invalid option: +%s", opt)
		}
		switch name {
		case "time":
			o.timeout = time.Duration(max(n, 1)) * time.Second
		case "tries":
			o.tries = max(n, 1)
		case "retry":
			o.tries = n + 1
		}
	case "rec", "recurse", "edns", "cookie", "ignore", "fail", "showsearch", "identify", "ttlid", "nssearch", "trace", "multiline", "dnssec", "defname", "domain":
		// accepted, with dig's defaults kept
	default:
		return fmt.Errorf("invalid option: +%s", opt)
	}
	return nil
}

// runDig queries DNS like BIND's dig and prints what it was asked to.
// Exit codes follow dig: 0 when a server answered (whatever the rcode),
// 1 for a usage error, 9 when no server could be reached, 10 for an
// internal error such as an unreadable resolv.conf.
func runDig(e env, args []string) int {
	o, err := parseDig(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "dig: %v\n", err)
		return 1
	}
	conf, confErr := dns.ClientConfigFromFile(e.resolvConf)
	if confErr != nil && (o.server == "" || o.search) {
		fmt.Fprintf(e.stderr, "dig: read %s: %v\n", e.resolvConf, confErr)
		return 10
	}
	if conf == nil {
		conf = &dns.ClientConfig{Ndots: 1, Port: "53"}
	}
	servers, err := digServers(o, conf)
	if err != nil {
		fmt.Fprintf(e.stderr, "dig: %v\n", err)
		return 10
	}
	names := []string{dns.Fqdn(o.name)}
	if o.search {
		names = conf.NameList(o.name)
	}
	for i, name := range names {
		resp, err := digExchange(name, o, servers)
		if err != nil {
			fmt.Fprintf(e.stdout, ";; communications error: %v\n;; no servers could be reached\n", err)
			return 9
		}
		if resp.Rcode == dns.RcodeNameError && i < len(names)-1 {
			continue // the next name of the search list
		}
		digPrint(e, o, resp)
		return 0
	}
	return 0
}

func digServers(o digOptions, conf *dns.ClientConfig) ([]string, error) {
	port := conf.Port
	if port == "" {
		port = "53"
	}
	if o.port != "" {
		port = o.port
	}
	if o.server != "" {
		host := o.server
		if net.ParseIP(host) == nil {
			addrs, err := net.LookupHost(host)
			if err != nil || len(addrs) == 0 {
				return nil, fmt.Errorf("couldn't get address for '%s': not found", host)
			}
			host = addrs[0]
		}
		return []string{net.JoinHostPort(host, port)}, nil
	}
	var out []string
	for _, s := range conf.Servers {
		out = append(out, net.JoinHostPort(s, port))
	}
	if len(out) == 0 {
		return nil, errors.New("no nameservers in resolv.conf")
	}
	return out, nil
}

// digExchange sends one query for name to the servers in turn, over UDP
// (falling back to TCP when the answer is truncated) or TCP.
func digExchange(name string, o digOptions, servers []string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, o.qtype)
	m.SetEdns0(1232, false)
	netw := "udp"
	if o.tcp {
		netw = "tcp"
	}
	var lastErr error
	for try := 0; try < o.tries; try++ {
		for _, srv := range servers {
			c := &dns.Client{Net: netw, Timeout: o.timeout}
			resp, _, err := c.Exchange(m, srv)
			if err == nil && resp.Truncated && netw == "udp" {
				c.Net = "tcp"
				resp, _, err = c.Exchange(m, srv)
			}
			if err == nil {
				return resp, nil
			}
			lastErr = err
		}
		if o.tcp {
			break // dig tries a TCP server once
		}
	}
	return nil, lastErr
}

func digPrint(e env, o digOptions, resp *dns.Msg) {
	switch {
	case o.short:
		for _, rr := range resp.Answer {
			fmt.Fprintln(e.stdout, rdata(rr))
		}
	case o.answer && !o.others:
		for _, rr := range resp.Answer {
			fmt.Fprintln(e.stdout, rr.String())
		}
	case o.others:
		fmt.Fprintln(e.stdout, resp.String())
	}
}

// rdata is a record's data as dig +short prints it: the record without
// its owner, TTL, class and type.
func rdata(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}
