package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// CallKey names a kind of API call the way upstream's API call latency
// SLI groups them: verb, resource (with its subresource) and, for lists,
// scope.
type CallKey struct {
	// Verb is get, list, create, update, patch, delete or
	// deletecollection.
	Verb string
	// Resource is the plural resource, "deployments" or "pods/binding".
	Resource string
	// Scope is "namespace" or "cluster": where the call's objects live
	// (a list across all namespaces is cluster-scoped).
	Scope string
}

// Call is one timed API request.
type Call struct {
	Key CallKey
	// At is when the request was sent; Took is until its response body
	// was read to the end or closed.
	At   time.Time
	Took time.Duration
}

// CallRecorder times every API request that passes through the transport
// it wraps (Wrap, for rest.Config.Wrap). Watches are not timed: they last
// as long as the client wants.
type CallRecorder struct {
	now   func() time.Time
	mu    sync.Mutex
	calls []Call
}

// NewCallRecorder returns an empty recorder.
func NewCallRecorder() *CallRecorder { return &CallRecorder{now: time.Now} }

// Wrap returns rt with every request it carries timed.
func (r *CallRecorder) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &timedTransport{rec: r, next: rt}
}

// Calls returns a copy of the calls recorded so far, in completion order.
func (r *CallRecorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

func (r *CallRecorder) add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

type timedTransport struct {
	rec  *CallRecorder
	next http.RoundTripper
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, ok := ParseCall(req.Method, req.URL)
	if !ok {
		return t.next.RoundTrip(req)
	}
	start := t.rec.now()
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		t.rec.add(Call{Key: key, At: start, Took: t.rec.now().Sub(start)})
		return resp, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() {
		t.rec.add(Call{Key: key, At: start, Took: t.rec.now().Sub(start)})
	}}
	return resp, nil
}

// timedBody reports once, when its body is read to the end or closed:
// a LIST's latency includes receiving its items.
type timedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// ParseCall classifies a request to a Kubernetes API server. ok is false
// for watches and for paths that are not resources (discovery, /readyz).
func ParseCall(method string, u *url.URL) (key CallKey, ok bool) {
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:]
	default:
		return CallKey{}, false
	}
	if len(segs) == 0 {
		return CallKey{}, false
	}
	key.Scope = "cluster"
	// namespaces/NS/RESOURCE... is namespaced, except the namespace's own
	// subresources (namespaces/NS/status, namespaces/NS/finalize on PUT).
	if segs[0] == "namespaces" && len(segs) >= 3 &&
		!(len(segs) == 3 && method != http.MethodGet && (segs[2] == "status" || segs[2] == "finalize")) {
		key.Scope = "namespace"
		segs = segs[2:]
	}
	key.Resource = segs[0]
	name := ""
	if len(segs) >= 2 {
		name = segs[1]
	}
	if len(segs) >= 3 {
		key.Resource += "/" + segs[2]
	}
	if key.Resource == "namespaces" && name != "" {
		// A namespace is the one cluster-scoped object whose reads and
		// writes are about one namespace; upstream's SLI still calls it
		// cluster-scoped, and so does this.
		key.Scope = "cluster"
	}
	q := u.Query()
	switch method {
	case http.MethodGet:
		switch {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			return CallKey{}, false
		case name != "":
			key.Verb = "get"
		default:
			key.Verb = "list"
		}
	case http.MethodPost:
		key.Verb = "create"
	case http.MethodPut:
		key.Verb = "update"
	case http.MethodPatch:
		key.Verb = "patch"
	case http.MethodDelete:
		key.Verb = "delete"
		if name == "" {
			key.Verb = "deletecollection"
		}
	default:
		return CallKey{}, false
	}
	return key, true
}

// SLO thresholds of upstream's API call latency SLO, on the 99th
// percentile: mutating calls and single-object reads within 1s, lists
// within 5s in a namespace and 30s across the cluster.
const (
	sloSingle           = time.Second
	sloListNamespace    = 5 * time.Second
	sloListClusterScope = 30 * time.Second
	// sloPodStartup is upstream's pod startup SLO for stateless pods
	// whose image is already on the node: p99 within 5s.
	sloPodStartup = 5 * time.Second
)

// Threshold is the SLO's bound on the 99th percentile of key's latency.
func Threshold(key CallKey) time.Duration {
	if key.Verb != "list" {
		return sloSingle
	}
	if key.Scope == "namespace" {
		return sloListNamespace
	}
	return sloListClusterScope
}

// CallStats summarises one kind of call against its SLO.
type CallStats struct {
	Key           CallKey
	Count         int
	P50, P90, P99 time.Duration
	Max           time.Duration
	Threshold     time.Duration
}

// Pass says whether the 99th percentile is within the threshold.
func (s CallStats) Pass() bool { return s.P99 <= s.Threshold }

// Margin is how far the 99th percentile is below the threshold
// (negative when it is above).
func (s CallStats) Margin() time.Duration { return s.Threshold - s.P99 }

// SummariseCalls groups calls by key and returns their percentiles,
// sorted by resource, verb and scope.
func SummariseCalls(calls []Call) []CallStats {
	by := map[CallKey][]time.Duration{}
	for _, c := range calls {
		by[c.Key] = append(by[c.Key], c.Took)
	}
	out := make([]CallStats, 0, len(by))
	for k, d := range by {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		out = append(out, CallStats{
			Key: k, Count: len(d),
			P50: percentile(d, 50), P90: percentile(d, 90), P99: percentile(d, 99),
			Max: d[len(d)-1], Threshold: Threshold(k),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		if a.Verb != b.Verb {
			return a.Verb < b.Verb
		}
		return a.Scope < b.Scope
	})
	return out
}

// percentile is the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// writeCallTable writes stats as a table with a PASS or FAIL per row.
func writeCallTable(w io.Writer, stats []CallStats) {
	fmt.Fprintf(w, "%-18s %-28s %-9s %7s %9s %9s %9s %9s %6s  %-6s %s\n",
		"verb", "resource", "scope", "count", "p50", "p90", "p99", "max", "slo", "result", "margin")
	for _, s := range stats {
		result := "PASS"
		if !s.Pass() {
			result = "FAIL"
		}
		fmt.Fprintf(w, "%-18s %-28s %-9s %7d %9s %9s %9s %9s %6s  %-6s %s\n",
			s.Key.Verb, s.Key.Resource, s.Key.Scope, s.Count, fmtMS(s.P50), fmtMS(s.P90), fmtMS(s.P99), fmtMS(s.Max),
			fmtSec(s.Threshold), result, fmtMargin(s.Margin(), s.Threshold))
	}
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1fms", ms(d)) }

func fmtSec(d time.Duration) string { return fmt.Sprintf("%gs", d.Seconds()) }

// fmtMargin shows a margin in milliseconds and as a share of threshold.
func fmtMargin(m, threshold time.Duration) string {
	return fmt.Sprintf("%+.1fms (%+.1f%%)", ms(m), 100*float64(m)/float64(threshold))
}
