package server_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/server/servertest"
)

// BenchmarkDeploymentScale scales a Deployment from 0 to 3000 replicas
// (SKIFF_BENCH_REPLICAS overrides) on an in-process control plane and
// reports:
//
//	s-api-creates   seconds for 64 parallel clients to create as many pods
//	                directly: what the API server alone needs
//	s-pods-exist    seconds from the scale until every pod exists (no kubelet)
//	s-available     seconds from starting the fake kubelet until the
//	                Deployment's status shows every replica available
//	cpu-s-scale     process CPU seconds (API server, etcd and controllers
//	                together: they share the process) during the scale
//
// Run with: go test ./internal/server -run '^$' -bench DeploymentScale -benchtime 1x
func BenchmarkDeploymentScale(b *testing.B) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("SKIFF_BENCH_REPLICAS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		cp := startControllers(b)
		ctx := context.Background()
		for _, ns := range []string{"baseline", "bench"} {
			if _, err := cp.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}

		// What the API server alone needs for n pod creations.
		tmpl := podTemplate("base", "pause")
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(n); i = next.Add(1) {
					p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "baseline", Labels: tmpl.Labels}, Spec: tmpl.Spec}
					if _, err := cp.client.CoreV1().Pods("baseline").Create(ctx, p, metav1.CreateOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		apiSeconds := time.Since(start).Seconds()
		if err := cp.client.CoreV1().Pods("baseline").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
		}

		// Count pods of the Deployment as they appear and become ready.
		f := informers.NewSharedInformerFactoryWithOptions(cp.client, 0, informers.WithNamespace("bench"))
		pods := f.Core().V1().Pods().Informer()
		var exist atomic.Int64
		allExist := make(chan struct{})
		var once sync.Once
		pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) {
			if exist.Add(1) == int64(n) {
				once.Do(func() { close(allExist) })
			}
		}})
		ictx, cancel := context.WithCancel(ctx)
		f.Start(ictx.Done())
		f.WaitForCacheSync(ictx.Done())

		zero := int32(0)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: "bench"},
			Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "big"}},
				Template: podTemplate("big", "pause")},
		}
		if _, err := cp.client.AppsV1().Deployments("bench").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		servertest.Wait(b, "empty rollout", func(context.Context) (bool, error) {
			got, err := cp.client.AppsV1().Deployments("bench").Get(ctx, "big", metav1.GetOptions{})
			return err == nil && got.Status.ObservedGeneration == got.Generation, err
		})
		cpu0 := cpuSeconds()
		b.StartTimer()
		start = time.Now()
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: "bench"}, Spec: autoscalingv1.ScaleSpec{Replicas: int32(n)}}
		if _, err := cp.client.AppsV1().Deployments("bench").UpdateScale(ctx, "big", scale, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-allExist:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d pods after 5 minutes", exist.Load(), n)
		}
		existSeconds := time.Since(start).Seconds()
		cpu := cpuSeconds() - cpu0

		start = time.Now()
		startFakeKubelet(b, cp.client, "node-1", 16)
		deadline := time.Now().Add(5 * time.Minute)
		for {
			got, err := cp.client.AppsV1().Deployments("bench").Get(ctx, "big", metav1.GetOptions{})
			if err == nil && got.Status.AvailableReplicas == int32(n) && got.Status.UpdatedReplicas == int32(n) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("not available after 5 minutes: %+v", got.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
		availSeconds := time.Since(start).Seconds()
		b.StopTimer()
		cancel()
		f.Shutdown()
		b.ReportMetric(apiSeconds, "s-api-creates")
		b.ReportMetric(existSeconds, "s-pods-exist")
		b.ReportMetric(availSeconds, "s-available")
		b.ReportMetric(cpu, "cpu-s-scale")
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
