package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// runGetent implements `getent hosts KEY...` the way glibc's getent does
// with "hosts: files dns": /etc/hosts first, then DNS through the search
// list of resolv.conf, asking for IPv6 addresses before IPv4 ones. Each
// address prints as "%-15s %s" (address, canonical name) followed by the
// aliases. Exit codes: 0 when every key was found, 1 for a usage error,
// 2 when a key was not found.
func runGetent(e env, args []string) int {
	if len(args) == 0 || args[0] != "hosts" {
		fmt.Fprintln(e.stderr, "getent: only the hosts database is supported: getent hosts KEY...")
		return 1
	}
	keys := args[1:]
	if len(keys) == 0 {
		// getent hosts with no key lists the hosts file.
		entries, _ := readHosts(e.hosts)
		for _, h := range entries {
			printHost(e, h)
		}
		return 0
	}
	code := 0
	for _, key := range keys {
		h, ok := lookupHost(e, key)
		if !ok {
			code = 2
			continue
		}
		printHost(e, h)
	}
	return code
}

// hostEnt is a struct hostent: one name with its aliases and addresses.
type hostEnt struct {
	name    string
	aliases []string
	addrs   []string
}

func printHost(e env, h hostEnt) {
	for _, a := range h.addrs {
		line := fmt.Sprintf("%-15s %s", a, h.name)
		for _, al := range h.aliases {
			line += " " + al
		}
		fmt.Fprintln(e.stdout, line)
	}
}

func lookupHost(e env, key string) (hostEnt, bool) {
	entries, _ := readHosts(e.hosts)
	if ip := net.ParseIP(key); ip != nil {
		for _, h := range entries {
			if net.ParseIP(h.addrs[0]).Equal(ip) {
				return h, true
			}
		}
		return reverseDNS(e, ip)
	}
	for _, h := range entries {
		if strings.EqualFold(h.name, key) {
			return h, true
		}
		for _, a := range h.aliases {
			if strings.EqualFold(a, key) {
				return h, true
			}
		}
	}
	for _, t := range []uint16{dns.TypeAAAA, dns.TypeA} {
		if h, ok := forwardDNS(e, key, t); ok {
			return h, true
		}
	}
	return hostEnt{}, false
}

// readHosts parses a hosts file, one entry per line.
func readHosts(path string) ([]hostEnt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []hostEnt
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || net.ParseIP(fields[0]) == nil {
			continue
		}
		out = append(out, hostEnt{name: fields[1], aliases: fields[2:], addrs: []string{fields[0]}})
	}
	return out, sc.Err()
}

// resolverQuery asks the servers of resolv.conf, as glibc's stub resolver
// does: UDP first, TCP when truncated, each server in turn, attempts times.
func resolverQuery(conf *dns.ClientConfig, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	timeout := time.Duration(max(conf.Timeout, 1)) * time.Second
	var lastErr error
	for try := 0; try < max(conf.Attempts, 1); try++ {
		for _, s := range conf.Servers {
			addr := net.JoinHostPort(s, conf.Port)
			c := &dns.Client{Timeout: timeout}
			resp, _, err := c.Exchange(m, addr)
			if err == nil && resp.Truncated {
				c.Net = "tcp"
				resp, _, err = c.Exchange(m, addr)
			}
			if err == nil {
				return resp, nil
			}
			lastErr = err
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no nameservers")
	}
	return nil, lastErr
}

func resolverConf(e env) (*dns.ClientConfig, bool) {
	conf, err := dns.ClientConfigFromFile(e.resolvConf)
	if err != nil || len(conf.Servers) == 0 {
		return nil, false
	}
	if conf.Port == "" {
		conf.Port = "53"
	}
	if e.dnsPort != "" {
		conf.Port = e.dnsPort
	}
	return conf, true
}

// forwardDNS looks name up through the search list; like glibc's
// res_search, a name that does not exist or has no record of the type
// moves on to the next candidate.
func forwardDNS(e env, name string, qtype uint16) (hostEnt, bool) {
	conf, ok := resolverConf(e)
	if !ok {
		return hostEnt{}, false
	}
	for _, cand := range conf.NameList(name) {
		resp, err := resolverQuery(conf, cand, qtype)
		if err != nil || resp.Rcode != dns.RcodeSuccess {
			continue
		}
		var h hostEnt
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.CNAME:
				h.aliases = append(h.aliases, strings.TrimSuffix(rr.Hdr.Name, "."))
			case *dns.A:
				if qtype == dns.TypeA {
					h.name = strings.TrimSuffix(rr.Hdr.Name, ".")
					h.addrs = append(h.addrs, rr.A.String())
				}
			case *dns.AAAA:
				if qtype == dns.TypeAAAA {
					h.name = strings.TrimSuffix(rr.Hdr.Name, ".")
					h.addrs = append(h.addrs, rr.AAAA.String())
				}
			}
		}
		if len(h.addrs) > 0 {
			return h, true
		}
	}
	return hostEnt{}, false
}

func reverseDNS(e env, ip net.IP) (hostEnt, bool) {
	conf, ok := resolverConf(e)
	if !ok {
		return hostEnt{}, false
	}
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return hostEnt{}, false
	}
	resp, err := resolverQuery(conf, rev, dns.TypePTR)
	if err != nil || resp.Rcode != dns.RcodeSuccess {
		return hostEnt{}, false
	}
	for _, rr := range resp.Answer {
		if ptr, ok := rr.(*dns.PTR); ok {
			return hostEnt{name: strings.TrimSuffix(ptr.Ptr, "."), addrs: []string{ip.String()}}, true
		}
	}
	return hostEnt{}, false
}
