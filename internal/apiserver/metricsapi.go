package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"skiff/internal/apiserver/registry/metricsapi"
	"skiff/internal/apiserver/usage"
)

// The resource metrics API (metrics.k8s.io/v1beta1, what kubectl top and
// HorizontalPodAutoscalers read) is served by the API server itself, as
// metrics-server would serve it: runMetrics reads every Ready node's stats
// Summary each MetricsResolution with the API server's own kubelet client
// credentials (those of nodes/proxy, so no other identity needs rights
// on nodes/stats), and handleMetrics answers get and list from the last
// two readings (package usage).

const (
	// DefaultMetricsResolution is how often nodes are read, as
	// metrics-server's default --metric-resolution.
	DefaultMetricsResolution = 15 * time.Second
	// metricsScrapeTimeout bounds reading one node.
	metricsScrapeTimeout = 10 * time.Second
	// metricsScrapeParallel bounds the nodes read at once.
	metricsScrapeParallel = 8
	// maxMetricsRetryDelay bounds how long a node that cannot be read is
	// left out before it is tried again.
	maxMetricsRetryDelay = 5 * time.Minute
	// maxSummaryBytes bounds a Summary read from a node.
	maxSummaryBytes = 64 << 20
)

// isMetricsResource reports whether res is served by handleMetrics.
func isMetricsResource(res *resource) bool {
	return res.custom == nil && metricsapi.IsMetrics(res.gvr)
}

// runMetrics reads the nodes every MetricsResolution until ctx is done.
func (s *Server) runMetrics(ctx context.Context) {
	if s.cfg.KubeletTLS == nil {
		return
	}
	select {
	case <-s.cache.Ready():
	case <-ctx.Done():
		return
	}
	tr := &http.Transport{TLSClientConfig: s.cfg.KubeletTLS.Clone(), TLSHandshakeTimeout: metricsScrapeTimeout, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	sc := &scraper{client: &http.Client{Transport: tr, Timeout: metricsScrapeTimeout}, failures: map[string]int{}, retryAt: map[string]time.Time{}}
	tick := time.NewTicker(s.cfg.MetricsResolution)
	defer tick.Stop()
	for {
		s.scrapeNodes(ctx, sc, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// scraper is runMetrics' state: a node that could not be read is tried
// again after a delay that doubles with each failure, so that nodes whose
// agent cannot be reached (simulated ones, a host that went away before
// its Node turned NotReady) do not hold the reads up every round.
type scraper struct {
	client   *http.Client
	failures map[string]int
	retryAt  map[string]time.Time
}

// retryDelay is how long a node that failed n times in a row is left out.
func retryDelay(resolution time.Duration, n int) time.Duration {
	return min(resolution<<min(n, 10), maxMetricsRetryDelay)
}

// scrapeNodes reads every Ready node that is due once and keeps the nodes
// it could read.
func (s *Server) scrapeNodes(ctx context.Context, sc *scraper, now time.Time) {
	ready := map[string]bool{}
	var due []string
	for _, obj := range s.Objects("", "v1", "nodes", "") {
		if n, ok := obj.(*corev1.Node); ok && nodeReady(n) {
			ready[n.Name] = true
			if !now.Before(sc.retryAt[n.Name]) {
				due = append(due, n.Name)
			}
		}
	}
	for name := range sc.failures {
		if !ready[name] {
			delete(sc.failures, name)
			delete(sc.retryAt, name)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		read []string
		sem  = make(chan struct{}, metricsScrapeParallel)
	)
	for _, name := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sum, err := s.nodeSummary(ctx, sc.client, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.log.Debug("node stats unavailable", "node", name, "err", err)
				sc.failures[name]++
				sc.retryAt[name] = now.Add(retryDelay(s.cfg.MetricsResolution, sc.failures[name]-1))
				return
			}
			delete(sc.failures, name)
			delete(sc.retryAt, name)
			s.usage.Update(name, sum)
			read = append(read, name)
		})
	}
	wg.Wait()
	s.usage.Retain(read)
}

// nodeSummary reads a node's stats Summary where nodes/proxy would reach it.
func (s *Server) nodeSummary(ctx context.Context, client *http.Client, name string) (*statsv1alpha1.Summary, error) {
	loc, err := s.nodeLocation(name, "", "")
	if err != nil {
		return nil, err
	}
	loc.Path, loc.RawQuery = "/stats/summary", "only_cpu_and_memory=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read stats of node %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("read stats of node %s: %s", name, resp.Status)
	}
	var sum statsv1alpha1.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxSummaryBytes)).Decode(&sum); err != nil {
		return nil, fmt.Errorf("decode stats of node %s: %w", name, err)
	}
	return &sum, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// handleMetrics serves get and list of NodeMetrics and PodMetrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if info.verb != "get" && info.verb != "list" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.groupResource(), info.verb))
		return
	}
	t, ok := s.target(w, r)
	if !ok {
		return
	}
	now := time.Now()
	if info.verb == "get" {
		obj, found := s.Object("", "v1", res.Resource.Resource, info.namespace, info.name)
		var out runtime.Object
		if found {
			out, found = s.metricsOf(obj, now)
		}
		if !found {
			// Named by kind, as metrics-server names them:
			// podmetrics.metrics.k8s.io "web-0" not found.
			gr := schema.GroupResource{Group: res.GroupVersion.Group, Resource: strings.ToLower(res.Kind)}
			s.writeError(w, r, apierrors.NewNotFound(gr, info.name))
			return
		}
		setGVK(out, res.gvk)
		s.writeRead(w, r, res, t, http.StatusOK, out)
		return
	}
	sel, err := parseSelectors(res, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var items []runtime.Object
	for _, obj := range s.Objects("", "v1", res.Resource.Resource, info.namespace) {
		m, ok := s.metricsOf(obj, now)
		if !ok || !sel.matches(res, m) {
			continue
		}
		setGVK(m, res.gvk)
		items = append(items, m)
	}
	s.writeList(w, r, res, t, items, 0, "", nil)
}

// metricsOf returns the NodeMetrics of a Node or the PodMetrics of a Pod,
// labelled as the object is, if there is a usage for it.
func (s *Server) metricsOf(obj runtime.Object, now time.Time) (runtime.Object, bool) {
	switch o := obj.(type) {
	case *corev1.Node:
		u, ok := s.usage.Node(o.Name)
		if !ok {
			return nil, false
		}
		return &metricsv1beta1.NodeMetrics{
			ObjectMeta: metricsMeta(o.ObjectMeta, now),
			Timestamp:  metav1.NewTime(u.Timestamp),
			Window:     metav1.Duration{Duration: u.Window},
			Usage:      resourceList(u),
		}, true
	case *corev1.Pod:
		u, ok := s.usage.Pod(o.Namespace, o.Name)
		if !ok {
			return nil, false
		}
		m := &metricsv1beta1.PodMetrics{
			ObjectMeta: metricsMeta(o.ObjectMeta, now),
			Timestamp:  metav1.NewTime(u.Timestamp),
			Window:     metav1.Duration{Duration: u.Window},
		}
		for _, c := range u.Containers {
			m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: resourceList(c.Usage)})
		}
		return m, true
	}
	return nil, false
}

// metricsMeta names the metrics of an object after it; like
// metrics-server, the metrics are created when they are read.
func metricsMeta(m metav1.ObjectMeta, now time.Time) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, CreationTimestamp: metav1.NewTime(now)}
}

func resourceList(u usage.Usage) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *apiresource.NewScaledQuantity(int64(u.NanoCores), apiresource.Nano),
		corev1.ResourceMemory: *apiresource.NewQuantity(int64(u.MemoryBytes), apiresource.BinarySI),
	}
}
