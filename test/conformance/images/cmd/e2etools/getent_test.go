package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGetentHosts(t *testing.T) {
	port := startDNS(t)
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
	}{
		{
			name:    "hosts file entry by alias",
			args:    []string{"hosts", "querier"},
			wantOut: "10.244.1.7      querier.sub.ns.svc.cluster.local querier\n",
		},
		{
			name:    "hosts file entry by address",
			args:    []string{"hosts", "10.244.1.7"},
			wantOut: "10.244.1.7      querier.sub.ns.svc.cluster.local querier\n",
		},
		{
			name:    "DNS through the search list prefers IPv6",
			args:    []string{"hosts", "web"},
			wantOut: "fd00::10        web.ns.svc.cluster.local\n",
		},
		{
			name:    "DNS falls back to IPv4",
			args:    []string{"hosts", "v4only.ns"},
			wantOut: "10.96.0.11      v4only.ns.svc.cluster.local\n",
		},
		{
			name:    "a CNAME makes the queried name an alias",
			args:    []string{"hosts", "ext.ns.svc.cluster.local"},
			wantOut: "fd00::10        web.ns.svc.cluster.local ext.ns.svc.cluster.local\n",
		},
		{
			name:    "reverse lookup in DNS",
			args:    []string{"hosts", "10.96.0.10"},
			wantOut: "10.96.0.10      web.ns.svc.cluster.local\n",
		},
		{
			name:     "not found",
			args:     []string{"hosts", "nosuch"},
			wantCode: 2,
		},
		{
			name:     "other databases",
			args:     []string{"passwd", "root"},
			wantCode: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errOut := testEnv(t, port)
			code := runGetent(e, tt.args)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if diff := cmp.Diff(tt.wantOut, out.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
