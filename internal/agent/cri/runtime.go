package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent"
	"skiff/internal/network"
)

// Labels skiff puts on sandboxes and containers, as the kubelet names them.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"
	labelContainerKind = "skiff.dev/container-kind"
)

// Config configures a Runtime.
type Config struct {
	// Endpoint is the CRI socket path (unix).
	Endpoint string
	// LogDir is where pod logs go: LogDir/<ns>_<pod>_<uid>/<container>/<attempt>.log.
	LogDir string
	// CNIConfDir, when set, receives the node's CNI configuration (bridge +
	// host-local on the pod CIDR) whenever UpdatePodCIDR is called.
	CNIConfDir string
	// CNI tunes that configuration (its PodCIDR is filled in).
	CNI network.CNIConfig
	// PollInterval is how often container states are compared to notice
	// exits (default 1 s).
	PollInterval time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Runtime is the agent's Runtime over CRI.
type Runtime struct {
	cfg    Config
	conn   *grpc.ClientConn
	rs     runtimeapi.RuntimeServiceClient
	is     runtimeapi.ImageServiceClient
	log    *slog.Logger
	mu     sync.Mutex
	subs   []func(types.UID)
	netOK  bool
	sbCfg  map[string]*runtimeapi.PodSandboxConfig
	exited map[string]*runtimeapi.ContainerStatus
}

var (
	_ agent.Runtime           = (*Runtime)(nil)
	_ agent.NetworkReporter   = (*Runtime)(nil)
	_ agent.ImageUserReporter = (*Runtime)(nil)
)

// New dials the CRI endpoint.
func New(cfg Config) (*Runtime, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("cri: endpoint is required")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	conn, err := grpc.NewClient("unix://"+cfg.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Endpoint, err)
	}
	return &Runtime{
		cfg: cfg, conn: conn, log: cfg.Logger,
		rs: runtimeapi.NewRuntimeServiceClient(conn), is: runtimeapi.NewImageServiceClient(conn),
		sbCfg: map[string]*runtimeapi.PodSandboxConfig{}, exited: map[string]*runtimeapi.ContainerStatus{},
	}, nil
}

// Close closes the connection.
func (r *Runtime) Close() error { return r.conn.Close() }

// Version implements agent.Runtime.
func (r *Runtime) Version(ctx context.Context) (string, string, error) {
	v, err := r.rs.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return "", "", fmt.Errorf("cri version: %w", err)
	}
	return v.RuntimeName, v.RuntimeVersion, nil
}

// UpdatePodCIDR implements agent.Runtime.
func (r *Runtime) UpdatePodCIDR(ctx context.Context, cidr string) error {
	if r.cfg.CNIConfDir != "" {
		cni := r.cfg.CNI
		cni.PodCIDR = cidr
		if err := network.WriteConflist(r.cfg.CNIConfDir, cni); err != nil {
			return fmt.Errorf("write CNI config: %w", err)
		}
	}
	_, err := r.rs.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}}})
	if err == nil && cidr != "" {
		r.mu.Lock()
		r.netOK = true
		r.mu.Unlock()
	}
	return err
}

// NetworkReady implements agent.NetworkReporter: true once the pod CIDR is
// applied (or when an external runtime manages the network itself).
func (r *Runtime) NetworkReady() bool {
	if r.cfg.CNIConfDir == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.netOK
}

// PodLogDir is where a pod's container logs live.
func (r *Runtime) PodLogDir(namespace, name string, uid types.UID) string {
	return filepath.Join(r.cfg.LogDir, fmt.Sprintf("%s_%s_%s", namespace, name, uid))
}

func sandboxConfig(r *Runtime, cfg agent.SandboxConfig) *runtimeapi.PodSandboxConfig {
	labels := map[string]string{labelPodUID: string(cfg.PodUID), labelPodName: cfg.Name, labelPodNamespace: cfg.Namespace}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	sc := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: cfg.Name, Uid: string(cfg.PodUID), Namespace: cfg.Namespace, Attempt: cfg.Attempt},
		Hostname:     cfg.Hostname,
		LogDirectory: r.PodLogDir(cfg.Namespace, cfg.Name, cfg.PodUID),
		DnsConfig:    &runtimeapi.DNSConfig{Servers: cfg.DNS.Servers, Searches: cfg.DNS.Searches, Options: cfg.DNS.Options},
		Labels:       labels,
		Annotations:  cfg.Annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent:    cfg.CgroupParent,
			SecurityContext: sandboxSecurityContext(cfg.Security),
			Sysctls:         cfg.Security.Sysctls,
		},
	}
	if cfg.HostNetwork {
		sc.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
		sc.Hostname = ""
	}
	for _, p := range cfg.Ports {
		proto := runtimeapi.Protocol_TCP
		switch p.Protocol {
		case corev1.ProtocolUDP:
			proto = runtimeapi.Protocol_UDP
		case corev1.ProtocolSCTP:
			proto = runtimeapi.Protocol_SCTP
		}
		sc.PortMappings = append(sc.PortMappings, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
	}
	return sc
}

// RunPodSandbox implements agent.Runtime.
func (r *Runtime) RunPodSandbox(ctx context.Context, cfg agent.SandboxConfig) (string, error) {
	sc := sandboxConfig(r, cfg)
	resp, err := r.rs.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sc})
	if err != nil {
		return "", fmt.Errorf("run pod sandbox: %w", err)
	}
	r.mu.Lock()
	r.sbCfg[resp.PodSandboxId] = sc
	r.mu.Unlock()
	return resp.PodSandboxId, nil
}

// StopPodSandbox implements agent.Runtime.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	_, err := r.rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
	return idempotent(err)
}

// RemovePodSandbox implements agent.Runtime.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	_, err := r.rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	r.mu.Lock()
	delete(r.sbCfg, id)
	r.mu.Unlock()
	return idempotent(err)
}

// notFound translates the CRI's NotFound into agent.ErrNotFound.
func notFound(err error) error {
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("%w: %v", agent.ErrNotFound, err)
	}
	return err
}

// idempotent drops the CRI's NotFound: stopping or removing what is gone
// already succeeds (the agent.Runtime contract).
func idempotent(err error) error {
	if status.Code(err) == codes.NotFound {
		return nil
	}
	return err
}

func podFilter(uid types.UID) map[string]string {
	if uid == "" {
		return nil
	}
	return map[string]string{labelPodUID: string(uid)}
}

// ListPodSandboxes implements agent.Runtime.
func (r *Runtime) ListPodSandboxes(ctx context.Context, podUID types.UID) ([]agent.Sandbox, error) {
	resp, err := r.rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: podFilter(podUID)}})
	if err != nil {
		return nil, fmt.Errorf("list pod sandboxes: %w", err)
	}
	out := make([]agent.Sandbox, 0, len(resp.Items))
	for _, it := range resp.Items {
		sb := agent.Sandbox{
			ID: it.Id, PodUID: types.UID(it.Labels[labelPodUID]), CreatedAt: time.Unix(0, it.CreatedAt),
			State: agent.SandboxNotReady,
		}
		if it.Metadata != nil {
			sb.Name, sb.Namespace, sb.Attempt = it.Metadata.Name, it.Metadata.Namespace, it.Metadata.Attempt
		}
		if it.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			sb.State = agent.SandboxReady
			st, err := r.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: it.Id})
			if err == nil && st.Status != nil && st.Status.Network != nil {
				if st.Status.Network.Ip != "" {
					sb.IPs = append(sb.IPs, st.Status.Network.Ip)
				}
				for _, ip := range st.Status.Network.AdditionalIps {
					sb.IPs = append(sb.IPs, ip.Ip)
				}
			}
		}
		out = append(out, sb)
	}
	return out, nil
}

// sandboxConfigFor returns the config a sandbox was created with, rebuilt
// from its status after an agent restart.
func (r *Runtime) sandboxConfigFor(ctx context.Context, id string) (*runtimeapi.PodSandboxConfig, error) {
	r.mu.Lock()
	sc := r.sbCfg[id]
	r.mu.Unlock()
	if sc != nil {
		return sc, nil
	}
	st, err := r.rs.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		return nil, notFound(err)
	}
	s := st.Status
	sc = &runtimeapi.PodSandboxConfig{Metadata: s.Metadata, Labels: s.Labels, Annotations: s.Annotations,
		LogDirectory: r.PodLogDir(s.Metadata.Namespace, s.Metadata.Name, types.UID(s.Metadata.Uid)), Linux: &runtimeapi.LinuxPodSandboxConfig{}}
	r.mu.Lock()
	r.sbCfg[id] = sc
	r.mu.Unlock()
	return sc, nil
}

// CreateContainer implements agent.Runtime.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg agent.ContainerConfig) (string, error) {
	sc, err := r.sandboxConfigFor(ctx, sandboxID)
	if err != nil {
		return "", err
	}
	labels := map[string]string{
		labelPodUID: sc.Labels[labelPodUID], labelPodName: sc.Labels[labelPodName], labelPodNamespace: sc.Labels[labelPodNamespace],
		labelContainerName: cfg.Name, labelContainerKind: fmt.Sprint(int(cfg.Kind)),
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	image := cfg.ImageRef
	if image == "" {
		image = cfg.Image
	}
	cc := &runtimeapi.ContainerConfig{
		Metadata:    &runtimeapi.ContainerMetadata{Name: cfg.Name, Attempt: cfg.Attempt},
		Image:       &runtimeapi.ImageSpec{Image: image, UserSpecifiedImage: cfg.Image},
		Command:     cfg.Command,
		Args:        cfg.Args,
		WorkingDir:  cfg.WorkingDir,
		Labels:      labels,
		Annotations: cfg.Annotations,
		LogPath:     filepath.Join(cfg.Name, fmt.Sprintf("%d.log", cfg.Attempt)),
		Linux:       &runtimeapi.LinuxContainerConfig{SecurityContext: containerSecurityContext(cfg.Security), Resources: containerResources(cfg.Resources)},
	}
	for _, m := range cfg.Mounts {
		cc.Mounts = append(cc.Mounts, &runtimeapi.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.ReadOnly})
	}
	for _, e := range cfg.Env {
		cc.Envs = append(cc.Envs, &runtimeapi.KeyValue{Key: e.Name, Value: []byte(e.Value)})
	}
	resp, err := r.rs.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: cc, SandboxConfig: sc})
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", cfg.Name, err)
	}
	return resp.ContainerId, nil
}

// StartContainer implements agent.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	_, err := r.rs.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
	if err != nil {
		return fmt.Errorf("start container: %w", notFound(err))
	}
	return nil
}

// StopContainer implements agent.Runtime.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	_, err := r.rs.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: int64(grace.Seconds())})
	return idempotent(err)
}

// UpdateContainerResources implements agent.Runtime.
func (r *Runtime) UpdateContainerResources(ctx context.Context, id string, res agent.ContainerResources) error {
	_, err := r.rs.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: containerResources(res)})
	if err != nil {
		return fmt.Errorf("update container resources: %w", notFound(err))
	}
	return nil
}

// RemoveContainer implements agent.Runtime.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	_, err := r.rs.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
	r.mu.Lock()
	delete(r.exited, id)
	r.mu.Unlock()
	return idempotent(err)
}

// ListContainers implements agent.Runtime.
func (r *Runtime) ListContainers(ctx context.Context, podUID types.UID) ([]agent.Container, error) {
	resp, err := r.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: podFilter(podUID)}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]agent.Container, 0, len(resp.Containers))
	for _, c := range resp.Containers {
		ac := agent.Container{
			ID: c.Id, SandboxID: c.PodSandboxId, PodUID: types.UID(c.Labels[labelPodUID]),
			ImageRef: c.ImageRef, CreatedAt: time.Unix(0, c.CreatedAt),
		}
		if c.Metadata != nil {
			ac.Name, ac.Attempt = c.Metadata.Name, c.Metadata.Attempt
		}
		if c.Image != nil {
			ac.Image = c.Image.UserSpecifiedImage
			if ac.Image == "" {
				ac.Image = c.Image.Image
			}
		}
		var kind int
		fmt.Sscan(c.Labels[labelContainerKind], &kind)
		ac.Kind = agent.ContainerKind(kind)
		switch c.State {
		case runtimeapi.ContainerState_CONTAINER_CREATED:
			ac.State = agent.ContainerCreated
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			ac.State = agent.ContainerRunning
			if st, err := r.status(ctx, c.Id, false); err == nil {
				ac.StartedAt = time.Unix(0, st.StartedAt)
				ac.Resources = reportedResources(st.Resources)
			}
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			ac.State = agent.ContainerExited
			if st, err := r.status(ctx, c.Id, true); err == nil {
				ac.StartedAt, ac.FinishedAt = time.Unix(0, st.StartedAt), time.Unix(0, st.FinishedAt)
				ac.ExitCode, ac.Reason, ac.Message = st.ExitCode, st.Reason, st.Message
			}
		default:
			ac.State = agent.ContainerUnknown
		}
		out = append(out, ac)
	}
	return out, nil
}

// status returns a container's status; exited ones never change, so they
// are remembered.
func (r *Runtime) status(ctx context.Context, id string, exited bool) (*runtimeapi.ContainerStatus, error) {
	if exited {
		r.mu.Lock()
		st := r.exited[id]
		r.mu.Unlock()
		if st != nil {
			return st, nil
		}
	}
	resp, err := r.rs.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, notFound(err)
	}
	if exited && settled(resp.Status, time.Now()) {
		r.mu.Lock()
		r.exited[id] = resp.Status
		r.mu.Unlock()
	}
	return resp.Status, nil
}

// unsettled reports whether an exited container's status may still
// change; statuses that settled are cached, so this costs a call only
// for containers that exited moments ago with reason Error.
func (r *Runtime) unsettled(ctx context.Context, id string) bool {
	r.mu.Lock()
	_, cached := r.exited[id]
	r.mu.Unlock()
	if cached {
		return false
	}
	st, err := r.status(ctx, id, true)
	return err == nil && !settled(st, time.Now())
}

// reasonSettleTime is how long after an exit containerd may still change
// its reason: its OOM event can come after the exit event, turning Error
// into OOMKilled.
const reasonSettleTime = 5 * time.Second

// settled reports whether an exited container's status will not change
// any more.
func settled(st *runtimeapi.ContainerStatus, now time.Time) bool {
	return st.Reason != "Error" || now.Sub(time.Unix(0, st.FinishedAt)) > reasonSettleTime
}

// PullImage implements agent.Runtime.
func (r *Runtime) PullImage(ctx context.Context, image string, auth []agent.ImageAuth) (string, error) {
	var lastErr error
	tries := auth
	if len(tries) == 0 {
		tries = []agent.ImageAuth{{}}
	}
	for _, a := range tries {
		req := &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}}
		if a != (agent.ImageAuth{}) {
			req.Auth = &runtimeapi.AuthConfig{ServerAddress: a.Server, Username: a.Username, Password: a.Password, Auth: a.Auth}
		}
		resp, err := r.is.PullImage(ctx, req)
		if err == nil {
			return resp.ImageRef, nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("pull image %s: %w", image, lastErr)
}

// ImageStatus implements agent.Runtime.
func (r *Runtime) ImageStatus(ctx context.Context, image string) (string, error) {
	resp, err := r.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil {
		return "", fmt.Errorf("image status %s: %w", image, err)
	}
	if resp.Image == nil {
		return "", nil
	}
	return resp.Image.Id, nil
}

// ImageUser implements agent.ImageUserReporter from the image's config.
func (r *Runtime) ImageUser(ctx context.Context, image string) (*int64, string, error) {
	resp, err := r.is.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
	if err != nil {
		return nil, "", fmt.Errorf("image status %s: %w", image, err)
	}
	if resp.Image == nil {
		return nil, "", fmt.Errorf("image %s: %w", image, agent.ErrNotFound)
	}
	if resp.Image.Uid != nil {
		uid := resp.Image.Uid.Value
		return &uid, "", nil
	}
	return nil, resp.Image.Username, nil
}

// Subscribe implements agent.Runtime.
func (r *Runtime) Subscribe(fn func(podUID types.UID)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

// Run polls container states until ctx is done and tells subscribers which
// pods changed.
func (r *Runtime) Run(ctx context.Context) error {
	last := map[string]runtimeapi.ContainerState{}
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		resp, err := r.rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("poll containers failed", "err", err)
			}
			continue
		}
		now := map[string]runtimeapi.ContainerState{}
		changed := map[types.UID]bool{}
		for _, c := range resp.Containers {
			now[c.Id] = c.State
			// A container first seen already exited (it ran briefly between
			// two polls) is a change too.
			if prev, ok := last[c.Id]; (ok && prev != c.State) || (!ok && c.State == runtimeapi.ContainerState_CONTAINER_EXITED) {
				changed[types.UID(c.Labels[labelPodUID])] = true
				continue
			}
			if c.State == runtimeapi.ContainerState_CONTAINER_EXITED && r.unsettled(ctx, c.Id) {
				// Look again until containerd's reason settles.
				changed[types.UID(c.Labels[labelPodUID])] = true
			}
		}
		last = now
		if len(changed) == 0 {
			continue
		}
		r.mu.Lock()
		subs := append([]func(types.UID){}, r.subs...)
		r.mu.Unlock()
		for uid := range changed {
			for _, fn := range subs {
				fn(uid)
			}
		}
	}
}
