package agent

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// StreamURLs is what the agent's server needs from a runtime to serve
// exec, attach and port-forward: the CRI's way, where the runtime prepares
// a session and returns the URL of its own streaming server, to which the
// agent hands the client's upgraded connection.
type StreamURLs interface {
	// ExecURL prepares cmd in a container and returns the URL that runs it.
	ExecURL(ctx context.Context, containerID string, req StreamRequest) (string, error)
	// AttachURL prepares an attach to the container's main process.
	AttachURL(ctx context.Context, containerID string, req StreamRequest) (string, error)
	// PortForwardURL prepares a port-forward into the sandbox's network;
	// ports may be empty (the client names them per stream).
	PortForwardURL(ctx context.Context, sandboxID string, ports []int32) (string, error)
}

// StreamRequest says which streams an exec or attach wires up.
type StreamRequest struct {
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

// streamRequestFrom reads the query of /exec and /attach, as the API
// server passes on kubectl's: command (repeated), stdin, stdout, stderr
// and tty ("1" or "true").
func streamRequestFrom(q url.Values) StreamRequest {
	on := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	return StreamRequest{Command: q["command"], Stdin: on("stdin"), Stdout: on("stdout"), Stderr: on("stderr"), TTY: on("tty")}
}

// proxyTo hands the request, with its upgrade, to the runtime's streaming
// server at target. The runtime's server reads the session from the path
// it issued; the client's headers (the SPDY or WebSocket subprotocols)
// pass through unchanged.
func proxyTo(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		http.Error(w, "bad streaming url: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
			pr.Out.URL.Path, pr.Out.URL.RawPath, pr.Out.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
			pr.Out.Host = u.Host
		},
		FlushInterval: -1,
	}
	rp.ServeHTTP(w, r)
}
