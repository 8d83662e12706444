package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/agent"
)

// AnnotationExitCode on a pod makes its containers exit with that code
// after the run time, whatever the restartPolicy.
const AnnotationExitCode = "sim.skiff.dev/exit-code"

// Name and Version identify the runtime in nodeInfo and container IDs.
const (
	Name    = "sim"
	Version = "0.1.0"
)

// Config configures one simulated runtime.
type Config struct {
	// StartDelay is how long a started container stays Created before it
	// runs.
	StartDelay time.Duration
	// RunTime is how long a container that finishes runs.
	RunTime time.Duration
	// FakeCIDR gives pod IPs while the node has no podCIDR (10.244.0.0/24
	// by default).
	FakeCIDR string
}

// Runtime is a pretend agent.Runtime. It is safe for concurrent use.
type Runtime struct {
	cfg Config

	mu         sync.Mutex
	notify     func(types.UID)
	ipnet      *net.IPNet
	usedIPs    map[string]bool
	seq        uint64
	sandboxes  map[string]*sandbox
	containers map[string]*container
	byPod      map[types.UID]*podRecord
	// pullFaults are the errors FailPulls injected, by image.
	pullFaults map[string]error
	// updateFault fails every UpdateContainerResources (FailResourceUpdates).
	updateFault error
}

type podRecord struct {
	sandboxes  []*sandbox
	containers []*container
}

type sandbox struct {
	agent.Sandbox
	restartPolicy corev1.RestartPolicy
	exitCode      *int32
}

type container struct {
	agent.Container
	timer *time.Timer
}

var _ agent.Runtime = (*Runtime)(nil)

// New returns an empty runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.FakeCIDR == "" {
		cfg.FakeCIDR = "10.244.0.0/24"
	}
	r := &Runtime{
		cfg:        cfg,
		usedIPs:    map[string]bool{},
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		byPod:      map[types.UID]*podRecord{},
		pullFaults: map[string]error{},
	}
	if err := r.UpdatePodCIDR(context.Background(), ""); err != nil {
		return nil, fmt.Errorf("new sim runtime: %w", err)
	}
	return r, nil
}

// Version implements agent.Runtime.
func (r *Runtime) Version(context.Context) (string, string, error) { return Name, Version, nil }

// Subscribe implements agent.Runtime.
func (r *Runtime) Subscribe(fn func(types.UID)) {
	r.mu.Lock()
	r.notify = fn
	r.mu.Unlock()
}

// UpdatePodCIDR implements agent.Runtime: pod IPs come from cidr, or from
// the fake range when it is empty.
func (r *Runtime) UpdatePodCIDR(_ context.Context, cidr string) error {
	if cidr == "" {
		cidr = r.cfg.FakeCIDR
	}
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("update pod cidr: %w", err)
	}
	r.mu.Lock()
	r.ipnet = n
	r.mu.Unlock()
	return nil
}

func (r *Runtime) nextID() string {
	r.seq++
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.seq)
	sum := sha256.Sum256(append(b[:], fmt.Sprintf("%p", r)...))
	return hex.EncodeToString(sum[:])
}

// allocIP hands out the lowest free address after the gateway (.1).
func (r *Runtime) allocIP() (string, error) {
	n := r.ipnet
	ones, bits := n.Mask.Size()
	size := uint64(1) << uint(bits-ones)
	base := n.IP.To4()
	if base == nil {
		return "", fmt.Errorf("allocate pod ip: only IPv4 ranges are simulated")
	}
	b := binary.BigEndian.Uint32(base)
	for i := uint64(2); i+1 < size; i++ {
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], b+uint32(i))
		s := net.IP(ip[:]).String()
		if !r.usedIPs[s] {
			r.usedIPs[s] = true
			return s, nil
		}
	}
	return "", fmt.Errorf("allocate pod ip: range %s is full", n)
}

func (r *Runtime) pod(uid types.UID) *podRecord {
	p := r.byPod[uid]
	if p == nil {
		p = &podRecord{}
		r.byPod[uid] = p
	}
	return p
}

// RunPodSandbox implements agent.Runtime.
func (r *Runtime) RunPodSandbox(_ context.Context, cfg agent.SandboxConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb := &sandbox{
		Sandbox: agent.Sandbox{
			ID: r.nextID(), PodUID: cfg.PodUID, Name: cfg.Name, Namespace: cfg.Namespace,
			Attempt: cfg.Attempt, State: agent.SandboxReady, CreatedAt: time.Now(),
		},
		restartPolicy: cfg.RestartPolicy,
	}
	if v, ok := cfg.Annotations[AnnotationExitCode]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return "", fmt.Errorf("run pod sandbox: annotation %s: %w", AnnotationExitCode, err)
		}
		code := int32(n)
		sb.exitCode = &code
	}
	if !cfg.HostNetwork {
		ip, err := r.allocIP()
		if err != nil {
			return "", err
		}
		sb.IPs = []string{ip}
	}
	r.sandboxes[sb.ID] = sb
	p := r.pod(cfg.PodUID)
	p.sandboxes = append(p.sandboxes, sb)
	return sb.ID, nil
}

// StopPodSandbox implements agent.Runtime.
func (r *Runtime) StopPodSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb := r.sandboxes[id]
	if sb == nil {
		return nil
	}
	for _, c := range r.byPod[sb.PodUID].containers {
		if c.SandboxID == id {
			r.exit(c, 137, "Error")
		}
	}
	if sb.State == agent.SandboxReady {
		for _, ip := range sb.IPs {
			delete(r.usedIPs, ip)
		}
	}
	sb.State = agent.SandboxNotReady
	return nil
}

// RemovePodSandbox implements agent.Runtime.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	if err := r.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sb := r.sandboxes[id]
	if sb == nil {
		return nil
	}
	delete(r.sandboxes, id)
	p := r.byPod[sb.PodUID]
	var keepS []*sandbox
	for _, s := range p.sandboxes {
		if s.ID != id {
			keepS = append(keepS, s)
		}
	}
	var keepC []*container
	for _, c := range p.containers {
		if c.SandboxID == id {
			delete(r.containers, c.ID)
		} else {
			keepC = append(keepC, c)
		}
	}
	p.sandboxes, p.containers = keepS, keepC
	if len(keepS) == 0 && len(keepC) == 0 {
		delete(r.byPod, sb.PodUID)
	}
	return nil
}

// ListPodSandboxes implements agent.Runtime.
func (r *Runtime) ListPodSandboxes(_ context.Context, podUID types.UID) ([]agent.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.Sandbox
	if podUID != "" {
		if p := r.byPod[podUID]; p != nil {
			for _, s := range p.sandboxes {
				out = append(out, s.Sandbox)
			}
		}
		return out, nil
	}
	for _, s := range r.sandboxes {
		out = append(out, s.Sandbox)
	}
	return out, nil
}

// CreateContainer implements agent.Runtime.
func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg agent.ContainerConfig) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb := r.sandboxes[sandboxID]
	if sb == nil {
		return "", fmt.Errorf("create container %s: sandbox %s: %w", cfg.Name, sandboxID, agent.ErrNotFound)
	}
	if sb.State != agent.SandboxReady {
		return "", fmt.Errorf("create container %s: sandbox %s is not ready", cfg.Name, sandboxID)
	}
	c := &container{Container: agent.Container{
		ID: r.nextID(), SandboxID: sandboxID, PodUID: sb.PodUID, Name: cfg.Name, Kind: cfg.Kind,
		Attempt: cfg.Attempt, Image: cfg.Image, ImageRef: cfg.ImageRef,
		State: agent.ContainerCreated, CreatedAt: time.Now(),
	}}
	res := cfg.Resources
	c.Resources = &res
	r.containers[c.ID] = c
	p := r.pod(sb.PodUID)
	p.containers = append(p.containers, c)
	return c.ID, nil
}

// StartContainer implements agent.Runtime: the container runs after
// StartDelay, and exits after RunTime if it is meant to finish.
func (r *Runtime) StartContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	if c == nil {
		return fmt.Errorf("start container %s: %w", id, agent.ErrNotFound)
	}
	if c.State != agent.ContainerCreated {
		return fmt.Errorf("start container %s: not in created state", id)
	}
	if r.cfg.StartDelay <= 0 {
		r.run(c)
		return nil
	}
	c.timer = time.AfterFunc(r.cfg.StartDelay, func() {
		r.mu.Lock()
		ran := c.State == agent.ContainerCreated && r.containers[c.ID] == c
		if ran {
			r.run(c)
		}
		fn := r.notify
		r.mu.Unlock()
		if ran && fn != nil {
			fn(c.PodUID)
		}
	})
	return nil
}

// run moves c to Running and arms its exit. r.mu is held.
func (r *Runtime) run(c *container) {
	c.State = agent.ContainerRunning
	c.StartedAt = time.Now()
	sb := r.sandboxes[c.SandboxID]
	code, finishes := int32(0), false
	switch {
	case c.Kind == agent.Init:
		r.exit(c, 0, "")
		return
	case c.Kind == agent.Sidecar:
	case sb != nil && sb.exitCode != nil:
		code, finishes = *sb.exitCode, true
	case sb != nil && sb.restartPolicy != corev1.RestartPolicyAlways:
		finishes = true
	}
	if !finishes {
		return
	}
	c.timer = time.AfterFunc(r.cfg.RunTime, func() {
		r.mu.Lock()
		exited := c.State == agent.ContainerRunning && r.containers[c.ID] == c
		if exited {
			r.exit(c, code, "")
		}
		fn := r.notify
		r.mu.Unlock()
		if exited && fn != nil {
			fn(c.PodUID)
		}
	})
}

// exit moves c to Exited unless it already is. r.mu is held.
func (r *Runtime) exit(c *container, code int32, reason string) {
	if c.State == agent.ContainerExited {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	now := time.Now()
	if c.StartedAt.IsZero() {
		c.StartedAt = now
	}
	c.State, c.FinishedAt, c.ExitCode, c.Reason = agent.ContainerExited, now, code, reason
}

// StopContainer implements agent.Runtime: a pretend container dies at
// once, as if killed (exit code 137).
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.containers[id]; c != nil {
		r.exit(c, 137, "Error")
	}
	return nil
}

// RemoveContainer implements agent.Runtime.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	if c == nil {
		return nil
	}
	if c.State == agent.ContainerRunning {
		return fmt.Errorf("remove container %s: it is running", id)
	}
	delete(r.containers, id)
	p := r.byPod[c.PodUID]
	for i, x := range p.containers {
		if x == c {
			p.containers = append(p.containers[:i:i], p.containers[i+1:]...)
			break
		}
	}
	return nil
}

// UpdateContainerResources implements agent.Runtime: the container
// reports the new resources from then on.
func (r *Runtime) UpdateContainerResources(_ context.Context, id string, res agent.ContainerResources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.containers[id]
	if c == nil {
		return fmt.Errorf("update container resources %s: %w", id, agent.ErrNotFound)
	}
	if c.State == agent.ContainerExited {
		return fmt.Errorf("update container resources %s: container is not running", id)
	}
	if r.updateFault != nil {
		return fmt.Errorf("update container resources %s: %w", id, r.updateFault)
	}
	c.Resources = &res
	return nil
}

// ListContainers implements agent.Runtime.
func (r *Runtime) ListContainers(_ context.Context, podUID types.UID) ([]agent.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.Container
	if podUID != "" {
		if p := r.byPod[podUID]; p != nil {
			for _, c := range p.containers {
				out = append(out, c.Container)
			}
		}
		return out, nil
	}
	for _, c := range r.containers {
		out = append(out, c.Container)
	}
	return out, nil
}

// PullImage implements agent.Runtime: every image is there, unless
// FailPulls made its pulls fail.
func (r *Runtime) PullImage(_ context.Context, image string, _ []agent.ImageAuth) (string, error) {
	r.mu.Lock()
	err := r.pullFaults[image]
	r.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("pull image %s: %w", image, err)
	}
	return imageRef(image), nil
}

// ImageStatus implements agent.Runtime: every image is there, except one
// whose pulls FailPulls made fail.
func (r *Runtime) ImageStatus(_ context.Context, image string) (string, error) {
	r.mu.Lock()
	err := r.pullFaults[image]
	r.mu.Unlock()
	if err != nil {
		return "", nil
	}
	return imageRef(image), nil
}

func imageRef(image string) string {
	sum := sha256.Sum256([]byte(image))
	return "sha256:" + hex.EncodeToString(sum[:])
}
