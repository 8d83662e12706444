package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// SchedulerConfig configures a scheduler benchmark.
type SchedulerConfig struct {
	// Rest is how to reach the API server.
	Rest *rest.Config
	// Nodes and Pods are how many of each to create (1000 and 2000).
	Nodes, Pods int
	// Mix is "plain" (no requests, no constraints), "requests" (CPU and
	// memory requests) or "mixed" (a quarter each: plain, with requests,
	// with required hostname anti-affinity in groups of 10, with zone
	// spread constraints).
	Mix string
	// Clients creating objects concurrently (32).
	Clients int
	// StartScheduler, when set, is called once every pod exists and
	// starts the scheduler under test (a backlog run: it measures the
	// scheduler alone). When nil a scheduler is assumed to run already
	// and pods are measured from creation (a streaming run).
	StartScheduler func(ctx context.Context) (stop func(), err error)
}

// SchedulerResult summarises a run.
type SchedulerResult struct {
	Nodes, Pods int
	Mix         string
	// Create is how long creating the pods took.
	Create time.Duration
	// Duration is from the first pod create (streaming) or the scheduler
	// start (backlog) to the last pod bound.
	Duration  time.Duration
	PerSecond float64
	// P50, P99 and Max are per-pod latencies from creation (streaming)
	// or scheduler start (backlog) to bound.
	P50, P99, Max time.Duration
}

func (r SchedulerResult) String() string {
	return fmt.Sprintf("nodes %d  pods %d  mix %-8s  create %6.2fs  schedule %6.2fs  %8.0f pods/s  p50 %7.1fms  p99 %7.1fms  max %7.1fms",
		r.Nodes, r.Pods, r.Mix, r.Create.Seconds(), r.Duration.Seconds(), r.PerSecond, ms(r.P50), ms(r.P99), ms(r.Max))
}

// RunScheduler creates the nodes and pods, waits until every pod is bound
// and reports throughput and latency, then deletes what it created.
func RunScheduler(ctx context.Context, cfg SchedulerConfig, out io.Writer) (SchedulerResult, error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1000
	}
	if cfg.Pods <= 0 {
		cfg.Pods = 2000
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 32
	}
	if cfg.Mix == "" {
		cfg.Mix = "plain"
	}
	rc := rest.CopyConfig(cfg.Rest)
	rc.QPS, rc.Burst = -1, 10000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return SchedulerResult{}, fmt.Errorf("bench scheduler: %w", err)
	}
	ns := fmt.Sprintf("bench-sched-%d", time.Now().UnixNano())
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return SchedulerResult{}, fmt.Errorf("bench scheduler: create namespace: %w", err)
	}
	defer cleanupScheduler(client, ns)

	start := time.Now()
	if err := parallel(ctx, cfg.Clients, cfg.Nodes, func(i int) error {
		_, err := client.CoreV1().Nodes().Create(ctx, benchNode(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return SchedulerResult{}, fmt.Errorf("bench scheduler: create nodes: %w", err)
	}
	fmt.Fprintf(out, "created %d nodes in %.2fs\n", cfg.Nodes, time.Since(start).Seconds())

	created := make([]time.Time, cfg.Pods)
	bound := make([]time.Time, cfg.Pods)
	var nbound atomic.Int64
	allBound := make(chan struct{})
	var mu sync.Mutex
	observe := func(p *v1.Pod) {
		if p.Spec.NodeName == "" {
			return
		}
		idx, ok := podIndex(p.Name)
		if !ok || idx >= len(bound) {
			return
		}
		now := time.Now()
		mu.Lock()
		first := bound[idx].IsZero()
		if first {
			bound[idx] = now
		}
		mu.Unlock()
		if first && nbound.Add(1) == int64(len(bound)) {
			close(allBound)
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	w, err := client.CoreV1().Pods(ns).Watch(watchCtx, metav1.ListOptions{})
	if err != nil {
		stopWatch()
		return SchedulerResult{}, fmt.Errorf("bench scheduler: watch pods: %w", err)
	}
	var watching sync.WaitGroup
	watching.Go(func() { followPods(watchCtx, client, ns, w, observe, out) })
	defer watching.Wait()
	defer stopWatch()
	createStart := time.Now()
	if err := parallel(ctx, cfg.Clients, cfg.Pods, func(i int) error {
		p := benchPod(ns, i, cfg.Mix)
		mu.Lock()
		created[i] = time.Now()
		mu.Unlock()
		_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	}); err != nil {
		return SchedulerResult{}, fmt.Errorf("bench scheduler: create pods: %w", err)
	}
	res := SchedulerResult{Nodes: cfg.Nodes, Pods: cfg.Pods, Mix: cfg.Mix, Create: time.Since(createStart)}
	fmt.Fprintf(out, "created %d pods in %.2fs (%.0f/s)\n", cfg.Pods, res.Create.Seconds(), float64(cfg.Pods)/res.Create.Seconds())

	from := createStart
	if cfg.StartScheduler != nil {
		from = time.Now()
		stop, err := cfg.StartScheduler(ctx)
		if err != nil {
			return res, fmt.Errorf("bench scheduler: start scheduler: %w", err)
		}
		defer stop()
		mu.Lock()
		for i := range created {
			created[i] = from
		}
		mu.Unlock()
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	timeout := time.After(10 * time.Minute)
wait:
	for {
		select {
		case <-allBound:
			break wait
		case <-progress.C:
			fmt.Fprintf(out, "  %d/%d bound\n", nbound.Load(), cfg.Pods)
		case <-timeout:
			return res, fmt.Errorf("bench scheduler: only %d of %d pods bound after 10 minutes", nbound.Load(), cfg.Pods)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var last time.Time
	lat := make([]time.Duration, len(bound))
	for i := range bound {
		if bound[i].After(last) {
			last = bound[i]
		}
		lat[i] = bound[i].Sub(created[i])
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.Duration = last.Sub(from)
	res.PerSecond = float64(cfg.Pods) / res.Duration.Seconds()
	res.P50 = lat[len(lat)/2]
	res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	res.Max = lat[len(lat)-1]
	return res, nil
}

// followPods feeds every pod event to observe until ctx ends. A watch the
// server closes (timeout, slow consumer) is replaced: a list catches up on
// what was missed, and the new watch starts from the list.
func followPods(ctx context.Context, client kubernetes.Interface, ns string, w watch.Interface, observe func(*v1.Pod), out io.Writer) {
	for {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			if p, ok := ev.Object.(*v1.Pod); ok {
				observe(p)
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintln(out, "  pod watch closed by the server; listing and watching again")
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(out, "  list pods: %v\n", err)
				time.Sleep(time.Second)
			}
			continue
		}
		for i := range list.Items {
			observe(&list.Items[i])
		}
		w, err = client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(out, "  watch pods: %v\n", err)
			w = watch.NewEmptyWatch()
			time.Sleep(time.Second)
		}
	}
}

// podIndex parses the i of "pod-i" without fmt's allocations: the watch
// loop sees every binding of the run.
func podIndex(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "pod-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	return i, err == nil && i >= 0
}

func cleanupScheduler(client kubernetes.Interface, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	zero := int64(0)
	_ = client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
	_ = client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "skiff.io/bench=scheduler"})
	_ = client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// benchNode is a 32-core, 128 GiB node in one of 5 zones; every tenth is
// tainted for infrastructure pods.
func benchNode(i int) *v1.Node {
	rl := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse("32"),
		v1.ResourceMemory:           resource.MustParse("128Gi"),
		v1.ResourceEphemeralStorage: resource.MustParse("500Gi"),
		v1.ResourcePods:             resource.MustParse("110"),
	}
	name := fmt.Sprintf("bench-node-%05d", i)
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"skiff.io/bench":            "scheduler",
			v1.LabelHostname:            name,
			v1.LabelTopologyZone:        fmt.Sprintf("zone-%d", i%5),
			v1.LabelTopologyRegion:      "bench",
			v1.LabelOSStable:            "linux",
			v1.LabelArchStable:          "amd64",
			"node.kubernetes.io/family": "bench",
		}},
		Status: v1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady"}},
			Images: []v1.ContainerImage{
				{Names: []string{"skiff/pause:1"}, SizeBytes: 700000},
			},
		},
	}
	if i%10 == 9 {
		n.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "infra", Effect: v1.TaintEffectNoSchedule}}
	}
	return n
}

func benchPod(ns string, i int, mix string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: ns, Labels: map[string]string{"app": "bench"}},
		Spec: v1.PodSpec{
			Containers: []v1.Container{{Name: "c", Image: "skiff/pause:1"}},
		},
	}
	kind := 0
	switch mix {
	case "requests":
		kind = 1
	case "mixed":
		kind = i % 4
	case "constrained":
		kind = 2 + i%2
	}
	requests := v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("256Mi")}
	switch kind {
	case 1:
		p.Spec.Containers[0].Resources.Requests = requests
	case 2:
		// Required anti-affinity within groups of 10 replicas.
		group := fmt.Sprintf("anti-%d", i/40)
		p.Labels["group"] = group
		p.Spec.Containers[0].Resources.Requests = requests
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
				TopologyKey:   v1.LabelHostname,
			}},
		}}
	case 3:
		group := fmt.Sprintf("spread-%d", i/40)
		p.Labels["group"] = group
		p.Spec.Containers[0].Resources.Requests = requests
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}}
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule, LabelSelector: sel},
			{MaxSkew: 1, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, LabelSelector: sel},
		}
	}
	return p
}
