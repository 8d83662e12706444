package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"

	"skiff/internal/version"
)

// Defaults of Config's durations, the kubelet's.
const (
	DefaultLeaseDuration      = 40 * time.Second
	DefaultLeaseRenewInterval = 10 * time.Second
	DefaultStatusInterval     = 5 * time.Minute
	DefaultResyncInterval     = time.Minute
)

// LabelControlPlane marks a node that runs the control plane.
const LabelControlPlane = "node-role.kubernetes.io/control-plane"

// Config configures one node agent.
type Config struct {
	// NodeName is the Node's name (required).
	NodeName string
	// Client talks to the API server (required). Many agents in one
	// process should share one client, hence one HTTP/2 connection.
	Client kubernetes.Interface
	// Runtime runs the pods (required).
	Runtime Runtime
	// Prober runs probes; nil means every probe succeeds.
	Prober Prober
	// Pool runs the agent's work; nil gives the agent its own, run by Run,
	// with Workers goroutines (4 when 0).
	Pool *Pool
	// Workers is how many pods (and heartbeats, probes) the agent's own
	// pool works on at once. A real runtime blocks each pod's sync for as
	// long as CRI calls take, so pods starting together need one each.
	Workers int
	// FeedPods means the caller delivers the node's pods and Node through
	// PodUpdated, PodDeleted and NodeUpdated instead of the agent watching
	// them itself.
	FeedPods bool
	// NodeIPs are the node's InternalIP addresses; the first non-loopback
	// address of the host by default.
	NodeIPs []string
	// Labels are added to the Node's well-known labels.
	Labels map[string]string
	// ControlPlane labels the node node-role.kubernetes.io/control-plane.
	ControlPlane bool
	// ClusterDNS are the cluster DNS servers pods with dnsPolicy
	// ClusterFirst use; ClusterDomain is the cluster's DNS domain.
	ClusterDNS    []string
	ClusterDomain string
	// Capacity is the node's capacity; by default the host's CPUs, memory
	// and 110 pods (ephemeral-storage when given).
	Capacity corev1.ResourceList
	// LeaseDuration, LeaseRenewInterval, StatusInterval and
	// ResyncInterval default to the Default* constants; ResyncInterval < 0
	// turns the periodic pod resync off (for runtimes that notify).
	LeaseDuration      time.Duration
	LeaseRenewInterval time.Duration
	StatusInterval     time.Duration
	ResyncInterval     time.Duration
	// RootDir is where the agent keeps pods' volumes
	// (<RootDir>/pods/<uid>/volumes/<plugin>/<name>); empty turns volumes
	// off, for runtimes that run nothing (sim).
	RootDir string
	// StorageDir holds the node's local-path volumes (<data-dir>/storage):
	// the agent publishes it on its Node (annotation skiff.io/storage-dir)
	// for the local-path provisioner, creates the directories of the PVs
	// labelled skiff.io/local-path-node=<node> there, bounded to their
	// capacity where the filesystem can (btrfs qgroups, ext4/xfs project
	// quotas), and removes them when their PV goes. Empty turns that off.
	StorageDir string
	// VolumeUsageInterval is how often the local-path volumes whose
	// capacity is not enforced are measured, to warn their claims when
	// they go over (DefaultVolumeUsageInterval; < 0 turns it off).
	VolumeUsageInterval time.Duration
	// LogDir holds the pods' log folders (<ns>_<name>_<uid>), for the
	// log tails of terminationMessagePolicy FallbackToLogsOnError.
	LogDir string
	// NodeHostsFile is the node's hosts file, which host-network pods
	// see as theirs (default /etc/hosts).
	NodeHostsFile string
	// Clock is the time source; the real one by default.
	Clock clock.Clock
	// Logger logs the agent's errors; discarded when nil.
	Logger *slog.Logger
	// CgroupRoot is the cgroup below which the agent creates a cgroup
	// per pod (CgroupRoot/burstable/pod<uid>, ...), e.g. /kubepods;
	// empty leaves cgroups to the runtime (simulated nodes).
	CgroupRoot string
	// CgroupMount is where the cgroup filesystems are mounted
	// (default /sys/fs/cgroup).
	CgroupMount string
	// Events turns on Kubernetes Events about pods (Pulled, Started,
	// Killing, BackOff, ...) from component "kubelet". Off for simulated
	// nodes, whose pods would flood the API with them.
	Events bool
	// KubeletPort is where the agent's kubelet API (Server) listens,
	// published in status.daemonEndpoints (default 10250).
	KubeletPort int32
	// PodManifestPath is a folder of static pod manifests (*.yaml, *.yml,
	// *.json), read every ManifestScanInterval (default
	// DefaultManifestScanInterval); empty runs no static pods.
	PodManifestPath      string
	ManifestScanInterval time.Duration
	// HousekeepingInterval is how often orphaned pods are swept and
	// garbage collected (DefaultHousekeeping; < 0 turns it off, as for
	// simulated nodes fed by a shared watch).
	HousekeepingInterval time.Duration
	// ImageGCHighPercent and ImageGCLowPercent bound the image
	// filesystem's usage: above high, unused images are removed down to
	// low (defaults 85 and 80). ImageMinimumGCAge spares images used more
	// recently (default 2 min). PinnedImages are never removed (the
	// sandbox image).
	ImageGCHighPercent int
	ImageGCLowPercent  int
	ImageMinimumGCAge  time.Duration
	PinnedImages       []string
	// ImageMounter mounts images on the node for image volumes; without
	// one, a container that mounts an image volume cannot be created.
	ImageMounter ImageMounter
	// CSI mounts CSI volumes; without it, a pod with one cannot start.
	CSI CSIVolumes
}

func (c *Config) setDefaults() {
	if c.CgroupMount == "" {
		c.CgroupMount = "/sys/fs/cgroup"
	}
	if c.KubeletPort == 0 {
		c.KubeletPort = 10250
	}
	if c.Prober == nil {
		c.Prober = alwaysSucceeds{}
	}
	if len(c.NodeIPs) == 0 {
		c.NodeIPs = hostIPs()
	}
	if c.Capacity == nil {
		c.Capacity = hostCapacity()
	}
	if _, ok := c.Capacity[corev1.ResourcePods]; !ok {
		c.Capacity = c.Capacity.DeepCopy()
		c.Capacity[corev1.ResourcePods] = resource.MustParse("110")
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.LeaseRenewInterval == 0 {
		c.LeaseRenewInterval = DefaultLeaseRenewInterval
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.ManifestScanInterval == 0 {
		c.ManifestScanInterval = DefaultManifestScanInterval
	}
	if c.HousekeepingInterval == 0 {
		c.HousekeepingInterval = DefaultHousekeeping
		if c.FeedPods {
			// Agents fed by a shared watch are simulated nodes by the
			// thousand: a sweep's LIST per node would load the API.
			c.HousekeepingInterval = -1
		}
	}
	if c.ImageGCHighPercent == 0 {
		c.ImageGCHighPercent = DefaultImageGCHighPercent
	}
	if c.ImageGCLowPercent == 0 {
		c.ImageGCLowPercent = DefaultImageGCLowPercent
	}
	if c.ImageMinimumGCAge == 0 {
		c.ImageMinimumGCAge = DefaultImageMinimumGCAge
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("new agent: NodeName is required")
	case c.Client == nil:
		return errors.New("new agent: Client is required")
	case c.Runtime == nil:
		return errors.New("new agent: Runtime is required")
	case c.LeaseRenewInterval >= c.LeaseDuration:
		return fmt.Errorf("new agent: lease renew interval %s must be shorter than the lease duration %s", c.LeaseRenewInterval, c.LeaseDuration)
	case c.ImageGCLowPercent < 0 || c.ImageGCLowPercent > c.ImageGCHighPercent || c.ImageGCHighPercent > 100:
		return fmt.Errorf("new agent: image GC thresholds must be 0 <= low (%d) <= high (%d) <= 100", c.ImageGCLowPercent, c.ImageGCHighPercent)
	}
	return nil
}

// Agent is one node agent. Its methods are safe for concurrent use.
type Agent struct {
	cfg     Config
	pool    *Pool
	ownPool bool
	log     *slog.Logger

	mu          sync.Mutex
	pods        map[types.UID]*podEntry
	nodeUID     types.UID
	podCIDR     string
	cidrApplied string
	lastNode    *corev1.NodeStatus
	lastNodeAt  time.Time
	lease       leaseState
	runtimeName string
	runtimeVer  string
	// tokens caches service account tokens of projected volumes.
	tokens map[tokenKey]cachedToken
	// kernel and osImage are read once, for nodeInfo.
	kernel, osImage string

	// broadcaster and recorder send events; nil without Config.Events.
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	// cgroups writes pod cgroups; nil without Config.CgroupRoot.
	cgroups *cgroupFS
	// imageBackOff spaces failed pulls of an image for a pod: 10 s
	// doubling to 5 min, as upstream.
	imageBackOff *flowcontrol.Backoff
	// static holds the static pods' bookkeeping and their mirror pods.
	static staticState
	// imageLastUsed is when each image was last seen in use, for the
	// image garbage collection.
	imageLastUsed map[string]time.Time
	// alloc holds the pods' allocated and actuated resources, kept in a
	// checkpoint below RootDir (resize.go).
	alloc *allocations
	// localPaths keeps the node's local-path volumes; nil without
	// Config.StorageDir.
	localPaths *localPaths
	// claimsOwned are the claim volumes of each pod whose files were
	// given the pod's fsGroup: once per pod, as upstream does it at mount.
	claimsOwned map[types.UID]map[string]bool
}

// New validates cfg and returns an agent; nothing runs until Run (or
// Start, when the caller runs the Pool).
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, pool: cfg.Pool, log: cfg.Logger.With("node", cfg.NodeName), pods: map[types.UID]*podEntry{}, tokens: map[tokenKey]cachedToken{},
		claimsOwned: map[types.UID]map[string]bool{},
		kernel:      kernelVersion(), osImage: osImage(), static: newStaticState(),
	}
	if a.pool == nil {
		a.pool, a.ownPool = NewPool(cfg.Workers), true
	}
	if cfg.Events {
		a.broadcaster, a.recorder = newEventBroadcaster(cfg.NodeName)
	}
	if cfg.CgroupRoot != "" {
		a.cgroups = &cgroupFS{mount: cfg.CgroupMount}
	}
	checkpoint := ""
	if cfg.RootDir != "" {
		checkpoint = filepath.Join(cfg.RootDir, allocationCheckpoint)
	}
	var err error
	if a.alloc, err = loadAllocations(checkpoint); err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	a.imageBackOff = flowcontrol.NewBackOff(imageBackOffInitial, imageBackOffMax)
	a.imageBackOff.Clock = cfg.Clock
	if cfg.StorageDir != "" {
		if a.localPaths, err = newLocalPaths(localPathsConfig{Dir: cfg.StorageDir, Node: cfg.NodeName, Client: cfg.Client,
			Recorder: a.recorder, Log: a.log, Clock: cfg.Clock, UsageEvery: cfg.VolumeUsageInterval}); err != nil {
			return nil, fmt.Errorf("new agent: %w", err)
		}
	}
	return a, nil
}

// NodeName is the name of the agent's Node.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Run registers the node and runs the agent until ctx is done: its own
// Pool when it has one, and its own watches unless Config.FeedPods.
func (a *Agent) Run(ctx context.Context) error {
	a.startEvents()
	defer a.stopEvents()
	defer a.removeEmptyCgroups()
	// Like the kubelet, keep trying to register while the API server is
	// not there yet.
	for {
		err := a.Start(ctx)
		if err == nil {
			break
		}
		a.log.Warn("register node", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(retryAfter):
		}
	}
	var wg sync.WaitGroup
	if a.ownPool {
		wg.Go(func() { _ = a.pool.Run(ctx) })
	}
	if !a.cfg.FeedPods {
		wg.Go(func() { a.watch(ctx) })
	}
	if a.localPaths != nil {
		wg.Go(func() { a.localPaths.run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// Start registers the Node and its Lease and schedules the heartbeats on
// the Pool. It does not block; the caller runs the Pool (Run does both).
func (a *Agent) Start(ctx context.Context) error {
	name, ver, err := a.cfg.Runtime.Version(ctx)
	if err != nil {
		return fmt.Errorf("start agent %s: runtime version: %w", a.cfg.NodeName, err)
	}
	a.mu.Lock()
	a.runtimeName, a.runtimeVer = name, ver
	a.mu.Unlock()
	a.cfg.Runtime.Subscribe(func(uid types.UID) { a.pool.add(item{a: a, kind: itemPod, key: string(uid)}) })
	if err := a.register(ctx); err != nil {
		return fmt.Errorf("start agent %s: %w", a.cfg.NodeName, err)
	}
	if err := a.renewLease(ctx); err != nil {
		return fmt.Errorf("start agent %s: %w", a.cfg.NodeName, err)
	}
	// Spread heartbeats of agents started together over the interval.
	a.pool.addAfter(item{a: a, kind: itemLease}, jitter(a.cfg.LeaseRenewInterval))
	// The first status sync comes at once: it applies the pod CIDR, which
	// the node may already have, so that pods get a network soon.
	a.pool.add(item{a: a, kind: itemNode})
	// Static pods are read before the first sweep, which must know them.
	a.scanManifests()
	if a.cfg.PodManifestPath != "" {
		a.pool.addAfter(item{a: a, kind: itemStatic, key: staticKeyScan}, a.cfg.ManifestScanInterval)
	}
	a.pool.add(item{a: a, kind: itemStatic, key: staticKeyMirrors})
	if a.cfg.HousekeepingInterval > 0 {
		a.pool.add(item{a: a, kind: itemHousekeeping})
	}
	return nil
}

// process runs one work item; errors are logged and retried later.
func (a *Agent) process(ctx context.Context, it item) {
	if ctx.Err() != nil {
		return
	}
	switch it.kind {
	case itemLease:
		if err := a.renewLease(ctx); err != nil {
			a.log.Warn("renew lease", "err", err)
		}
		a.pool.addAfter(it, a.cfg.LeaseRenewInterval)
	case itemNode:
		if err := a.syncNodeStatus(ctx, false); err != nil {
			a.log.Warn("update node status", "err", err)
			a.pool.addAfter(it, a.cfg.LeaseRenewInterval)
			return
		}
		a.pool.addAfter(it, a.cfg.StatusInterval)
	case itemPod:
		a.syncPod(ctx, types.UID(it.key))
	case itemProbe:
		a.runProbe(ctx, it.key)
	case itemStatic:
		a.processStatic(ctx, it)
	case itemHousekeeping:
		a.housekeep(ctx)
		a.pool.addAfter(it, a.cfg.HousekeepingInterval)
	}
}

// PodUpdated delivers the current version of a pod bound to this node.
func (a *Agent) PodUpdated(pod *corev1.Pod) {
	if pod.Spec.NodeName != a.cfg.NodeName {
		return
	}
	if isMirrorPod(pod) {
		a.mirrorUpdated(pod)
		return
	}
	a.mu.Lock()
	e := a.pods[pod.UID]
	if e == nil {
		e = &podEntry{}
		a.pods[pod.UID] = e
	}
	e.pod = pod
	a.mu.Unlock()
	a.pool.add(item{a: a, kind: itemPod, key: string(pod.UID)})
}

// PodDeleted tells the agent a pod is gone from the API: whatever of it
// still runs is killed and removed.
func (a *Agent) PodDeleted(pod *corev1.Pod) {
	if isMirrorPod(pod) {
		a.mirrorDeleted(pod)
		return
	}
	uid := pod.UID
	a.mu.Lock()
	if e := a.pods[uid]; e != nil {
		if e.deleted {
			// The agent deleted it after removing everything of it.
			delete(a.pods, uid)
		} else {
			e.pod = nil
			e.gone = true
		}
	}
	a.mu.Unlock()
	a.pool.add(item{a: a, kind: itemPod, key: string(uid)})
}

// NodeUpdated delivers the current Node; the agent takes its podCIDR.
func (a *Agent) NodeUpdated(node *corev1.Node) {
	if node.Name != a.cfg.NodeName {
		return
	}
	a.mu.Lock()
	changed := node.Spec.PodCIDR != a.podCIDR || node.Spec.PodCIDR != a.cidrApplied
	a.podCIDR = node.Spec.PodCIDR
	a.mu.Unlock()
	if changed {
		a.pool.add(item{a: a, kind: itemNode})
	}
}

// networkReady reports whether pods can get a network: always for runtimes
// that do not say, else once the runtime has the node's pod CIDR.
func (a *Agent) networkReady() bool {
	nr, ok := a.cfg.Runtime.(NetworkReporter)
	return !ok || nr.NetworkReady()
}

type alwaysSucceeds struct{}

func (alwaysSucceeds) Probe(context.Context, *corev1.Pod, *corev1.Container, *corev1.Probe, string) (ProbeResult, error) {
	return ProbeSuccess, nil
}

// hostIPs returns the host's first non-loopback IPv4 address, or 127.0.0.1.
func hostIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return []string{n.IP.String()}
			}
		}
	}
	return []string{"127.0.0.1"}
}

// hostCapacity reads the host's CPUs and memory.
func hostCapacity() corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: resource.MustParse("110"),
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				rl[corev1.ResourceMemory] = *resource.NewQuantity(kb*1024, resource.BinarySI)
			}
		}
	}
	return rl
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func kubeletVersion() string { return version.Kubernetes + "+skiff" }
