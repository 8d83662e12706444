package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// ServerConfig configures the agent's HTTPS server, the kubelet API that
// the API server proxies pods/log, exec, attach and portforward to.
type ServerConfig struct {
	// Addr is where to listen (default ":10250").
	Addr string
	// AnyPortIfBusy makes Listen take a free port when Addr's is in use
	// (several nodes on one host, as in tests); the node publishes the
	// port it got.
	AnyPortIfBusy bool
	// TLS is the serving configuration: the node's serving certificate and
	// the client CAs that callers must present a certificate from.
	TLS *tls.Config
	// AllowedUsers, when set, are the only client certificate common names
	// accepted (the API server's); otherwise any certificate of the CA is.
	AllowedUsers []string
	// NodeName is this node; requests for pods bound elsewhere are refused.
	NodeName string
	// Client reads pods (for their UIDs).
	Client kubernetes.Interface
	// Runtime lists containers and sandboxes.
	Runtime Runtime
	// Streams serves exec, attach and port-forward; nil answers them 501.
	Streams StreamURLs
	// LogDir holds the pods' log folders, <ns>_<name>_<uid>.
	LogDir string
	// Stats reports the node's and its pods' resource usage for
	// /stats/summary and /metrics/resource; nil answers them 501.
	Stats SummaryProvider
	// Cgroups reports the node's and its pods' cgroups for
	// /metrics/cadvisor; nil answers it 501.
	Cgroups CgroupStatsProvider
	// PollInterval is how often a followed log is read (default 250ms).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Server is the agent's kubelet API.
type Server struct {
	cfg ServerConfig
	mux *http.ServeMux
	ln  net.Listener
}

// NewServer builds a Server from cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Client == nil || cfg.Runtime == nil || cfg.LogDir == "" {
		return nil, errors.New("agent server: Client, Runtime and LogDir are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":10250"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.serveLogs)
	for _, p := range []string{"/exec/{ns}/{pod}/{container}", "/attach/{ns}/{pod}/{container}", "/portforward/{ns}/{pod}"} {
		s.mux.HandleFunc(p, s.serveStream)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	s.mux.HandleFunc("GET /pods", s.servePods)
	// Upstream's kubelet authorizes these as nodes/stats and
	// nodes/metrics for callers that reach it directly; this server
	// admits only the API server, which authorized the caller's
	// nodes/proxy, as for every path here.
	s.mux.HandleFunc("GET /stats/summary", s.serveSummary)
	s.mux.HandleFunc("GET /metrics/resource", s.serveResourceMetrics)
	s.mux.HandleFunc("GET /metrics/cadvisor", s.serveCadvisorMetrics)
	return s, nil
}

// servePods answers the pods bound to this node as a v1 PodList, as the
// kubelet's /pods does (reached through the API server's nodes/proxy).
func (s *Server) servePods(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Client.CoreV1().Pods("").List(r.Context(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + s.cfg.NodeName})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	list.TypeMeta = metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}
	list.ResourceVersion = ""
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// Handler serves the kubelet API without TLS or client checks (tests).
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the server's address and returns the port it got; Run
// then serves there. Calling it is optional: Run listens by itself.
func (s *Server) Listen() (int, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil && s.cfg.AnyPortIfBusy && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(s.cfg.Addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return 0, fmt.Errorf("agent server listen: %w", err)
	}
	s.ln = ln
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	ln := s.ln
	var h http.Handler = s.mux
	if s.cfg.TLS != nil {
		t := s.cfg.TLS.Clone()
		// Upgrades (SPDY, WebSocket) need HTTP/1.1.
		t.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, t)
		h = s.authenticate(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Close()
		case <-done:
		}
	}()
	err := srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("agent server: %w", err)
}

// authenticate admits only callers with a verified client certificate
// and, when AllowedUsers is set, one of those names.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if len(s.cfg.AllowedUsers) > 0 && !slices.Contains(s.cfg.AllowedUsers, cn) {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s)", cn), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pod reads a pod bound to this node.
func (s *Server) pod(ctx context.Context, ns, name string) (*corev1.Pod, int, error) {
	p, err := s.cfg.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, http.StatusNotFound, fmt.Errorf("pod %s/%s not found", ns, name)
	}
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	}
	if s.cfg.NodeName != "" && p.Spec.NodeName != s.cfg.NodeName {
		return nil, http.StatusNotFound, fmt.Errorf("pod %s/%s is not on node %s", ns, name, s.cfg.NodeName)
	}
	if hash := p.Annotations[corev1.MirrorPodAnnotationKey]; hash != "" {
		// A mirror pod stands for a static pod, whose UID is its hash.
		p.UID = types.UID(hash)
	}
	return p, 0, nil
}

// latestContainer finds the newest container of that name in the pod.
func (s *Server) latestContainer(ctx context.Context, p *corev1.Pod, name string) (*Container, error) {
	cs, err := s.cfg.Runtime.ListContainers(ctx, p.UID)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var best *Container
	for i := range cs {
		c := &cs[i]
		if c.Name == name && (best == nil || c.Attempt > best.Attempt || (c.Attempt == best.Attempt && c.CreatedAt.After(best.CreatedAt))) {
			best = c
		}
	}
	return best, nil
}

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	p, code, err := s.pod(ctx, ns, name)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	opts, err := logOptionsFrom(r, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	previous := q.Get("previous") == "true" || q.Get("previous") == "1"
	dir := filepath.Join(s.cfg.LogDir, fmt.Sprintf("%s_%s_%s", ns, name, p.UID))
	path, err := containerLogFile(dir, container, previous)
	if err != nil {
		msg := fmt.Sprintf("container %q in pod %q is waiting to start", container, name)
		if previous {
			msg = fmt.Sprintf("previous terminated container %q in pod %q not found", container, name)
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	// A followed log ends when its container has stopped (and its last
	// lines are read), as kubelet's does.
	done := func() bool {
		if previous {
			return true
		}
		c, err := s.latestContainer(ctx, p, container)
		return err == nil && c != nil && c.State == ContainerExited && filepath.Base(path) == strconv.Itoa(int(c.Attempt))+".log"
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := copyLogs(ctx, fw, path, opts, s.cfg.PollInterval, done); err != nil {
		s.cfg.Logger.Debug("container logs", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

// flushWriter pushes each write to the client, for followed logs.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flushWriter) Flush()                      { _ = f.rc.Flush() }

// logOptionsFrom reads the query of /containerLogs.
func logOptionsFrom(r *http.Request, now time.Time) (LogOptions, error) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "true" || v == "1" }
	o := LogOptions{Follow: on("follow"), Timestamps: on("timestamps"), TailLines: -1}
	num := func(k string) (int64, bool, error) {
		v := q.Get(k)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("container logs: bad %s %q", k, v)
		}
		return n, true, nil
	}
	if n, ok, err := num("tailLines"); err != nil {
		return o, err
	} else if ok {
		o.TailLines = n
	}
	if n, ok, err := num("limitBytes"); err != nil {
		return o, err
	} else if ok {
		o.LimitBytes = n
	}
	if n, ok, err := num("sinceSeconds"); err != nil {
		return o, err
	} else if ok {
		o.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("container logs: bad sinceTime %q", v)
		}
		o.Since = t
	}
	return o, nil
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.Streams == nil {
		http.Error(w, "streaming is not supported by this node's runtime", http.StatusNotImplemented)
		return
	}
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	p, code, err := s.pod(ctx, ns, name)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	kind, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	var target string
	switch kind {
	case "portforward":
		sbs, err := s.cfg.Runtime.ListPodSandboxes(ctx, p.UID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		id := ""
		for _, sb := range sbs {
			if sb.State == SandboxReady {
				id = sb.ID
			}
		}
		if id == "" {
			http.Error(w, fmt.Sprintf("pod %s/%s has no running sandbox", ns, name), http.StatusBadRequest)
			return
		}
		var ports []int32
		for _, v := range r.URL.Query()["port"] {
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				ports = append(ports, int32(n))
			}
		}
		target, err = s.cfg.Streams.PortForwardURL(ctx, id, ports)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	default:
		c, err := s.latestContainer(ctx, p, container)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if c == nil || c.State != ContainerRunning {
			http.Error(w, fmt.Sprintf("container %s not found or not running in pod %s/%s", container, ns, name), http.StatusBadRequest)
			return
		}
		req := streamRequestFrom(r.URL.Query())
		if kind == "exec" {
			target, err = s.cfg.Streams.ExecURL(ctx, c.ID, req)
		} else {
			target, err = s.cfg.Streams.AttachURL(ctx, c.ID, req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	proxyTo(w, r, target)
}
