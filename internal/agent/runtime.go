package agent

import (
	"context"
	"errors"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrNotFound is wrapped by a Runtime's errors about a sandbox, container
// or image it does not know: creating a container in an unknown sandbox,
// starting an unknown container, the user of an absent image.
var ErrNotFound = errors.New("not found")

// Runtime is what the agent needs from a container runtime. It follows
// the CRI's RuntimeService and ImageService, so that agent/cri is a thin
// translation, and agent/sim only pretends. Every method is safe for
// concurrent use. Methods that stop or remove are idempotent: an unknown
// ID, or one stopped or removed already, is not an error. A method that
// needs an existing sandbox or container returns an error wrapping
// ErrNotFound when there is none. runtimetest.Run checks an
// implementation against this contract.
type Runtime interface {
	// Version names the runtime for the Node's nodeInfo, e.g.
	// ("containerd", "1.6.20").
	Version(ctx context.Context) (name, version string, err error)
	// UpdatePodCIDR tells the runtime the node's pod CIDR (CRI
	// UpdateRuntimeConfig); the network hands out pod IPs from it.
	UpdatePodCIDR(ctx context.Context, cidr string) error

	// RunPodSandbox creates and starts a pod sandbox (its network
	// namespace, IP and cgroup parent) and returns its ID.
	RunPodSandbox(ctx context.Context, cfg SandboxConfig) (string, error)
	// StopPodSandbox stops every container of the sandbox and releases its
	// network; the sandbox stays listed, NotReady.
	StopPodSandbox(ctx context.Context, id string) error
	// RemovePodSandbox removes a stopped sandbox and its containers.
	RemovePodSandbox(ctx context.Context, id string) error
	// ListPodSandboxes lists sandboxes, all of them when podUID is empty.
	ListPodSandboxes(ctx context.Context, podUID types.UID) ([]Sandbox, error)

	// CreateContainer creates a container in a sandbox and returns its ID.
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer signals the container to stop and kills it after grace.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a container that is not running.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists containers, all of them when podUID is empty.
	ListContainers(ctx context.Context, podUID types.UID) ([]Container, error)
	// UpdateContainerResources changes the cgroup settings of a created
	// or running container in place (CRI UpdateContainerResources), for
	// an in-place pod resize.
	UpdateContainerResources(ctx context.Context, id string, r ContainerResources) error

	// PullImage pulls an image and returns its reference (imageID).
	PullImage(ctx context.Context, image string, auth []ImageAuth) (string, error)
	// ImageStatus returns the image's reference, or "" when it is absent.
	ImageStatus(ctx context.Context, image string) (string, error)

	// Subscribe registers fn, called with a pod's UID whenever one of its
	// containers or its sandbox changes state on its own (a container
	// exits, finishes starting). A runtime that cannot tell may never call
	// it; the agent also resyncs every pod periodically. fn must not block.
	Subscribe(fn func(podUID types.UID))
}

// ImageUserReporter is implemented by runtimes that know which user an
// image runs as, so that runAsNonRoot can be enforced as upstream does.
type ImageUserReporter interface {
	// ImageUser returns the image's numeric uid, or its user name when
	// that is not numeric; both unset means root.
	ImageUser(ctx context.Context, image string) (uid *int64, username string, err error)
}

// HookRunner is implemented by probers that can also run lifecycle hooks
// (exec and httpGet handlers; the agent sleeps by itself).
type HookRunner interface {
	// RunHook runs handler against the container and returns an error
	// with the handler's output when it fails.
	RunHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, handler *corev1.LifecycleHandler, containerID string) error
}

// NetworkReporter is implemented by runtimes whose pod network needs the
// node's pod CIDR first (CRI with CNI): until it reports ready the node is
// NotReady and no pod sandbox is created, as upstream's kubelet does.
type NetworkReporter interface {
	NetworkReady() bool
}

// Streamer is the part of a runtime that serves kubectl exec, attach and
// port-forward; the agent's server (Server) proxies the API server's pod
// subresources to it.
type Streamer interface {
	// Exec runs cmd in a container, wiring the streams; resize carries
	// terminal size changes when tty is set.
	Exec(ctx context.Context, containerID string, cmd []string, tty bool, streams Streams) (exitCode int, err error)
	// Attach connects the streams to the container's main process.
	Attach(ctx context.Context, containerID string, tty bool, streams Streams) error
	// PortForward connects stream to port inside the sandbox's network.
	PortForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error
}

// Streams are the standard streams of an exec or attach; any may be nil.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize delivers terminal sizes while a TTY session runs.
	Resize <-chan TerminalSize
}

// TerminalSize is a TTY's width and height in characters.
type TerminalSize struct{ Width, Height uint16 }

// Prober runs one probe against one container: agent/cri's execs, dials
// and GETs; with none, every probe succeeds (simulated nodes).
type Prober interface {
	Probe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, probe *corev1.Probe, containerID string) (ProbeResult, error)
}

// ProbeResult is the outcome of one probe.
type ProbeResult int

const (
	// ProbeSuccess means the probe passed.
	ProbeSuccess ProbeResult = iota
	// ProbeFailure means the probe ran and failed.
	ProbeFailure
)

// ImageAuth is one set of registry credentials from imagePullSecrets.
type ImageAuth struct {
	Server, Username, Password, Auth string
}

// SandboxConfig is the pod-level configuration of a sandbox.
type SandboxConfig struct {
	PodUID          types.UID
	Name, Namespace string
	// Attempt counts the pod's sandboxes: 0 for the first.
	Attempt  uint32
	Hostname string
	// HostNetwork runs the pod in the node's network namespace.
	HostNetwork bool
	DNS         DNSConfig
	Ports       []PortMapping
	// CgroupParent is the pod's cgroup, created by the agent; empty
	// leaves the choice to the runtime.
	CgroupParent string
	// Security is the pod-level security context of the sandbox.
	Security    SandboxSecurity
	Labels      map[string]string
	Annotations map[string]string
	// RestartPolicy is the pod's. The CRI has no such field (the agent
	// does the restarting); the sim runtime uses it to decide whether its
	// pretend containers run to completion.
	RestartPolicy corev1.RestartPolicy
}

// DNSConfig is the resolv.conf of a sandbox.
type DNSConfig struct {
	Servers, Searches, Options []string
}

// PortMapping is a hostPort of a pod.
type PortMapping struct {
	Protocol      corev1.Protocol
	ContainerPort int32
	HostPort      int32
	HostIP        string
}

// ContainerKind says which list of the pod spec a container comes from.
type ContainerKind int

const (
	// Regular is a container of spec.containers.
	Regular ContainerKind = iota
	// Init is an init container that runs to completion.
	Init
	// Sidecar is a restartable init container (restartPolicy Always).
	Sidecar
	// Ephemeral is an ephemeral container (kubectl debug): started once in
	// a running pod, never restarted.
	Ephemeral
)

// ContainerConfig is one container to create in a sandbox.
type ContainerConfig struct {
	Name    string
	Kind    ContainerKind
	Attempt uint32
	Image   string
	// ImageRef is the pulled image's reference.
	ImageRef   string
	Command    []string
	Args       []string
	Env        []corev1.EnvVar
	WorkingDir string
	// Mounts are the container's volumes, already on the host.
	Mounts      []Mount
	Labels      map[string]string
	Annotations map[string]string
	// Security is the container's effective security context.
	Security ContainerSecurity
	// Resources are the container's cgroup limits.
	Resources ContainerResources
}

// Namespaces says which Linux namespaces a pod shares with the node or
// among its containers.
type Namespaces struct {
	HostNetwork, HostPID, HostIPC bool
	// SharePID gives the pod's containers one PID namespace
	// (shareProcessNamespace); otherwise each container has its own.
	SharePID bool
}

// SeccompProfile is a seccomp profile for a sandbox or container.
type SeccompProfile struct {
	// Type is RuntimeDefault, Unconfined or Localhost.
	Type corev1.SeccompProfileType
	// LocalhostPath is the profile file on the node, for Localhost.
	LocalhostPath string
}

// SandboxSecurity is the pod-level security context of a sandbox, as
// upstream's kubelet hands it to the CRI.
type SandboxSecurity struct {
	Namespaces
	RunAsUser, RunAsGroup *int64
	// SupplementalGroups has the pod's fsGroup first, then its
	// supplementalGroups.
	SupplementalGroups []int64
	// Privileged is set when any container of the pod is privileged.
	Privileged bool
	Seccomp    SeccompProfile
	Sysctls    map[string]string
}

// ContainerSecurity is the effective security context of a container:
// its own settings over the pod's.
type ContainerSecurity struct {
	Namespaces
	// RunAsUser is the uid to run as; nil leaves the image's user, and
	// RunAsUsername names a non-numeric image user.
	RunAsUser, RunAsGroup *int64
	RunAsUsername         string
	SupplementalGroups    []int64
	Privileged            bool
	ReadOnlyRootFS        bool
	// NoNewPrivs is set when allowPrivilegeEscalation is false.
	NoNewPrivs      bool
	CapAdd, CapDrop []string
	Seccomp         SeccompProfile
	// MaskedPaths and ReadonlyPaths follow procMount: the defaults, or
	// none (non-nil and empty) for Unmasked.
	MaskedPaths, ReadonlyPaths []string
}

// ContainerResources are a container's cgroup settings, in the units of
// the CRI's LinuxContainerResources.
type ContainerResources struct {
	// CPUShares come from the cpu request (2 at least).
	CPUShares int64
	// CPUQuota and CPUPeriod (microseconds) come from the cpu limit; a
	// zero quota means none.
	CPUQuota, CPUPeriod int64
	// MemoryLimit in bytes; 0 means none.
	MemoryLimit int64
	// OOMScoreAdj follows the pod's QoS class, never below 0 on nodes
	// whose runtime may not lower it.
	OOMScoreAdj int64
}

// Mount is one host path mounted into a container.
type Mount struct {
	// HostPath is the path on the host, SubPath already joined.
	HostPath      string
	ContainerPath string
	ReadOnly      bool
	// SubPath is the volumeMount's subPath, for information.
	SubPath string
}

// SandboxState is the state of a sandbox.
type SandboxState int

const (
	// SandboxReady means the sandbox runs and has its network.
	SandboxReady SandboxState = iota
	// SandboxNotReady means the sandbox was stopped or lost.
	SandboxNotReady
)

// Sandbox is a pod sandbox as the runtime reports it.
type Sandbox struct {
	ID              string
	PodUID          types.UID
	Name, Namespace string
	Attempt         uint32
	State           SandboxState
	IPs             []string
	CreatedAt       time.Time
}

// ContainerState is the state of a container.
type ContainerState int

const (
	// ContainerCreated means created, not started.
	ContainerCreated ContainerState = iota
	// ContainerRunning means started and not exited.
	ContainerRunning
	// ContainerExited means it ran and exited.
	ContainerExited
	// ContainerUnknown means the runtime lost track of it.
	ContainerUnknown
)

// Container is a container as the runtime reports it.
type Container struct {
	ID, SandboxID string
	PodUID        types.UID
	Name          string
	Kind          ContainerKind
	Attempt       uint32
	Image         string
	ImageRef      string
	State         ContainerState
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	ExitCode      int32
	// Reason is the runtime's reason for an exit (OOMKilled, Error, ...).
	Reason, Message string
	// Resources are the cgroup settings the runtime reports the
	// container has; nil when it does not say.
	Resources *ContainerResources
}
