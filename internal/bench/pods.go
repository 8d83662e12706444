package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// PodsConfig configures a pod startup benchmark.
type PodsConfig struct {
	Rest *rest.Config
	// Pods is how many pods to start (default 30).
	Pods int
	// Image is the image every pod runs; it should be present on the node.
	Image string
	// Command keeps the container running (default sleep).
	Command []string
	// Namespace is created for the run and deleted afterwards.
	Namespace string
	// Timeout bounds the wait for every pod to run (default 5 min).
	Timeout time.Duration
	// Rate paces the creates at this many pods per second; zero creates
	// them all at once. Upstream's single-node throughput test
	// (clusterloader2's node-throughput) creates 5 per second.
	Rate float64
	// Claims gives every pod its own PersistentVolumeClaim, created with
	// it, of StorageClass (the default class when empty); the pod mounts
	// it and its latency includes binding or provisioning the volume.
	Claims bool
	// StorageClass is the class of the claims; empty takes the default.
	StorageClass string
}

// RunPods creates cfg.Pods pods, at once or at cfg.Rate, and reports, per
// pod, the time from its creation to the watch event that shows it
// Running, as Kubernetes' pod startup SLI measures it. It then deletes the
// pods and waits for them to be gone, so that a following run starts on a
// quiet node.
func RunPods(ctx context.Context, cfg PodsConfig, out io.Writer) (Latencies, error) {
	if cfg.Pods <= 0 {
		cfg.Pods = 30
	}
	if len(cfg.Command) == 0 {
		cfg.Command = []string{"sleep", "3600"}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = fmt.Sprintf("bench-pods-%d", time.Now().UnixNano())
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	// The benchmark measures the cluster, not client-go's rate limiter:
	// with its default 5 QPS the creates alone would take seconds.
	rc := rest.CopyConfig(cfg.Rest)
	rc.QPS, rc.Burst = -1, 0
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return Latencies{}, err
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}, metav1.CreateOptions{}); err != nil {
		return Latencies{}, fmt.Errorf("create namespace: %w", err)
	}
	defer deleteNamespace(context.WithoutCancel(ctx), c, cfg.Namespace, cfg.Timeout)
	w, err := c.CoreV1().Pods(cfg.Namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return Latencies{}, err
	}
	defer w.Stop()
	// Events are timed as they arrive, while the pods are still being
	// created, so a slow create never delays the reading of the watch.
	type arrival struct {
		name string
		at   time.Time
	}
	running := make(chan arrival, cfg.Pods)
	watchErr := make(chan error, 1)
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || seen[p.Name] || p.Status.Phase != corev1.PodRunning {
				continue
			}
			seen[p.Name] = true
			running <- arrival{p.Name, time.Now()}
			if len(seen) == cfg.Pods {
				return
			}
		}
		watchErr <- fmt.Errorf("watch closed after %d pods", len(seen))
	}()
	var mu sync.Mutex
	created := map[string]time.Time{}
	start := time.Now()
	var wg sync.WaitGroup
	createErr := make(chan error, cfg.Pods)
	for i := range cfg.Pods {
		name := fmt.Sprintf("pod-%d", i)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "c", Image: cfg.Image, Command: cfg.Command, ImagePullPolicy: corev1.PullIfNotPresent}}}}
		var claim *corev1.PersistentVolumeClaim
		if cfg.Claims {
			claim = benchClaim(name, cfg.StorageClass)
			pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name}}}}
			pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}
		if cfg.Rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		wg.Go(func() {
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			if claim != nil {
				if _, err := c.CoreV1().PersistentVolumeClaims(cfg.Namespace).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
					createErr <- fmt.Errorf("create claim: %w", err)
					return
				}
			}
			if _, err := c.CoreV1().Pods(cfg.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				createErr <- fmt.Errorf("create pod: %w", err)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-createErr:
		return Latencies{}, err
	default:
	}
	var samples []time.Duration
	deadline := time.After(cfg.Timeout)
	for len(samples) < cfg.Pods {
		select {
		case a := <-running:
			mu.Lock()
			samples = append(samples, a.at.Sub(created[a.name]))
			mu.Unlock()
		case err := <-watchErr:
			return Latencies{}, err
		case <-deadline:
			return Latencies{}, fmt.Errorf("only %d of %d pods running after %v", len(samples), cfg.Pods, cfg.Timeout)
		}
	}
	l := Summarise("startup", time.Since(start), samples)
	if out != nil {
		how := "at once"
		if cfg.Rate > 0 {
			how = fmt.Sprintf("at %g/s", cfg.Rate)
		}
		if cfg.Claims {
			how += ", each with its own claim"
		}
		fmt.Fprintf(out, "pods      %d created %s; creation -> Running (watch): p50 %.0fms  p99 %.0fms  max %.0fms; all running after %.2fs\n",
			cfg.Pods, how, ms(l.P50), ms(l.P99), ms(l.Max), l.Duration.Seconds())
	}
	return l, nil
}

// benchClaim is the 1 MiB ReadWriteOnce claim of one benchmark pod.
func benchClaim(pod, class string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: pod + "-data"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Mi")}},
	}}
	if class != "" {
		pvc.Spec.StorageClassName = &class
	}
	return pvc
}

// deleteNamespace deletes the benchmark's namespace and waits, up to
// timeout, until it is gone.
func deleteNamespace(ctx context.Context, c kubernetes.Interface, ns string, timeout time.Duration) {
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return
	}
	_ = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
