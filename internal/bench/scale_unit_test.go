package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestParseCall(t *testing.T) {
	tests := []struct {
		method, url string
		want        CallKey
		ok          bool
	}{
		{"GET", "/api/v1/namespaces/ns/pods/p", CallKey{"get", "pods", "namespace"}, true},
		{"GET", "/api/v1/namespaces/ns/pods?labelSelector=a", CallKey{"list", "pods", "namespace"}, true},
		{"GET", "/api/v1/pods?limit=500", CallKey{"list", "pods", "cluster"}, true},
		{"GET", "/api/v1/pods?watch=true", CallKey{}, false},
		{"GET", "/api/v1/namespaces/ns/pods?watch=1", CallKey{}, false},
		{"POST", "/apis/apps/v1/namespaces/ns/deployments", CallKey{"create", "deployments", "namespace"}, true},
		{"PATCH", "/apis/apps/v1/namespaces/ns/statefulsets/s", CallKey{"patch", "statefulsets", "namespace"}, true},
		{"PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", CallKey{"update", "deployments/scale", "namespace"}, true},
		{"POST", "/api/v1/namespaces/ns/pods/p/binding", CallKey{"create", "pods/binding", "namespace"}, true},
		{"DELETE", "/api/v1/namespaces/ns/configmaps", CallKey{"deletecollection", "configmaps", "namespace"}, true},
		{"DELETE", "/api/v1/namespaces/ns", CallKey{"delete", "namespaces", "cluster"}, true},
		{"GET", "/api/v1/namespaces/ns", CallKey{"get", "namespaces", "cluster"}, true},
		{"GET", "/api/v1/namespaces", CallKey{"list", "namespaces", "cluster"}, true},
		{"PUT", "/api/v1/namespaces/ns/finalize", CallKey{"update", "namespaces/finalize", "cluster"}, true},
		{"GET", "/api/v1/nodes/n1", CallKey{"get", "nodes", "cluster"}, true},
		{"POST", "/apis/batch/v1/namespaces/ns/jobs", CallKey{"create", "jobs", "namespace"}, true},
		{"GET", "/apis/apps/v1", CallKey{}, false},
		{"GET", "/readyz", CallKey{}, false},
		{"GET", "/api", CallKey{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := ParseCall(tt.method, u)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); ok && diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
		})
	}
}

func TestThreshold(t *testing.T) {
	tests := []struct {
		key  CallKey
		want time.Duration
	}{
		{CallKey{"create", "pods", "namespace"}, time.Second},
		{CallKey{"get", "nodes", "cluster"}, time.Second},
		{CallKey{"list", "pods", "namespace"}, 5 * time.Second},
		{CallKey{"list", "pods", "cluster"}, 30 * time.Second},
		{CallKey{"deletecollection", "pods", "namespace"}, time.Second},
	}
	for _, tt := range tests {
		if got := Threshold(tt.key); got != tt.want {
			t.Errorf("Threshold(%v) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestSummariseCalls(t *testing.T) {
	get := CallKey{"get", "pods", "namespace"}
	list := CallKey{"list", "pods", "cluster"}
	var calls []Call
	for i := 1; i <= 100; i++ {
		calls = append(calls, Call{Key: get, Took: time.Duration(i) * time.Millisecond})
	}
	calls = append(calls, Call{Key: list, Took: 40 * time.Second})
	got := SummariseCalls(calls)
	want := []CallStats{
		{Key: get, Count: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond, Threshold: time.Second},
		{Key: list, Count: 1, P50: 40 * time.Second, P90: 40 * time.Second, P99: 40 * time.Second, Max: 40 * time.Second, Threshold: 30 * time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
	if !got[0].Pass() || got[0].Margin() != 901*time.Millisecond {
		t.Errorf("get: pass %v margin %v, want pass with 901ms", got[0].Pass(), got[0].Margin())
	}
	if got[1].Pass() {
		t.Errorf("list over 30s passes")
	}
	var b bytes.Buffer
	writeCallTable(&b, got)
	if !strings.Contains(b.String(), "FAIL") || !strings.Contains(b.String(), "PASS") {
		t.Errorf("table lacks a verdict:\n%s", b.String())
	}
}

func TestPlanLoad(t *testing.T) {
	tests := []struct {
		name                           string
		nodes, podsPerNode, ns         int
		wantNamespaces                 int
		wantKinds                      map[string]int
		wantBig, wantMedium, wantSmall int
	}{
		{
			name: "smoke", nodes: 100, podsPerNode: 30, wantNamespaces: 1,
			// 3000 pods: a DaemonSet over 100 nodes, 3×250, 25×30 and
			// the remaining 1400 in 280 groups of 5.
			wantKinds: map[string]int{KindDaemonSet: 1, KindStatefulSet: 2, KindJob: 3, KindDeployment: 303},
			wantBig:   3, wantMedium: 25, wantSmall: 280,
		},
		{
			name: "tiny", nodes: 5, podsPerNode: 10, wantNamespaces: 1,
			// 50 pods: a DaemonSet over 5 nodes and 9 groups of 5.
			wantKinds: map[string]int{KindDaemonSet: 1, KindStatefulSet: 1, KindJob: 1, KindDeployment: 7},
			wantSmall: 9,
		},
		{
			name: "remainder", nodes: 3, podsPerNode: 1, wantNamespaces: 1,
			// 3 pods: too few for a DaemonSet; one group of 3.
			wantKinds: map[string]int{KindStatefulSet: 1},
			wantSmall: 1,
		},
		{
			name: "namespaces", nodes: 250, podsPerNode: 30, wantNamespaces: 3,
			// 2500 pods a namespace: 2×250, 20×30, 280×5 (230 in the
			// first, beside the DaemonSet).
			wantKinds: map[string]int{KindDaemonSet: 1, KindStatefulSet: 6, KindJob: 9, KindDeployment: 841},
			wantBig:   6, wantMedium: 60, wantSmall: 790,
		},
		{
			name: "given namespaces", nodes: 10, podsPerNode: 20, ns: 4, wantNamespaces: 4,
			// 50 pods a namespace; the first's DaemonSet takes 10.
			wantKinds: map[string]int{KindDaemonSet: 1, KindStatefulSet: 4, KindJob: 4, KindDeployment: 30},
			wantSmall: 38,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanLoad("b", tt.nodes, tt.podsPerNode, tt.ns)
			if p.Pods != tt.nodes*tt.podsPerNode {
				t.Errorf("pods = %d, want %d", p.Pods, tt.nodes*tt.podsPerNode)
			}
			if len(p.Namespaces) != tt.wantNamespaces {
				t.Errorf("namespaces = %d, want %d", len(p.Namespaces), tt.wantNamespaces)
			}
			kinds := map[string]int{}
			classes := map[string]int{}
			sum := 0
			names := map[string]bool{}
			for _, w := range p.Workloads {
				kinds[w.Kind]++
				classes[strings.SplitN(w.Name, "-", 2)[0]]++
				sum += w.Replicas
				if names[w.Namespace+"/"+w.Name] {
					t.Errorf("duplicate workload %s/%s", w.Namespace, w.Name)
				}
				names[w.Namespace+"/"+w.Name] = true
				if w.Replicas <= 0 {
					t.Errorf("%s/%s has %d replicas", w.Namespace, w.Name, w.Replicas)
				}
			}
			if sum != p.Pods {
				t.Errorf("replicas sum to %d, plan says %d", sum, p.Pods)
			}
			if diff := cmp.Diff(tt.wantKinds, kinds); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			if classes["big"] != tt.wantBig || classes["medium"] != tt.wantMedium || classes["small"] != tt.wantSmall {
				t.Errorf("big/medium/small = %d/%d/%d, want %d/%d/%d", classes["big"], classes["medium"], classes["small"], tt.wantBig, tt.wantMedium, tt.wantSmall)
			}
		})
	}
}

func TestScaleSizes(t *testing.T) {
	for _, tt := range []struct{ in, up, down int }{{1, 2, 1}, {5, 8, 2}, {30, 45, 15}, {250, 375, 125}} {
		if got := scaleUp(tt.in); got != tt.up {
			t.Errorf("scaleUp(%d) = %d, want %d", tt.in, got, tt.up)
		}
		if got := scaleDown(tt.in); got != tt.down {
			t.Errorf("scaleDown(%d) = %d, want %d", tt.in, got, tt.down)
		}
	}
}

func TestSummariseProc(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []ProcSample{
		{At: t0, RSSKiB: 100 << 10, Cores: 0.1},
		{At: t0.Add(time.Second), RSSKiB: 300 << 10, Cores: 1.5},
		{At: t0.Add(2 * time.Second), RSSKiB: 200 << 10, Cores: 0.5},
		{At: t0.Add(3 * time.Second), RSSKiB: 400 << 10, Cores: 1.9},
		{At: t0.Add(4 * time.Second), RSSKiB: 150 << 10, Cores: 0.2},
	}
	got := summariseProc(42, samples, t0.Add(time.Second), t0.Add(2*time.Second))
	want := ProcSummary{PID: 42, PeakRSS: 400 << 10, SteadyRSS: 300 << 10, FinalRSS: 150 << 10, MeanCores: 1, PeakCores: 1.5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// TestWriteSVG checks that the plot is well-formed XML with a dot per
// call and a line for the server's memory.
func TestWriteSVG(t *testing.T) {
	t0 := time.Now()
	r := &ScaleResult{Start: t0, Plan: Plan{Namespaces: []string{"a"}, Pods: 10},
		Phases: []PhaseResult{{Name: "create", Start: t0, Took: 2 * time.Second}, {Name: "delete", Start: t0.Add(2 * time.Second), Took: time.Second}},
		Calls: []Call{
			{Key: CallKey{"create", "pods", "namespace"}, At: t0, Took: 3 * time.Millisecond},
			{Key: CallKey{"list", "pods", "cluster"}, At: t0.Add(time.Second), Took: 40 * time.Millisecond},
		},
		Samples: []ProcSample{{At: t0.Add(time.Second), RSSKiB: 50000, Cores: 0.5}, {At: t0.Add(2 * time.Second), RSSKiB: 60000, Cores: 1}},
	}
	var b bytes.Buffer
	if err := r.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	elems := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			elems[se.Name.Local]++
		}
	}
	// Two calls plus three legend dots.
	if elems["circle"] != 5 || elems["polyline"] != 2 || elems["svg"] != 1 {
		t.Errorf("elements = %v, want 5 circles, 2 polylines, 1 svg", elems)
	}
}

func TestPodTracker(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newPodTracker()
	tr.now = func() time.Time { return now }
	pod := func(uid, group, rev string, phase corev1.PodPhase, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Namespace: "ns", Name: uid,
			Labels: map[string]string{labelGroup: group, labelRev: rev}}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}
		return p
	}
	tr.setPhase("create")
	tr.OnAdd(pod("a", "web", "1", corev1.PodPending, false), false)
	tr.OnAdd(pod("b", "web", "1", corev1.PodPending, false), false)
	tr.OnAdd(pod("c", "job", "1", corev1.PodPending, false), false)
	now = now.Add(300 * time.Millisecond)
	tr.OnUpdate(nil, pod("a", "web", "1", corev1.PodRunning, false))
	tr.OnUpdate(nil, pod("c", "job", "1", corev1.PodSucceeded, false))
	now = now.Add(200 * time.Millisecond)
	tr.setPhase("rollout")
	tr.OnUpdate(nil, pod("b", "web", "1", corev1.PodRunning, false))
	tr.OnUpdate(nil, pod("b", "web", "1", corev1.PodRunning, false)) // a second Running event counts once
	tr.OnAdd(pod("d", "web", "2", corev1.PodRunning, false), false)  // first seen Running: 0 latency
	tr.OnUpdate(nil, pod("a", "web", "1", corev1.PodRunning, true))  // terminating
	tr.OnDelete(cache.DeletedFinalStateUnknown{Obj: pod("c", "job", "1", corev1.PodSucceeded, false)})

	want := map[groupKey]groupPods{{"ns", "web"}: {live: 2, done: map[string]int{"1": 1, "2": 1}}}
	if diff := cmp.Diff(want, tr.groups(), cmp.AllowUnexported(groupKey{}, groupPods{})); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	running, gone, stopped := tr.counts()
	if running != 4 || gone != 1 || stopped != 2 {
		t.Errorf("running, gone, stopped = %d, %d, %d; want 4, 1, 2", running, gone, stopped)
	}
	wantStartup := []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond, 0}
	if diff := cmp.Diff(wantStartup, tr.startupSamples()); diff != "" {
		t.Errorf("startup (-want +got):\n%s", diff)
	}
	if n := tr.present(); n != 3 {
		t.Errorf("present = %d, want 3", n)
	}
	// By the phase they went Running in and their workload's kind.
	var by []string
	for _, l := range tr.startupBy(func(g groupKey) string { return "kind-of-" + g.name }) {
		by = append(by, fmt.Sprintf("%s %d %v", l.Op, l.Count, l.Max))
	}
	wantBy := []string{"create kind-of-job 1 300ms", "create kind-of-web 1 300ms", "rollout kind-of-web 2 500ms"}
	if diff := cmp.Diff(wantBy, by); diff != "" {
		t.Errorf("startup by phase and kind (-want +got):\n%s", diff)
	}
}

// TestCallRecorder sends requests through a recorder's transport to a
// real HTTP server and checks that each is recorded once, with its kind,
// and that watches are not.
func TestCallRecorder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"kind":"Status"}`)
	}))
	defer srv.Close()
	rec := NewCallRecorder()
	client := &http.Client{Transport: rec.Wrap(http.DefaultTransport)}
	do := func(method, path string, read bool) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if read {
			_, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
	}
	do("GET", "/api/v1/namespaces/ns/pods", true)
	do("POST", "/api/v1/namespaces/ns/pods", false)
	do("GET", "/api/v1/pods?watch=true", true)
	do("GET", "/healthz", true)
	var got []CallKey
	for _, c := range rec.Calls() {
		got = append(got, c.Key)
		if c.Took <= 0 || c.At.IsZero() {
			t.Errorf("%v: not timed: %+v", c.Key, c)
		}
	}
	want := []CallKey{{"list", "pods", "namespace"}, {"create", "pods", "namespace"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestPace(t *testing.T) {
	r := &scaleRun{cfg: ScaleConfig{PodRate: 10}}
	before := time.Now()
	if err := r.pace(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	// The next change is due half a second after the first.
	if d := r.paceAt.Sub(before); d < 500*time.Millisecond {
		t.Fatalf("next change due %v after the first, want 500ms", d)
	}
	// So one asked for now has to wait: with its context done, it gives up.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.pace(ctx, 5); err == nil {
		t.Fatal("a second change went at once")
	}
	// Unpaced, nothing waits.
	r = &scaleRun{}
	if err := r.pace(ctx, 1000); err != nil {
		t.Fatal(err)
	}
}

func TestStartupStages(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.Time{Time: time.Unix(int64(1000+s), 0)} }
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: at(0)}}
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at(9)},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at(2)},
	}
	st := at(5)
	p.Status.StartTime = &st
	p.Status.ContainerStatuses = []corev1.ContainerStatus{
		{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(6)}}},
		{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(7)}}},
	}
	now := time.Unix(1008, 0)
	want := [numStages]time.Duration{2 * time.Second, 3 * time.Second, 2 * time.Second, time.Second}
	if got := startupStages(p, now); got != want {
		t.Errorf("stages = %v, want %v", got, want)
	}
	// No startTime, and a clock a second behind: stages never go below
	// zero and a missing time counts as the one before.
	p.Status.StartTime = nil
	p.Status.ContainerStatuses = nil
	want = [numStages]time.Duration{2 * time.Second, 0, 0, 0}
	if got := startupStages(p, time.Unix(1001, 0)); got != want {
		t.Errorf("stages without node times = %v, want %v", got, want)
	}
}
