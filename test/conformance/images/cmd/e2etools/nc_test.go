package main

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tcpServer and udpServer answer "hostName" like agnhost netexec does.
func tcpServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.TrimSpace(line) == "hostName" {
					c.Write([]byte("pod-1"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func udpServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1024)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if strings.TrimSpace(string(buf[:n])) == "hostName" {
				pc.WriteTo([]byte("pod-2"), from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestNc(t *testing.T) {
	tcp, udp := tcpServer(t), udpServer(t)
	split := func(addr string) []string {
		h, p, _ := net.SplitHostPort(addr)
		return []string{h, p}
	}
	closed := closedPort(t)
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{name: "the suite's TCP reachability check", args: append([]string{"-v", "-t", "-w", "2"}, split(tcp)...), wantOut: "pod-1",
			wantErr: "Connection to 127.0.0.1 " + split(tcp)[1] + " port [tcp/*] succeeded!\n"},
		{name: "the suite's UDP check ends after the idle timeout", args: append([]string{"-w", "1", "-u"}, split(udp)...), wantOut: "pod-2"},
		{name: "UDP with a receive limit", args: append([]string{"-u", "-W", "1", "-w", "5"}, split(udp)...), wantOut: "pod-2"},
		{name: "zero I/O", args: append([]string{"-z", "-w", "1"}, split(tcp)...)},
		{name: "connection refused", args: append([]string{"-v", "-w", "1"}, split(closed)...), wantCode: 1, wantErr: "nc: connect to 127.0.0.1 port"},
		{name: "usage", args: []string{"-w"}, wantCode: 1, wantErr: "nc: option requires an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errOut := testEnv(t, "")
			e.stdin = strings.NewReader("hostName\n")
			code := runNc(e, tt.args)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if diff := cmp.Diff(tt.wantOut, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(errOut.String(), tt.wantErr) || (tt.wantErr == "" && errOut.Len() > 0) {
				t.Errorf("stderr %q, want prefix %q", errOut, tt.wantErr)
			}
		})
	}
}
