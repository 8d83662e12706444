package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// SummaryProvider reports the resource usage of the node and its pods, for
// the kubelet API's /stats/summary and /metrics/resource. StatsCollector
// is the one that reads cgroups.
type SummaryProvider interface {
	// Summary reads the usage now; its error means no usage at all could
	// be read (the runtime did not answer).
	Summary(ctx context.Context) (*statsapi.Summary, error)
}

// serveSummary answers the node's stats Summary as JSON, as the kubelet's
// /stats/summary does. skiff reads cpu and memory only, so the
// only_cpu_and_memory query changes nothing.
func (s *Server) serveSummary(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		http.Error(w, "resource usage is not available on this node", http.StatusNotImplemented)
		return
	}
	sum, err := s.cfg.Stats.Summary(r.Context())
	if err != nil {
		http.Error(w, "Internal Error: failed to get node info: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(sum)
}

// serveResourceMetrics answers the kubelet's resource metrics, what
// metrics-server scrapes: the same usage as the Summary, as Prometheus
// samples stamped with the time each was read.
func (s *Server) serveResourceMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Stats == nil {
		http.Error(w, "resource usage is not available on this node", http.StatusNotImplemented)
		return
	}
	// A registry per request: the collector reads with the request's
	// context, and its series are exactly the pods running now.
	reg := prometheus.NewRegistry()
	if err := reg.Register(resourceCollector{resourceDescs: newResourceDescs(), ctx: r.Context(), stats: s.cfg.Stats, log: s.cfg.Logger}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// resourceDescs are the resource metrics, named and labelled as upstream's
// kubelet serves them on /metrics/resource.
type resourceDescs struct {
	nodeCPU, nodeMemory                           *prometheus.Desc
	containerStart, containerCPU, containerMemory *prometheus.Desc
	podCPU, podMemory                             *prometheus.Desc
	scrapeError, resourceScrapeError              *prometheus.Desc
}

func newResourceDescs() resourceDescs {
	container := []string{"container", "pod", "namespace"}
	pod := []string{"pod", "namespace"}
	const scrapeHelp = "1 when the usage of the node's containers could not be read, else 0."
	return resourceDescs{
		nodeCPU:         prometheus.NewDesc("node_cpu_usage_seconds_total", "Cpu time the node has used since it booted, in core-seconds.", nil, nil),
		nodeMemory:      prometheus.NewDesc("node_memory_working_set_bytes", "Memory the node has in its working set now, in bytes.", nil, nil),
		containerStart:  prometheus.NewDesc("container_start_time_seconds", "When the container started, in seconds since the Unix epoch.", container, nil),
		containerCPU:    prometheus.NewDesc("container_cpu_usage_seconds_total", "Cpu time the container has used, in core-seconds.", container, nil),
		containerMemory: prometheus.NewDesc("container_memory_working_set_bytes", "Memory the container has in its working set now, in bytes.", container, nil),
		podCPU:          prometheus.NewDesc("pod_cpu_usage_seconds_total", "Cpu time the pod has used, in core-seconds.", pod, nil),
		podMemory:       prometheus.NewDesc("pod_memory_working_set_bytes", "Memory the pod has in its working set now, in bytes.", pod, nil),
		// scrape_error is the older name upstream still serves next to
		// resource_scrape_error.
		scrapeError:         prometheus.NewDesc("scrape_error", scrapeHelp, nil, nil),
		resourceScrapeError: prometheus.NewDesc("resource_scrape_error", scrapeHelp, nil, nil),
	}
}

// resourceCollector turns one Summary into the resource metrics.
type resourceCollector struct {
	resourceDescs
	ctx   context.Context
	stats SummaryProvider
	log   *slog.Logger
}

var _ prometheus.Collector = resourceCollector{}

// Describe implements prometheus.Collector.
func (c resourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.nodeCPU, c.nodeMemory, c.containerStart, c.containerCPU, c.containerMemory,
		c.podCPU, c.podMemory, c.scrapeError, c.resourceScrapeError} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the Summary cannot be
// read, only the scrape errors are reported, set to 1.
func (c resourceCollector) Collect(ch chan<- prometheus.Metric) {
	sum, err := c.stats.Summary(c.ctx)
	failed := 0.0
	if err != nil {
		c.log.Debug("resource metrics", "err", err)
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeError, prometheus.GaugeValue, failed)
	ch <- prometheus.MustNewConstMetric(c.resourceScrapeError, prometheus.GaugeValue, failed)
	if err != nil {
		return
	}
	sendCPU(ch, c.nodeCPU, sum.Node.CPU)
	sendMemory(ch, c.nodeMemory, sum.Node.Memory)
	for _, p := range sum.Pods {
		for _, ct := range p.Containers {
			labels := []string{ct.Name, p.PodRef.Name, p.PodRef.Namespace}
			if ct.StartTime.Unix() > 0 {
				ch <- prometheus.MustNewConstMetric(c.containerStart, prometheus.GaugeValue,
					float64(ct.StartTime.UnixNano())/float64(time.Second), labels...)
			}
			sendCPU(ch, c.containerCPU, ct.CPU, labels...)
			sendMemory(ch, c.containerMemory, ct.Memory, labels...)
		}
		sendCPU(ch, c.podCPU, p.CPU, p.PodRef.Name, p.PodRef.Namespace)
		sendMemory(ch, c.podMemory, p.Memory, p.PodRef.Name, p.PodRef.Namespace)
	}
}

// sendCPU sends the cumulative cpu seconds of s, stamped with its reading's
// time; nothing when it has none.
func sendCPU(ch chan<- prometheus.Metric, d *prometheus.Desc, s *statsapi.CPUStats, labels ...string) {
	if s == nil || s.UsageCoreNanoSeconds == nil {
		return
	}
	m := prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(*s.UsageCoreNanoSeconds)/float64(time.Second), labels...)
	ch <- prometheus.NewMetricWithTimestamp(s.Time.Time, m)
}

// sendMemory sends the working set of s, stamped with its reading's time;
// nothing when it has none.
func sendMemory(ch chan<- prometheus.Metric, d *prometheus.Desc, s *statsapi.MemoryStats, labels ...string) {
	if s == nil || s.WorkingSetBytes == nil {
		return
	}
	m := prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(*s.WorkingSetBytes), labels...)
	ch <- prometheus.NewMetricWithTimestamp(s.Time.Time, m)
}
