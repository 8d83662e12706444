package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/agent"
)

// LabelSimulated marks the Nodes a Cluster runs.
const LabelSimulated = "sim.skiff.dev/simulated"

// ClusterConfig configures a set of simulated nodes.
type ClusterConfig struct {
	// Client is shared by every node (required): one client, one HTTP/2
	// connection.
	Client kubernetes.Interface
	// Nodes is how many nodes to simulate (required, > 0).
	Nodes int
	// NamePrefix prefixes node names: <prefix><index> ("sim-").
	NamePrefix string
	// StartDelay and RunTime configure every node's Runtime.
	StartDelay, RunTime time.Duration
	// Capacity of every node (8 cpu, 32Gi memory, 100Gi ephemeral
	// storage, 110 pods by default).
	Capacity corev1.ResourceList
	// Workers is the shared pool's size (by default one per 4 nodes, at
	// least 16). A worker spends most of its time waiting on the API, and
	// a real node works on its own goroutines: too few workers, and pods
	// wait in the pool's queue behind other nodes' heartbeats and pods,
	// which no real node would do.
	Workers int
	// Registrations bounds concurrent node registrations (32 by default).
	Registrations int
	// Logger logs progress and errors; discarded when nil.
	Logger *slog.Logger
}

// Cluster runs many simulated nodes in one process.
type Cluster struct {
	cfg    ClusterConfig
	pool   *agent.Pool
	agents map[string]*agent.Agent
	order  []*agent.Agent
}

// NewCluster builds the nodes' agents and runtimes; Run starts them.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Client == nil {
		return nil, errors.New("new sim cluster: Client is required")
	}
	if cfg.Nodes <= 0 {
		return nil, fmt.Errorf("new sim cluster: --nodes %d: must be positive", cfg.Nodes)
	}
	if cfg.Nodes > 65536 {
		return nil, fmt.Errorf("new sim cluster: --nodes %d: at most 65536", cfg.Nodes)
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "sim-"
	}
	if cfg.Capacity == nil {
		cfg.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("8"),
			corev1.ResourceMemory:           resource.MustParse("32Gi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
			corev1.ResourcePods:             resource.MustParse("110"),
		}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = max(16, cfg.Nodes/4)
	}
	if cfg.Registrations <= 0 {
		cfg.Registrations = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, pool: agent.NewPool(cfg.Workers), agents: make(map[string]*agent.Agent, cfg.Nodes)}
	for i := range cfg.Nodes {
		rt, err := New(Config{StartDelay: cfg.StartDelay, RunTime: cfg.RunTime, FakeCIDR: fakeCIDR(i)})
		if err != nil {
			return nil, err
		}
		a, err := agent.New(agent.Config{
			NodeName:       fmt.Sprintf("%s%d", cfg.NamePrefix, i),
			Client:         cfg.Client,
			Runtime:        rt,
			Pool:           c.pool,
			FeedPods:       true,
			NodeIPs:        []string{nodeIP(i)},
			Labels:         map[string]string{LabelSimulated: "true"},
			Capacity:       cfg.Capacity,
			ResyncInterval: -1, // the runtime notifies every change
			Logger:         cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		c.agents[a.NodeName()] = a
		c.order = append(c.order, a)
	}
	return c, nil
}

// Run registers every node (a bounded number at a time), then runs their
// heartbeats and pods until ctx is done. A node that fails to register is
// logged and retried.
func (c *Cluster) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.pool.Run(ctx) })
	wg.Go(func() {
		agent.WatchPods(ctx, c.cfg.Client,
			fields.OneTermNotEqualSelector("spec.nodeName", ""),
			fields.Everything(), c)
	})
	start := time.Now()
	sem := make(chan struct{}, c.cfg.Registrations)
	var reg sync.WaitGroup
	for _, a := range c.order {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		reg.Go(func() {
			defer func() { <-sem }()
			for ctx.Err() == nil {
				err := a.Start(ctx)
				if err == nil {
					return
				}
				c.cfg.Logger.Warn("register simulated node", "node", a.NodeName(), "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	reg.Wait()
	if ctx.Err() == nil {
		c.cfg.Logger.Info("simulated nodes registered", "nodes", len(c.order), "took", time.Since(start).Round(time.Millisecond))
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// PodUpdated dispatches a pod to its node's agent.
func (c *Cluster) PodUpdated(pod *corev1.Pod) {
	if a := c.agents[pod.Spec.NodeName]; a != nil {
		a.PodUpdated(pod)
	}
}

// PodDeleted dispatches a deleted pod to its node's agent.
func (c *Cluster) PodDeleted(pod *corev1.Pod) {
	if a := c.agents[pod.Spec.NodeName]; a != nil {
		a.PodDeleted(pod)
	}
}

// NodeUpdated dispatches a Node to its agent.
func (c *Cluster) NodeUpdated(node *corev1.Node) {
	if a := c.agents[node.Name]; a != nil {
		a.NodeUpdated(node)
	}
}

var _ agent.PodHandler = (*Cluster)(nil)

// fakeCIDR is node i's pod range until the control plane assigns one:
// a /24 of 100.64.0.0/10.
func fakeCIDR(i int) string {
	return fmt.Sprintf("100.%d.%d.0/24", 64+i/256, i%256)
}

// nodeIP is node i's pretend InternalIP, in 172.30.0.0/16... upwards.
func nodeIP(i int) string {
	return fmt.Sprintf("172.%d.%d.%d", 30+i/65024, i/254%256, i%254+1)
}
