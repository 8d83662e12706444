package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
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
	// Watchers is how many watches follow the namespace during the run
	// (default 1); each must see every create once, in order.
	Watchers int
	// ListAll is how many unpaged LISTs of every object to time after the
	// creates.
	ListAll int
	// ServerPID, when the server runs on this machine, adds the server's
	// cpu time during each operation to the report.
	ServerPID int
}

// Latencies summarises one operation.
type Latencies struct {
	Op        string
	Count     int
	Duration  time.Duration
	P50, P99  time.Duration
	Max       time.Duration
	PerSecond float64
	// ServerCPU is the server's cpu time during the operations, when known.
	ServerCPU time.Duration
}

func (l Latencies) String() string {
	s := fmt.Sprintf("%-8s %6d ops  %8.0f ops/s  p50 %7.2fms  p99 %7.2fms  max %7.2fms",
		l.Op, l.Count, l.PerSecond, ms(l.P50), ms(l.P99), ms(l.Max))
	if l.ServerCPU > 0 && l.Count > 0 {
		s += fmt.Sprintf("  server cpu %.0f%% of a core, %.0fµs/op",
			100*l.ServerCPU.Seconds()/l.Duration.Seconds(), float64(l.ServerCPU.Microseconds())/float64(l.Count))
	}
	return s
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

	// Watchers measure how long changes take to reach a watch, and check
	// that each sees every create once, in order.
	created := make([]time.Time, cfg.Objects)
	var createdMu sync.Mutex
	ws := make([]*apiWatcher, max(cfg.Watchers, 1))
	for i := range ws {
		w, err := cms.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("watch: %w", err)
		}
		ws[i] = newAPIWatcher(w, cfg.Objects)
		go ws[i].run(created, &createdMu)
	}
	defer func() {
		for _, w := range ws {
			w.w.Stop()
		}
	}()

	run := func(op string, n int, fn func(i int) error) (Latencies, error) {
		samples := make([]time.Duration, n)
		var next atomic.Int64
		var firstErr error
		var errOnce sync.Once
		start := time.Now()
		_, cpu0, _ := procTimes(cfg.ServerPID)
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
		if _, cpu1, ok := procTimes(cfg.ServerPID); ok && cfg.ServerPID != 0 {
			l.ServerCPU = cpu1 - cpu0
		}
		if out != nil && n > 0 {
			fmt.Fprintln(out, l)
		}
		return l, firstErr
	}

	var results []Latencies
	l, err := run("create", cfg.Objects, func(i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Labels: map[string]string{"bench": "api", "shard": fmt.Sprint(i % 10)}},
			Data: map[string]string{"key": "value", "index": fmt.Sprint(i)}}
		createdMu.Lock()
		created[i] = time.Now()
		createdMu.Unlock()
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
	l, err = run("list-all", cfg.ListAll, func(int) error {
		// One unpaged LIST of every object, as an informer's first list
		// of a big collection without chunking.
		list, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: ""})
		if err == nil && len(list.Items) < cfg.Objects {
			err = fmt.Errorf("listed %d of %d objects", len(list.Items), cfg.Objects)
		}
		return err
	})
	if cfg.ListAll > 0 {
		results = append(results, l)
	}
	if err != nil {
		return results, err
	}
	deadline := time.After(60 * time.Second)
	var watchLat []time.Duration
	var dropped, short, disorder, dup int
	for _, w := range ws {
		select {
		case <-w.done:
		case <-deadline:
		}
		w.stopped.Store(true)
		w.w.Stop()
		<-w.done
		w.mu.Lock()
		watchLat = append(watchLat, w.lat...)
		if w.closed {
			dropped++
		}
		if w.seen < cfg.Objects {
			short++
		}
		disorder += w.disorder
		dup += w.dup
		w.mu.Unlock()
	}
	wl := Summarise("watch", results[0].Duration, watchLat)
	if out != nil {
		fmt.Fprintf(out, "%s (create -> event delivered, %d watchers)\n", wl, len(ws))
	}
	results = append(results, wl)
	if dropped+short+disorder+dup > 0 {
		return results, fmt.Errorf("watchers: %d closed by the server, %d missed events, %d events out of order, %d duplicates", dropped, short, disorder, dup)
	}
	return results, nil
}

// apiWatcher follows the benchmark's ConfigMaps.
type apiWatcher struct {
	w       watch.Interface
	done    chan struct{}
	stopped atomic.Bool

	mu sync.Mutex
	// lat is each Added event's delay after its create was sent.
	lat  []time.Duration
	seen int
	// closed: the server ended the watch before every event arrived.
	closed        bool
	disorder, dup int
	got           []bool
	lastRV        int64
}

func newAPIWatcher(w watch.Interface, objects int) *apiWatcher {
	return &apiWatcher{w: w, done: make(chan struct{}), got: make([]bool, objects), lat: make([]time.Duration, 0, objects)}
}

func (a *apiWatcher) run(created []time.Time, createdMu *sync.Mutex) {
	defer close(a.done)
	for ev := range a.w.ResultChan() {
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
		now := time.Now()
		createdMu.Lock()
		t := created[i]
		createdMu.Unlock()
		rv, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64)
		a.mu.Lock()
		if rv <= a.lastRV {
			a.disorder++
		}
		a.lastRV = rv
		if a.got[i] {
			a.dup++
		} else {
			a.got[i] = true
			a.seen++
			if !t.IsZero() {
				a.lat = append(a.lat, now.Sub(t))
			}
		}
		finished := a.seen == len(a.got)
		a.mu.Unlock()
		if finished {
			return
		}
	}
	// The channel closed before every event arrived: unless the benchmark
	// gave up waiting, the server ended the watch.
	a.mu.Lock()
	a.closed = a.seen < len(a.got) && !a.stopped.Load()
	a.mu.Unlock()
}
