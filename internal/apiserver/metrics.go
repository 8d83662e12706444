package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API server's Prometheus metrics, named as upstream's so
// that existing dashboards and alerts read them.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component.",
			Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_current_inflight_requests",
			Help: "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
		}, []string{"request_kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.inflight)
	}
	return m
}

// statusRecorder remembers the response code.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets watches stream through the recorder.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe serves a resource request through next and records it.
func (m *metrics) observe(w http.ResponseWriter, r *http.Request, info requestInfo, next func(http.ResponseWriter)) {
	kind := "readOnly"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		kind = "mutating"
	}
	m.inflight.WithLabelValues(kind).Inc()
	defer m.inflight.WithLabelValues(kind).Dec()
	rec := &statusRecorder{ResponseWriter: w}
	start := time.Now()
	next(rec)
	verb := upstreamVerb(r, info)
	scope := "cluster"
	switch {
	case info.name != "":
		scope = "resource"
	case info.namespace != "":
		scope = "namespace"
	}
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(verb, info.group, info.version, info.resource, info.subresource, scope, "apiserver", strconv.Itoa(code)).Inc()
	if verb != "WATCH" {
		m.latency.WithLabelValues(verb, info.group, info.version, info.resource, info.subresource, scope, "apiserver").Observe(time.Since(start).Seconds())
	}
}

// upstreamVerb is the verb label as upstream's metrics spell it.
func upstreamVerb(r *http.Request, info requestInfo) string {
	switch info.verb {
	case "list":
		return "LIST"
	case "watch":
		return "WATCH"
	case "get":
		return "GET"
	case "create":
		return "POST"
	case "update":
		return "PUT"
	case "patch":
		if r.Header.Get("Content-Type") == "application/apply-patch+yaml" {
			return "APPLY"
		}
		return "PATCH"
	case "delete", "deletecollection":
		return "DELETE"
	}
	return r.Method
}
