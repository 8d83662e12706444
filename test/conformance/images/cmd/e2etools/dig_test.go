package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDig(t *testing.T) {
	port := startDNS(t)
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
	}{
		{
			name:    "the suite's UDP probe: search list, answer section only",
			args:    []string{"+notcp", "+noall", "+answer", "+search", "web", "A"},
			wantOut: "web.ns.svc.cluster.local.\t30\tIN\tA\t10.96.0.10\n",
		},
		{
			name:    "the suite's TCP probe",
			args:    []string{"+tcp", "+noall", "+answer", "+search", "web.ns", "AAAA"},
			wantOut: "web.ns.svc.cluster.local.\t30\tIN\tAAAA\tfd00::10\n",
		},
		{
			name:    "a name with fewer dots than ndots is tried as is after the search list",
			args:    []string{"+notcp", "+noall", "+answer", "+search", "web.ns.svc.cluster.local", "A"},
			wantOut: "web.ns.svc.cluster.local.\t30\tIN\tA\t10.96.0.10\n",
		},
		{
			name:    "SRV",
			args:    []string{"+notcp", "+noall", "+answer", "+search", "_http._tcp.web.ns.svc.cluster.local", "SRV"},
			wantOut: "_http._tcp.web.ns.svc.cluster.local.\t30\tIN\tSRV\t0 100 80 web-0.web.ns.svc.cluster.local.\n",
		},
		{
			name:    "PTR of a reverse name",
			args:    []string{"+tcp", "+noall", "+answer", "+search", "10.0.96.10.in-addr.arpa.", "PTR"},
			wantOut: "10.0.96.10.in-addr.arpa.\t30\tIN\tPTR\tweb.ns.svc.cluster.local.\n",
		},
		{
			name:    "short PTR with -x",
			args:    []string{"+short", "-x", "10.96.0.10"},
			wantOut: "web.ns.svc.cluster.local.\n",
		},
		{
			name:    "short TXT",
			args:    []string{"+short", "txt.ns.svc.cluster.local", "TXT"},
			wantOut: "\"hello world\"\n",
		},
		{
			name:    "short CNAME prints the target",
			args:    []string{"+short", "ext.ns.svc.cluster.local", "CNAME"},
			wantOut: "web.ns.svc.cluster.local.\n",
		},
		{
			name:    "short A through a CNAME prints the chain",
			args:    []string{"+short", "ext.ns.svc.cluster.local"},
			wantOut: "web.ns.svc.cluster.local.\n10.96.0.10\n",
		},
		{
			name:    "type before the name",
			args:    []string{"+short", "AAAA", "web.ns.svc.cluster.local"},
			wantOut: "fd00::10\n",
		},
		{
			name:    "without +search a relative name is absolute",
			args:    []string{"+short", "web"},
			wantOut: "",
		},
		{
			name:    "NXDOMAIN prints nothing and exits 0",
			args:    []string{"+notcp", "+noall", "+answer", "+search", "nosuch", "A"},
			wantOut: "",
		},
		{
			name:    "no record of the type",
			args:    []string{"+short", "v4only.ns.svc.cluster.local", "AAAA"},
			wantOut: "",
		},
		{
			name:     "unknown option",
			args:     []string{"+bogus", "web"},
			wantCode: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errOut := testEnv(t, port)
			code := runDig(e, append([]string{"-p", port}, tt.args...))
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if diff := cmp.Diff(tt.wantOut, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDigServerExplicitAndUnreachable(t *testing.T) {
	port := startDNS(t)
	e, out, _ := testEnv(t, port)
	if code := runDig(e, []string{"@127.0.0.1", "-p", port, "+short", "web.ns.svc.cluster.local"}); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if got := out.String(); got != "10.96.0.10\n" {
		t.Errorf("output %q", got)
	}

	// A closed TCP port on loopback: no server can be reached.
	e, out, _ = testEnv(t, port)
	if code := runDig(e, []string{"@127.0.0.1", "-p", "1", "+tcp", "+short", "web"}); code != 9 {
		t.Errorf("exit code %d, want 9; output %q", code, out)
	}
}
