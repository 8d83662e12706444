package cri

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent"
)

// Prober runs liveness, readiness and startup probes for real containers:
// exec through the CRI, HTTP, TCP and gRPC against the pod's IP from the
// node, as the kubelet does.
type Prober struct {
	rt *Runtime
}

var (
	_ agent.Prober     = (*Prober)(nil)
	_ agent.HookRunner = (*Prober)(nil)
)

// NewProber returns a Prober that execs through rt.
func NewProber(rt *Runtime) *Prober { return &Prober{rt: rt} }

// Probe implements agent.Prober.
func (p *Prober) Probe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, probe *corev1.Probe, containerID string) (agent.ProbeResult, error) {
	timeout := time.Duration(probe.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := probe.ProbeHandler
	switch {
	case h.Exec != nil:
		resp, err := p.rt.rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: h.Exec.Command, Timeout: int64(timeout.Seconds())})
		if err != nil {
			return agent.ProbeFailure, fmt.Errorf("exec probe: %w", err)
		}
		if resp.ExitCode != 0 {
			return agent.ProbeFailure, nil
		}
		return agent.ProbeSuccess, nil
	case h.HTTPGet != nil:
		return httpProbe(ctx, pod, c, h.HTTPGet)
	case h.TCPSocket != nil:
		host := h.TCPSocket.Host
		if host == "" {
			host = pod.Status.PodIP
		}
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return agent.ProbeFailure, err
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return agent.ProbeFailure, nil
		}
		conn.Close()
		return agent.ProbeSuccess, nil
	case h.GRPC != nil:
		conn, err := grpc.NewClient(net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(h.GRPC.Port))), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return agent.ProbeFailure, err
		}
		defer conn.Close()
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			return agent.ProbeFailure, nil
		}
		return agent.ProbeSuccess, nil
	}
	return agent.ProbeSuccess, nil
}

// httpProbe GETs the probe's URL; 200-399 succeeds, as upstream.
func httpProbe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction) (agent.ProbeResult, error) {
	code, err := httpGet(ctx, pod, c, g, "kube-probe/1.37")
	if err != nil {
		var pe *portError
		if errors.As(err, &pe) {
			return agent.ProbeFailure, err
		}
		return agent.ProbeFailure, nil
	}
	if code >= 200 && code < 400 {
		return agent.ProbeSuccess, nil
	}
	return agent.ProbeFailure, nil
}

// portError is a named port the container does not have.
type portError struct{ err error }

func (e *portError) Error() string { return e.err.Error() }

// httpGet GETs an HTTPGetAction's URL (the pod's IP by default) and
// returns the status code.
func httpGet(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction, userAgent string) (int, error) {
	host := g.Host
	if host == "" {
		host = pod.Status.PodIP
	}
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return 0, &portError{err}
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	full := u.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		// Redirects to other hosts are not followed, as upstream.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != u.Hostname() || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// RunHook implements agent.HookRunner: exec through the CRI (a non-zero
// exit fails, with the command's output), or GET over HTTP (only a
// failed request fails, as upstream).
func (p *Prober) RunHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, h *corev1.LifecycleHandler, containerID string) error {
	switch {
	case h.Exec != nil:
		var timeout int64
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(int64(time.Until(dl).Seconds()), 1)
		}
		resp, err := p.rt.rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: h.Exec.Command, Timeout: timeout})
		if err != nil {
			return fmt.Errorf("exec hook: %w", err)
		}
		if resp.ExitCode != 0 {
			return fmt.Errorf("exec hook %v exited with %d: %s", h.Exec.Command, resp.ExitCode, strings.TrimSpace(string(resp.Stdout)+string(resp.Stderr)))
		}
		return nil
	case h.HTTPGet != nil:
		if _, err := httpGet(ctx, pod, c, h.HTTPGet, "kube-lifecycle/1.37"); err != nil {
			return fmt.Errorf("http lifecycle hook: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unsupported lifecycle handler")
}

// resolvePort turns a numeric or named port into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("probe port %q not found in container %s", p.StrVal, c.Name)
}
