package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// ncOptions are the OpenBSD netcat flags the suite passes:
// nc [-v] [-t] [-u] [-z] [-n] [-N] [-w secs] [-W recvlimit] [-p srcport] host port
type ncOptions struct {
	verbose, udp, zero, shutdownOnEOF bool
	wait                              time.Duration // -w: connect and idle timeout
	recvLimit                         int           // -W: exit after this many packets
	srcPort                           int
	host, port                        string
}

func parseNc(args []string) (ncOptions, error) {
	var o ncOptions
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case 'v':
				o.verbose = true
			case 'u':
				o.udp = true
			case 'z':
				o.zero = true
			case 'N':
				o.shutdownOnEOF = true
			case 't', 'n', '4', 'd':
				// telnet negotiation and name lookups change nothing the suite sees
			case 'w', 'W', 'p':
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option requires an argument -- %c", c)
					}
					i++
					v = args[i]
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return o, fmt.Errorf("invalid argument for -%c: %s", c, v)
				}
				switch c {
				case 'w':
					o.wait = time.Duration(n) * time.Second
				case 'W':
					o.recvLimit = n
				case 'p':
					o.srcPort = n
				}
				j = len(a)
			default:
				return o, fmt.Errorf("invalid option -- '%c'", c)
			}
		}
	}
	if len(pos) != 2 {
		return o, errors.New("usage: nc [-uvz] [-w timeout] [-W recvlimit] [-p source_port] destination port")
	}
	o.host, o.port = pos[0], pos[1]
	return o, nil
}

// runNc connects to host:port and copies stdin to the connection and the
// connection to stdout, like OpenBSD netcat: after stdin ends it keeps
// reading until the peer closes, or, with -w, until the connection has
// been idle that long. Exit code 0 once connected, 1 when the connection
// failed or a read failed (an ICMP port unreachable on UDP).
func runNc(e env, args []string) int {
	o, err := parseNc(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "nc: %v\n", err)
		return 1
	}
	proto := "tcp"
	if o.udp {
		proto = "udp"
	}
	d := net.Dialer{Timeout: o.wait}
	if o.srcPort != 0 {
		if o.udp {
			d.LocalAddr = &net.UDPAddr{Port: o.srcPort}
		} else {
			d.LocalAddr = &net.TCPAddr{Port: o.srcPort}
		}
	}
	conn, err := d.Dial(proto, net.JoinHostPort(o.host, o.port))
	if err != nil {
		fmt.Fprintf(e.stderr, "nc: connect to %s port %s (%s) failed: %v\n", o.host, o.port, proto, errors.Unwrap(err))
		return 1
	}
	defer conn.Close()
	if o.verbose {
		fmt.Fprintf(e.stderr, "Connection to %s %s port [%s/*] succeeded!\n", o.host, o.port, proto)
	}
	if o.zero {
		return 0
	}
	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		if o.udp {
			// one datagram per read, as netcat sends what each read returns
			buf := make([]byte, 64*1024)
			for {
				n, err := e.stdin.Read(buf)
				if n > 0 {
					if _, werr := conn.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}
		io.Copy(conn, e.stdin)
		if tc, ok := conn.(*net.TCPConn); ok && o.shutdownOnEOF {
			tc.CloseWrite()
		}
	}()
	buf := make([]byte, 64*1024)
	packets := 0
	for {
		if o.wait > 0 {
			conn.SetReadDeadline(time.Now().Add(o.wait))
		}
		n, err := conn.Read(buf)
		if n > 0 {
			e.stdout.Write(buf[:n])
			packets++
			if o.recvLimit > 0 && packets >= o.recvLimit {
				return 0
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				return 0
			}
			if o.verbose {
				fmt.Fprintf(e.stderr, "nc: read: %v\n", err)
			}
			return 1
		}
	}
}
