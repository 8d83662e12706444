package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// APIConfig configures an API benchmark.
type APIConfig struct {
	// Rest is how to reach the API server.
	Rest *rest.Config
	// Clients is the number of concurrent clients (default 50).
	Clients int
	// Objects is how many ConfigMaps to create (default 5000).
	Objects int
	// Namespace is created for the run and deleted afterwards.
	Namespace string
	// Rate, when set, paces creates and gets to this many per second in
	// all (an open-loop load): latency is then measured at a load the
	// server sustains rather than at saturation.
	Rate int
}

// Latencies summarises one operation.
type Latencies struct {
	Op        string
	Count     int
	Duration  time.Duration
	P50, P99  time.Duration
	Max       time.Duration
	PerSecond float64
}

func (l Latencies) String() string {
	return fmt.Sprintf("%-8s %6d ops  %8.0f ops/s  p50 %7.2fms  p99 %7.2fms  max %7.2fms",
		l.Op, l.Count, l.PerSecond, ms(l.P50), ms(l.P99), ms(l.Max))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summarise sorts samples, the latencies of op's operations that took
// total in all, and returns their percentiles and rate.
func Summarise(op string, total time.Duration, samples []time.Duration) Latencies {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	l := Latencies{Op: op, Count: len(samples), Duration: total}
	if len(samples) == 0 {
		return l
	}
	l.P50 = samples[len(samples)/2]
	l.P99 = samples[min(len(samples)-1, len(samples)*99/100)]
	l.Max = samples[len(samples)-1]
	l.PerSecond = float64(len(samples)) / total.Seconds()
	return l
}

// RunAPI creates, gets, lists and watches ConfigMaps with cfg.Clients
// concurrent clients and reports each operation's throughput and latency.
func RunAPI(ctx context.Context, cfg APIConfig, out io.Writer) ([]Latencies, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 50
	}
	if cfg.Objects <= 0 {
		cfg.Objects = 5000
	}
	if cfg.Namespace == "" {
		cfg.Namespace = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	}
	rc := rest.CopyConfig(cfg.Rest)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	defer c.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), cfg.Namespace, metav1.DeleteOptions{})
	cms := c.CoreV1().ConfigMaps(cfg.Namespace)

	// A watcher measures how long changes take to reach a watch.
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	created := make([]time.Time, cfg.Objects)
	var watchLat []time.Duration
	var watchMu sync.Mutex
	watchDone := make(chan struct{})
	var seen atomic.Int64
	go func() {
		defer close(watchDone)
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added {
				continue
			}
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			var i int
			if _, err := fmt.Sscanf(cm.Name, "cm-%d", &i); err != nil || i < 0 || i >= len(created) {
				continue
			}
			watchMu.Lock()
			if t := created[i]; !t.IsZero() {
				watchLat = append(watchLat, time.Since(t))
			}
			watchMu.Unlock()
			if seen.Add(1) == int64(cfg.Objects) {
				return
			}
		}
	}()

	run := func(op string, n int, fn func(i int) error) (Latencies, error) {
		samples := make([]time.Duration, n)
		var next atomic.Int64
		var firstErr error
		var errOnce sync.Once
		start := time.Now()
		var wg sync.WaitGroup
		paced := cfg.Rate > 0 && op != "list"
		for range cfg.Clients {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n || ctx.Err() != nil {
						return
					}
					if paced {
						// Operation i is due at start + i/rate.
						due := start.Add(time.Duration(float64(i) / float64(cfg.Rate) * float64(time.Second)))
						time.Sleep(time.Until(due))
					}
					t0 := time.Now()
					if err := fn(i); err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("%s %d: %w", op, i, err) })
						return
					}
					samples[i] = time.Since(t0)
				}
			})
		}
		wg.Wait()
		l := Summarise(op, time.Since(start), samples)
		if out != nil {
			fmt.Fprintln(out, l)
		}
		return l, firstErr
	}

	var results []Latencies
	l, err := run("create", cfg.Objects, func(i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Labels: map[string]string{"bench": "api", "shard": fmt.Sprint(i % 10)}},
			Data: map[string]string{"key": "value", "index": fmt.Sprint(i)}}
		watchMu.Lock()
		created[i] = time.Now()
		watchMu.Unlock()
		_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		return err
	})
	results = append(results, l)
	if err != nil {
		return results, err
	}
	l, err = run("get", cfg.Objects, func(i int) error {
		_, err := cms.Get(ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{})
		return err
	})
	results = append(results, l)
	if err != nil {
		return results, err
	}
	lists := max(cfg.Objects/50, 20)
	l, err = run("list", lists, func(i int) error {
		_, err := cms.List(ctx, metav1.ListOptions{LabelSelector: fmt.Sprintf("shard=%d", i%10)})
		return err
	})
	results = append(results, l)
	if err != nil {
		return results, err
	}
	select {
	case <-watchDone:
	case <-time.After(30 * time.Second):
	}
	w.Stop()
	watchMu.Lock()
	wl := Summarise("watch", results[0].Duration, watchLat)
	watchMu.Unlock()
	if out != nil {
		fmt.Fprintln(out, wl, "(create -> event delivered)")
	}
	results = append(results, wl)
	return results, nil
}
