package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Labels the load test puts on everything it creates.
const (
	labelRun   = "bench.skiff.dev/run"
	labelGroup = "bench.skiff.dev/group"
	labelRev   = "bench.skiff.dev/rev"
)

// ScaleConfig configures a load test (RunScale).
type ScaleConfig struct {
	// Rest is how to reach the API server (required).
	Rest *rest.Config
	// Nodes is the number of nodes the load is sized for; zero counts
	// the cluster's Ready, schedulable nodes.
	Nodes int
	// PodsPerNode is the density (30, at most 30 as in clusterloader2).
	PodsPerNode int
	// Namespaces to spread the load over; zero is one per 100 nodes.
	Namespaces int
	// Image every container runs ("skiff/pause:1"); its command must not
	// exit (Job pods are expected to keep running).
	Image string
	// Clients is how many requests the test has in flight at once (16).
	Clients int
	// PhaseTimeout bounds the wait for each phase to complete (15m).
	PhaseTimeout time.Duration
	// ServerPID, when set, is the API server's process: its resident
	// memory and CPU are sampled once a second (it must be on this host).
	ServerPID int
	// Prefix names the namespaces, <prefix>-<i> (bench-scale-<time>).
	Prefix string
	// Progress, when set, gets a line per phase and while waiting.
	Progress io.Writer
	// PodRate, when positive, paces the changes that start pods (creates,
	// scale-ups, rollouts) to that many new pods a second in all, as
	// clusterloader2's load test paces its changes to a throughput. Pod
	// startup latency measures the control plane only at a rate it
	// sustains: unpaced, it measures the backlog.
	PodRate float64
}

func (c *ScaleConfig) validate() error {
	if c.Rest == nil {
		return errors.New("rest config is required")
	}
	if c.PodsPerNode == 0 {
		c.PodsPerNode = 30
	}
	if c.PodsPerNode < 1 || c.PodsPerNode > 30 {
		return fmt.Errorf("pods per node %d: must be 1 to 30", c.PodsPerNode)
	}
	if c.Nodes < 0 || c.Namespaces < 0 {
		return errors.New("nodes and namespaces must not be negative")
	}
	if c.Image == "" {
		c.Image = "skiff/pause:1"
	}
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.PhaseTimeout <= 0 {
		c.PhaseTimeout = 15 * time.Minute
	}
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("bench-scale-%d", time.Now().Unix())
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.PodRate < 0 {
		return errors.New("pod rate must not be negative")
	}
	return nil
}

// PhaseResult is one phase of a run.
type PhaseResult struct {
	Name  string
	Start time.Time
	// Took is from the first request of the phase until the cluster
	// reached the phase's goal.
	Took time.Duration
	// Objects is how many objects the phase created, changed or deleted.
	Objects int
	// Pods is how many pods went Running (create, scale up, rollout),
	// stopped (scale down) or went away (delete) during the phase.
	Pods int
}

// ScaleResult is what a load test measured.
type ScaleResult struct {
	Plan Plan
	// PodRate is the pace of the changes that start pods (0: unpaced).
	PodRate float64
	Start   time.Time
	Phases  []PhaseResult
	// Calls are every timed API call; API summarises them.
	Calls []Call
	API   []CallStats
	// Startup is pod startup latency: from the watch event that shows a
	// pod created to the one that shows it Running.
	Startup    Latencies
	StartupP90 time.Duration
	// StartupBy is the startup latency by phase and workload kind and
	// size ("create Deployment/250"), to find where a tail comes from.
	StartupBy []Latencies
	// StartupStages is the startup latency stage by stage, by the pods'
	// own timestamps (whole seconds): where the time went.
	StartupStages []Latencies
	// WatchesCut is how many watches the server cut off for falling
	// behind during the run (its apiserver_terminated_watchers_total),
	// -1 when it does not say.
	WatchesCut int
	// WatchesCutBy says which resources' watches they were ("pods 2").
	WatchesCutBy []string
	// Samples and Proc are the server's memory and CPU, when sampled.
	Samples []ProcSample
	Proc    ProcSummary
}

// RunScale runs the load test: it creates the plan's namespaces with
// their ConfigMaps, Secrets, Services and workloads, scales every
// workload up and then down, rolls every one out (a change to its pod
// template), and deletes the namespaces, waiting after each phase until
// the cluster has reached it (every pod Running, every object gone). It
// deletes what it created even when a phase fails.
func RunScale(ctx context.Context, cfg ScaleConfig) (*ScaleResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("bench scale: %w", err)
	}
	rec := NewCallRecorder()
	rc := rest.CopyConfig(cfg.Rest)
	rc.QPS, rc.Burst = -1, 0
	rc.Wrap(rec.Wrap)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("bench scale: %w", err)
	}
	if cfg.Nodes == 0 {
		if cfg.Nodes, err = countNodes(ctx, client); err != nil {
			return nil, fmt.Errorf("bench scale: count nodes: %w", err)
		}
		if cfg.Nodes == 0 {
			return nil, errors.New("bench scale: the cluster has no Ready, schedulable node")
		}
	}
	r := &scaleRun{cfg: cfg, client: client, plan: PlanLoad(cfg.Prefix, cfg.Nodes, cfg.PodsPerNode, cfg.Namespaces),
		pods: newPodTracker()}
	res := &ScaleResult{Plan: r.plan, PodRate: cfg.PodRate, Start: time.Now()}
	fmt.Fprintf(cfg.Progress, "load: %d nodes × %d pods in %d namespaces, %d workloads\n",
		cfg.Nodes, cfg.PodsPerNode, len(r.plan.Namespaces), len(r.plan.Workloads))

	var sampling sync.WaitGroup
	sctx, cancelSampling := context.WithCancel(ctx)
	stopSampling := func() { cancelSampling(); sampling.Wait() }
	defer stopSampling()
	if cfg.ServerPID > 0 {
		sampling.Go(func() { res.Samples = sampleProc(sctx, cfg.ServerPID, time.Second) })
	}

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labelRun + "=" + cfg.Prefix
	}))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(r.pods); err != nil {
		return nil, fmt.Errorf("bench scale: %w", err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	defer factory.Shutdown()
	defer close(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("bench scale: pod informer: %w", ctx.Err())
	}

	cutBefore, _ := terminatedWatchers(ctx, client)
	phases := []struct {
		name string
		run  func(context.Context) (int, error)
		wait func(context.Context) (bool, string, error)
	}{
		{"create", r.create, r.workloadsDone},
		{"scale-up", r.scale(scaleUp), r.workloadsDone},
		{"scale-down", r.scale(scaleDown), r.workloadsDone},
		{"rollout", r.rollout, r.workloadsDone},
		{"delete", r.deleteAll, r.allGone},
	}
	var runErr error
	var loadEnd time.Time
	for _, ph := range phases {
		if ph.name == "delete" {
			loadEnd = time.Now()
		} else if runErr != nil {
			continue
		}
		pr, err := r.phase(ctx, ph.name, ph.run, ph.wait)
		res.Phases = append(res.Phases, pr)
		if err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("bench scale: %s: %w", ph.name, err))
		}
	}
	stopSampling()
	res.WatchesCut = -1
	if after, ok := terminatedWatchers(ctx, client); ok {
		res.WatchesCut = 0
		for resource, n := range after {
			if n -= cutBefore[resource]; n > 0 {
				res.WatchesCut += n
				res.WatchesCutBy = append(res.WatchesCutBy, fmt.Sprintf("%s %d", resource, n))
			}
		}
		sort.Strings(res.WatchesCutBy)
	}
	res.Calls = rec.Calls()
	res.API = SummariseCalls(res.Calls)
	startup := r.pods.startupSamples()
	res.Startup = Summarise("startup", time.Since(res.Start), startup)
	res.StartupP90 = percentile(startup, 90)
	kinds := map[groupKey]string{}
	for _, w := range r.plan.Workloads {
		kinds[groupKey{w.Namespace, w.Name}] = fmt.Sprintf("%s/%d", w.Kind, w.Replicas)
	}
	res.StartupBy = r.pods.startupBy(func(g groupKey) string {
		if k, ok := kinds[g]; ok {
			return k
		}
		return "other"
	})
	res.StartupStages = r.pods.stages()
	res.Proc = summariseProc(cfg.ServerPID, res.Samples, res.Start, loadEnd)
	return res, runErr
}

// terminatedWatchers reads the server's count of watches it cut off for
// falling behind, by resource (a counter with no series yet counts 0);
// ok is false when its metrics cannot be read.
func terminatedWatchers(ctx context.Context, client kubernetes.Interface) (by map[string]int, ok bool) {
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, false
	}
	by = map[string]int{}
	for line := range strings.Lines(string(body)) {
		if !strings.HasPrefix(line, "apiserver_terminated_watchers_total{") {
			continue
		}
		resource := "other"
		if _, rest, found := strings.Cut(line, `resource="`); found {
			resource, _, _ = strings.Cut(rest, `"`)
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			by[resource] += int(v)
		}
	}
	return by, true
}

// scaleRun is one run's state.
type scaleRun struct {
	cfg    ScaleConfig
	client kubernetes.Interface
	plan   Plan
	pods   *podTracker
	// size and rev are what each workload (by index in plan) should
	// have now.
	mu   sync.Mutex
	size []int
	rev  int
	// paceAt is when the next paced change may go (PodRate).
	paceMu sync.Mutex
	paceAt time.Time
}

// pace waits until a change that starts pods new pods may go: the changes
// are spaced so that their pods come at cfg.PodRate a second.
func (r *scaleRun) pace(ctx context.Context, pods int) error {
	if r.cfg.PodRate <= 0 || pods <= 0 {
		return nil
	}
	r.paceMu.Lock()
	now := time.Now()
	at := r.paceAt
	if at.Before(now) {
		at = now
	}
	r.paceAt = at.Add(time.Duration(float64(pods) / r.cfg.PodRate * float64(time.Second)))
	r.paceMu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
		return nil
	}
}

// phase runs one phase: its requests, then the wait for its goal.
func (r *scaleRun) phase(ctx context.Context, name string, run func(context.Context) (int, error),
	wait func(context.Context) (bool, string, error)) (PhaseResult, error) {
	pr := PhaseResult{Name: name, Start: time.Now()}
	r.pods.setPhase(name)
	runningBefore, goneBefore, stoppedBefore := r.pods.counts()
	present := r.pods.present()
	fmt.Fprintf(r.cfg.Progress, "%s ...\n", name)
	objects, err := run(ctx)
	pr.Objects = objects
	if err == nil {
		err = r.waitFor(ctx, name, wait)
	}
	pr.Took = time.Since(pr.Start)
	running, gone, stopped := r.pods.counts()
	switch name {
	case "delete":
		pr.Pods = min(present, gone-goneBefore)
	case "scale-down":
		pr.Pods = stopped - stoppedBefore
	default:
		pr.Pods = running - runningBefore
	}
	fmt.Fprintf(r.cfg.Progress, "%s done in %.1fs: %d objects, %d pods\n", name, pr.Took.Seconds(), pr.Objects, pr.Pods)
	return pr, err
}

// waitFor polls cond until it holds, the phase times out or ctx ends.
func (r *scaleRun) waitFor(ctx context.Context, phase string, cond func(context.Context) (bool, string, error)) error {
	deadline := time.Now().Add(r.cfg.PhaseTimeout)
	lastReport := time.Now()
	for {
		ok, pending, err := cond(ctx)
		if err != nil && ctx.Err() == nil {
			// A failed read is retried: the server may be busy.
			pending = err.Error()
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not complete after %v: %s", r.cfg.PhaseTimeout, pending)
		}
		if time.Since(lastReport) >= 10*time.Second {
			fmt.Fprintf(r.cfg.Progress, "  %s: waiting for %s\n", phase, pending)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// create makes the namespaces, then every workload with its ConfigMap,
// Secret and Service.
func (r *scaleRun) create(ctx context.Context) (int, error) {
	r.size = make([]int, len(r.plan.Workloads))
	for i, w := range r.plan.Workloads {
		r.size[i] = w.Replicas
	}
	r.rev = 1
	var objects atomic.Int64
	err := parallel(ctx, r.cfg.Clients, len(r.plan.Namespaces), func(i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.plan.Namespaces[i], Labels: map[string]string{labelRun: r.cfg.Prefix}}}
		if _, err := r.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace: %w", err)
		}
		objects.Add(1)
		return nil
	})
	if err != nil {
		return int(objects.Load()), err
	}
	err = parallel(ctx, r.cfg.Clients, len(r.plan.Workloads), func(i int) error {
		n, err := r.createWorkload(ctx, r.plan.Workloads[i])
		objects.Add(int64(n))
		return err
	})
	return int(objects.Load()), err
}

func (r *scaleRun) createWorkload(ctx context.Context, w Workload) (int, error) {
	meta := metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: map[string]string{labelRun: r.cfg.Prefix, labelGroup: w.Name}}
	core := r.client.CoreV1()
	created := 0
	if _, err := core.ConfigMaps(w.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta,
		Data: map[string]string{"config": strings.Repeat("x", 64)}}, metav1.CreateOptions{}); err != nil {
		return created, fmt.Errorf("create configmap %s/%s: %w", w.Namespace, w.Name, err)
	}
	created++
	if _, err := core.Secrets(w.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: meta,
		Data: map[string][]byte{"secret": []byte(strings.Repeat("s", 64))}}, metav1.CreateOptions{}); err != nil {
		return created, fmt.Errorf("create secret %s/%s: %w", w.Namespace, w.Name, err)
	}
	created++
	if w.Service {
		svc := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{
			Selector: map[string]string{labelGroup: w.Name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		}}
		if _, err := core.Services(w.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return created, fmt.Errorf("create service %s/%s: %w", w.Namespace, w.Name, err)
		}
		created++
	}
	tmpl := r.podTemplate(w)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{labelGroup: w.Name}}
	replicas := int32(w.Replicas)
	if err := r.pace(ctx, w.Replicas); err != nil {
		return created, err
	}
	apps := r.client.AppsV1()
	var err error
	switch w.Kind {
	case KindDeployment:
		_, err = apps.Deployments(w.Namespace).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	case KindStatefulSet:
		quarter := intstr.FromString("25%")
		_, err = apps.StatefulSets(w.Namespace).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, Selector: sel, Template: tmpl, ServiceName: w.Name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: &quarter}},
		}}, metav1.CreateOptions{})
	case KindDaemonSet:
		tenth := intstr.FromString("10%")
		_, err = apps.DaemonSets(w.Namespace).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: sel, Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &tenth}},
		}}, metav1.CreateOptions{})
	case KindJob:
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		// No completions: the Job runs parallelism pods until one
		// succeeds, which pods that never exit do not. The backoff limit
		// is out of reach so that pods lost to a node do not fail it.
		_, err = r.client.BatchV1().Jobs(w.Namespace).Create(ctx, &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{
			Parallelism: &replicas, Template: tmpl, BackoffLimit: ptr.To(int32(math.MaxInt32))}}, metav1.CreateOptions{})
	}
	if err != nil {
		return created, fmt.Errorf("create %s %s/%s: %w", strings.ToLower(w.Kind), w.Namespace, w.Name, err)
	}
	return created + 1, nil
}

// podTemplate is a workload's pods: one container that does nothing,
// no service account token (the load is on the control plane, not on
// token issuance).
func (r *scaleRun) podTemplate(w Workload) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
			labelRun: r.cfg.Prefix, labelGroup: w.Name, labelRev: strconv.Itoa(r.rev)}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{Name: "pause", Image: r.cfg.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}},
		},
	}
}

// scale returns a phase that resizes every Deployment and StatefulSet
// from its first size with to. DaemonSets follow the nodes; Jobs keep
// their size: a Job's pods removed by a lower parallelism end Failed, and
// a replacement for one too many would wait out the Job's failure
// backoff (minutes), which measures the backoff, not the control plane.
func (r *scaleRun) scale(to func(int) int) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		var objects atomic.Int64
		err := parallel(ctx, r.cfg.Clients, len(r.plan.Workloads), func(i int) error {
			w := r.plan.Workloads[i]
			n := to(w.Replicas)
			if w.Kind != KindDeployment && w.Kind != KindStatefulSet {
				return nil
			}
			r.mu.Lock()
			more := n - r.size[i]
			r.mu.Unlock()
			if err := r.pace(ctx, more); err != nil {
				return err
			}
			patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
			if err := r.patch(ctx, w, patch); err != nil {
				return fmt.Errorf("scale %s %s/%s: %w", strings.ToLower(w.Kind), w.Namespace, w.Name, err)
			}
			r.mu.Lock()
			r.size[i] = n
			r.mu.Unlock()
			objects.Add(1)
			return nil
		})
		return int(objects.Load()), err
	}
}

// rollout changes the pod template of every Deployment, StatefulSet and
// DaemonSet (a Job's template cannot change), which replaces its pods.
func (r *scaleRun) rollout(ctx context.Context) (int, error) {
	r.mu.Lock()
	r.rev++
	rev := r.rev
	r.mu.Unlock()
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"labels":{%q:"%d"}}}}}`, labelRev, rev)
	var objects atomic.Int64
	err := parallel(ctx, r.cfg.Clients, len(r.plan.Workloads), func(i int) error {
		w := r.plan.Workloads[i]
		if w.Kind == KindJob {
			return nil
		}
		r.mu.Lock()
		replaced := r.size[i]
		r.mu.Unlock()
		if err := r.pace(ctx, replaced); err != nil {
			return err
		}
		if err := r.patch(ctx, w, patch); err != nil {
			return fmt.Errorf("roll out %s %s/%s: %w", strings.ToLower(w.Kind), w.Namespace, w.Name, err)
		}
		objects.Add(1)
		return nil
	})
	return int(objects.Load()), err
}

func (r *scaleRun) patch(ctx context.Context, w Workload, patch []byte) error {
	var err error
	switch w.Kind {
	case KindDeployment:
		_, err = r.client.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	case KindStatefulSet:
		_, err = r.client.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	case KindDaemonSet:
		_, err = r.client.AppsV1().DaemonSets(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	case KindJob:
		_, err = r.client.BatchV1().Jobs(w.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	return err
}

// workloadsDone says whether every workload has exactly its size of
// pods, none terminating counted, all Running (a Job's may also have
// Succeeded) from its current template; else it names one that has not.
func (r *scaleRun) workloadsDone(ctx context.Context) (bool, string, error) {
	r.mu.Lock()
	sizes := append([]int(nil), r.size...)
	rev := strconv.Itoa(r.rev)
	r.mu.Unlock()
	groups := r.pods.groups()
	pending := 0
	first := ""
	for i, w := range r.plan.Workloads {
		want := sizes[i]
		rv := rev
		if w.Kind == KindJob {
			rv = "1"
		}
		if w.Kind == KindDaemonSet {
			ds, err := r.client.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			st := ds.Status
			if st.ObservedGeneration < ds.Generation || st.DesiredNumberScheduled == 0 || st.UpdatedNumberScheduled != st.DesiredNumberScheduled {
				pending++
				if first == "" {
					first = fmt.Sprintf("daemonset %s/%s: %d of %d nodes updated", w.Namespace, w.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
				}
				continue
			}
			want = int(st.DesiredNumberScheduled)
		}
		g := groups[groupKey{w.Namespace, w.Name}]
		if g.live != want || g.done[rv] != want {
			pending++
			if first == "" {
				first = fmt.Sprintf("%s %s/%s: %d of %d pods running, %d pods in all", strings.ToLower(w.Kind), w.Namespace, w.Name, g.done[rv], want, g.live)
				if w.Kind == KindJob {
					if j, err := r.client.BatchV1().Jobs(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
						first += fmt.Sprintf(" (job status: active %d, failed %d, terminating %d, conditions %d)",
							j.Status.Active, j.Status.Failed, ptr.Deref(j.Status.Terminating, 0), len(j.Status.Conditions))
					}
				}
			}
		}
	}
	if pending == 0 {
		return true, "", nil
	}
	return false, fmt.Sprintf("%d workloads, e.g. %s", pending, first), nil
}

// deleteAll deletes the namespaces (and so everything in them).
func (r *scaleRun) deleteAll(ctx context.Context) (int, error) {
	// The deletion must happen even if ctx was cancelled mid-run.
	ctx = context.WithoutCancel(ctx)
	var objects atomic.Int64
	err := parallel(ctx, r.cfg.Clients, len(r.plan.Namespaces), func(i int) error {
		err := r.client.CoreV1().Namespaces().Delete(ctx, r.plan.Namespaces[i], metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete namespace %s: %w", r.plan.Namespaces[i], err)
		}
		objects.Add(1)
		return nil
	})
	return int(objects.Load()), err
}

// allGone says whether every namespace and every pod of the run is gone.
func (r *scaleRun) allGone(ctx context.Context) (bool, string, error) {
	list, err := r.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: labelRun + "=" + r.cfg.Prefix})
	if err != nil {
		return false, "", err
	}
	if n := len(list.Items); n > 0 {
		return false, fmt.Sprintf("%d namespaces (%s) and %d pods", n, list.Items[0].Name, r.pods.present()), nil
	}
	if n := r.pods.present(); n > 0 {
		return false, fmt.Sprintf("%d pods", n), nil
	}
	return true, "", nil
}

// countNodes counts Ready nodes that take new pods.
func countNodes(ctx context.Context, client kubernetes.Interface) (int, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, node := range list.Items {
		if node.Spec.Unschedulable || len(node.Spec.Taints) > 0 {
			continue
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

type groupKey struct{ ns, name string }

// groupPods counts one workload's pods that are not terminating (live)
// and, by template revision, those of them that are Running (done).
type groupPods struct {
	live int
	done map[string]int
}

// podTracker follows the run's pods through an informer: their phase,
// revision and startup latency.
type podTracker struct {
	now  func() time.Time
	mu   sync.Mutex
	pods map[types.UID]*trackedPod
	// running, gone and stopped count pods that went Running, were
	// deleted, and began terminating.
	running, gone, stopped int
	// phase is the phase running now; startup keeps each pod's startup
	// latency with its phase and workload.
	phase   string
	startup []startupSample
}

type startupSample struct {
	phase string
	group groupKey
	d     time.Duration
	// stages splits d by the pod's own timestamps (whole seconds).
	stages [numStages]time.Duration
}

// The stages of a pod's startup, as upstream's density test splits it:
// created to scheduled (its PodScheduled condition), to its node taking
// it on (status.startTime), to its containers running (their startedAt),
// to the watch event that says so.
const numStages = 4

var stageNames = [numStages]string{"create->scheduled", "scheduled->node", "node->started", "started->watch"}

// startupStages splits the startup of p, seen Running at now, into its
// stages. The API's timestamps are whole seconds, so a stage is off by
// up to a second and never below zero; a missing timestamp counts as
// the one before it.
func startupStages(p *corev1.Pod, now time.Time) [numStages]time.Duration {
	at := [numStages + 1]time.Time{p.CreationTimestamp.Time}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			at[1] = c.LastTransitionTime.Time
		}
	}
	if p.Status.StartTime != nil {
		at[2] = p.Status.StartTime.Time
	}
	for _, cs := range p.Status.ContainerStatuses {
		if r := cs.State.Running; r != nil && r.StartedAt.After(at[3]) {
			at[3] = r.StartedAt.Time
		} else if t := cs.State.Terminated; t != nil && t.StartedAt.After(at[3]) {
			at[3] = t.StartedAt.Time
		}
	}
	at[numStages] = now
	var out [numStages]time.Duration
	for i := 1; i <= numStages; i++ {
		if at[i].IsZero() || at[i].Before(at[i-1]) {
			at[i] = at[i-1]
		}
		out[i-1] = at[i].Sub(at[i-1])
	}
	return out
}

func (t *podTracker) setPhase(name string) {
	t.mu.Lock()
	t.phase = name
	t.mu.Unlock()
}

type trackedPod struct {
	group             groupKey
	rev               string
	seen              time.Time
	runningSeen, term bool
	phase             corev1.PodPhase
}

func newPodTracker() *podTracker {
	return &podTracker{now: time.Now, pods: map[types.UID]*trackedPod{}}
}

func (t *podTracker) OnAdd(obj any, _ bool) { t.observe(obj) }
func (t *podTracker) OnUpdate(_, obj any)   { t.observe(obj) }
func (t *podTracker) OnDelete(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tp := t.pods[p.UID]; tp != nil {
		if !tp.term {
			t.stopped++
		}
		delete(t.pods, p.UID)
		t.gone++
	}
}

var _ cache.ResourceEventHandler = (*podTracker)(nil)

func (t *podTracker) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	tp := t.pods[p.UID]
	if tp == nil {
		tp = &trackedPod{group: groupKey{p.Namespace, p.Labels[labelGroup]}, seen: now}
		t.pods[p.UID] = tp
	}
	tp.rev = p.Labels[labelRev]
	tp.phase = p.Status.Phase
	if p.DeletionTimestamp != nil && !tp.term {
		tp.term = true
		t.stopped++
	}
	if !tp.runningSeen && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded) {
		tp.runningSeen = true
		t.running++
		t.startup = append(t.startup, startupSample{t.phase, tp.group, now.Sub(tp.seen), startupStages(p, now)})
	}
}

func (t *podTracker) counts() (running, gone, stopped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.running, t.gone, t.stopped
}

func (t *podTracker) present() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pods)
}

// startupBy summarises the startup latencies by the phase in which the
// pods went Running and the kind of their workload (kindOf).
func (t *podTracker) startupBy(kindOf func(groupKey) string) []Latencies {
	t.mu.Lock()
	groups := map[string][]time.Duration{}
	for _, s := range t.startup {
		key := s.phase + " " + kindOf(s.group)
		groups[key] = append(groups[key], s.d)
	}
	t.mu.Unlock()
	var out []Latencies
	for key, ds := range groups {
		out = append(out, Summarise(key, 0, ds))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}

// stages summarises each stage of startup over every pod.
func (t *podTracker) stages() []Latencies {
	t.mu.Lock()
	by := make([][]time.Duration, numStages)
	for _, s := range t.startup {
		for i, d := range s.stages {
			by[i] = append(by[i], d)
		}
	}
	t.mu.Unlock()
	out := make([]Latencies, numStages)
	for i, ds := range by {
		out[i] = Summarise(stageNames[i], 0, ds)
	}
	return out
}

func (t *podTracker) startupSamples() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]time.Duration, len(t.startup))
	for i, s := range t.startup {
		out[i] = s.d
	}
	return out
}

func (t *podTracker) groups() map[groupKey]groupPods {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[groupKey]groupPods{}
	for _, p := range t.pods {
		if p.term || p.phase == corev1.PodFailed {
			continue
		}
		g := out[p.group]
		if g.done == nil {
			g.done = map[string]int{}
		}
		g.live++
		if p.phase == corev1.PodRunning || p.phase == corev1.PodSucceeded {
			g.done[p.rev]++
		}
		out[p.group] = g
	}
	return out
}

// WriteReport writes the run's tables: phases, API call latency against
// the SLO, pod startup latency and the server's memory and CPU.
func (r *ScaleResult) WriteReport(w io.Writer) {
	pace := "unpaced"
	if r.PodRate > 0 {
		pace = fmt.Sprintf("changes paced to %g new pods/s", r.PodRate)
	}
	fmt.Fprintf(w, "load: %d namespaces, %d workloads, %d pods planned, %s\n\n", len(r.Plan.Namespaces), len(r.Plan.Workloads), r.Plan.Pods, pace)
	kinds := map[string]int{}
	for _, wl := range r.Plan.Workloads {
		kinds[wl.Kind]++
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-12s %d\n", k, kinds[k])
	}
	fmt.Fprintf(w, "\n%-11s %9s %8s %10s %7s %8s\n", "phase", "took", "objects", "objects/s", "pods", "pods/s")
	for _, p := range r.Phases {
		s := p.Took.Seconds()
		fmt.Fprintf(w, "%-11s %8.1fs %8d %10.1f %7d %8.1f\n", p.Name, s, p.Objects, float64(p.Objects)/s, p.Pods, float64(p.Pods)/s)
	}
	fmt.Fprintf(w, "\nAPI call latency, client-side, against upstream's SLO (p99: mutating and get 1s, list 5s namespace / 30s cluster)\n")
	writeCallTable(w, r.API)
	pass := true
	for _, s := range r.API {
		pass = pass && s.Pass()
	}
	verdict := "PASS"
	if !pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "API call latency SLO: %s\n", verdict)
	fmt.Fprintf(w, "\npod startup (watch: created -> Running): %d pods  p50 %s  p90 %s  p99 %s  max %s\n",
		r.Startup.Count, fmtMS(r.Startup.P50), fmtMS(r.StartupP90), fmtMS(r.Startup.P99), fmtMS(r.Startup.Max))
	verdict = "PASS"
	if r.Startup.P99 > sloPodStartup {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "pod startup SLO (p99 within %s): %s, margin %s\n", fmtSec(sloPodStartup), verdict, fmtMargin(sloPodStartup-r.Startup.P99, sloPodStartup))
	for _, l := range r.StartupBy {
		fmt.Fprintf(w, "  %-28s %6d pods  p50 %8.0fms  p99 %8.0fms  max %8.0fms\n", l.Op, l.Count, ms(l.P50), ms(l.P99), ms(l.Max))
	}
	if len(r.StartupStages) > 0 {
		fmt.Fprintf(w, "pod startup by stage (the pods' own timestamps, whole seconds):\n")
	}
	for _, l := range r.StartupStages {
		fmt.Fprintf(w, "  %-28s %6d pods  p50 %8.0fms  p99 %8.0fms  max %8.0fms\n", l.Op, l.Count, ms(l.P50), ms(l.P99), ms(l.Max))
	}
	if r.WatchesCut >= 0 {
		by := ""
		if len(r.WatchesCutBy) > 0 {
			by = " (" + strings.Join(r.WatchesCutBy, ", ") + ")"
		}
		fmt.Fprintf(w, "watches the server cut off for falling behind: %d%s\n", r.WatchesCut, by)
	}
	if r.Proc.PID == 0 {
		fmt.Fprintf(w, "server: not sampled (no process id)\n")
		return
	}
	fmt.Fprintf(w, "server pid %d: RSS peak %.1f MiB, steady (median under load) %.1f MiB, after delete %.1f MiB; CPU mean %.2f cores, peak %.2f cores\n",
		r.Proc.PID, float64(r.Proc.PeakRSS)/1024, float64(r.Proc.SteadyRSS)/1024, float64(r.Proc.FinalRSS)/1024, r.Proc.MeanCores, r.Proc.PeakCores)
}
