package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCurl(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hostname":
			fmt.Fprint(w, "pod-1")
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Query().Get("msg"), body)
		case "/missing":
			http.Error(w, "nope", http.StatusNotFound)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/header":
			fmt.Fprint(w, r.Header.Get("X-Test"))
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	closed := closedPort(t)

	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{name: "the suite's dial command", args: []string{"-g", "-q", "-s", srv.URL + "/hostname"}, wantOut: "pod-1"},
		{name: "no scheme", args: []string{"-q", "-s", "--connect-timeout", "2", host + "/hostname"}, wantOut: "pod-1"},
		{name: "status code only", args: []string{"-g", "-q", "-s", "-o", "/dev/null", "-w", "%{http_code}", srv.URL + "/missing"}, wantOut: "404"},
		{name: "status code when the connection is refused", args: []string{"-g", "-q", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + closed + "/"}, wantOut: "000", wantCode: 7},
		{name: "refused, not silent", args: []string{"http://" + closed + "/"}, wantCode: 7, wantErr: "curl: (7) Failed to connect to 127.0.0.1 port"},
		{name: "method and clustered flags", args: []string{"-sXPOST", "-d", "body", srv.URL + "/echo?msg=hi"}, wantOut: "POST hi body"},
		{name: "attached method", args: []string{"-XDELETE", "-s", srv.URL + "/echo?msg=x"}, wantOut: "DELETE x "},
		{name: "headers", args: []string{"-s", "--header", "X-Test: yes", srv.URL + "/header"}, wantOut: "yes"},
		{name: "fail on HTTP errors", args: []string{"-sf", srv.URL + "/missing"}, wantCode: 22},
		{name: "max time", args: []string{"-s", "--max-time", "0.3", srv.URL + "/slow"}, wantCode: 28},
		{name: "bad URL", args: []string{"-s", "ftp://x/"}, wantCode: 3},
		{name: "unknown option", args: []string{"--frobnicate", srv.URL}, wantCode: 2, wantErr: "curl: option --frobnicate: is unknown"},
		{name: "bind to an interface address", args: []string{"-s", "--interface", "127.0.0.1", srv.URL + "/hostname"}, wantOut: "pod-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errOut := testEnv(t, "")
			code := runCurl(e, tt.args)
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

	t.Run("include headers and write to a file", func(t *testing.T) {
		e, out, _ := testEnv(t, "")
		file := filepath.Join(t.TempDir(), "body")
		if code := runCurl(e, []string{"-i", "-q", "-s", "-o", file, srv.URL + "/hostname"}); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		got, _ := os.ReadFile(file)
		if !bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(got, []byte("\r\n\r\npod-1")) || out.Len() != 0 {
			t.Errorf("file %q, stdout %q", got, out)
		}
	})
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
