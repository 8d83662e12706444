package apf

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

func TestClassifyDefaults(t *testing.T) {
	c := New(Config{})
	tests := []struct {
		name           string
		req            Request
		schema, plevel string
		exempt         bool
	}{
		{"admin is exempt", Request{User: "admin", Groups: []string{"system:masters", "system:authenticated"}, IsResource: true,
			Verb: "list", Resource: "pods", Namespace: "default"}, "exempt", "exempt", true},
		{"probes are exempt", Request{User: "system:anonymous", Groups: []string{"system:unauthenticated"}, Verb: "get", Path: "/readyz"},
			"probes", "exempt", true},
		{"node lease renewal", Request{User: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"}, IsResource: true,
			Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease"}, "system-node-high", "node-high", false},
		{"node status", Request{User: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"}, IsResource: true,
			Verb: "patch", Resource: "nodes/status"}, "system-node-high", "node-high", false},
		{"node reads pods", Request{User: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"}, IsResource: true,
			Verb: "list", Resource: "pods"}, "system-nodes", "system", false},
		{"scheduler leader election", Request{User: "system:kube-scheduler", Groups: []string{"system:authenticated"}, IsResource: true,
			Verb: "update", APIGroup: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"}, "system-leader-election", "leader-election", false},
		{"scheduler binds", Request{User: "system:kube-scheduler", Groups: []string{"system:authenticated"}, IsResource: true,
			Verb: "create", Resource: "pods/binding", Namespace: "default"}, "kube-scheduler", "workload-high", false},
		{"kube-system controller", Request{User: "system:serviceaccount:kube-system:deployment-controller",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}, IsResource: true,
			Verb: "list", APIGroup: "apps", Resource: "replicasets"}, "kube-system-service-accounts", "workload-high", false},
		{"endpoints controller", Request{User: "system:serviceaccount:kube-system:endpoint-controller",
			Groups: []string{"system:serviceaccounts", "system:authenticated"}, IsResource: true,
			Verb: "update", Resource: "endpoints", Namespace: "web"}, "endpoint-controller", "workload-high", false},
		{"workload service account", Request{User: "system:serviceaccount:web:default",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:web", "system:authenticated"}, IsResource: true,
			Verb: "get", Resource: "configmaps", Namespace: "web"}, "service-accounts", "workload-low", false},
		{"a user", Request{User: "alice", Groups: []string{"system:authenticated"}, IsResource: true, Verb: "create",
			Resource: "configmaps", Namespace: "web"}, "global-default", "global-default", false},
		{"anonymous version", Request{User: "system:anonymous", Groups: []string{"system:unauthenticated"}, Verb: "get", Path: "/version"},
			"global-default", "global-default", false},
		{"no groups at all", Request{User: "odd", IsResource: true, Verb: "get", Resource: "pods", Namespace: "x"}, "catch-all", "catch-all", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := c.Classify(&tt.req)
			got := []any{cl.FlowSchema, cl.PriorityLevel, cl.Exempt()}
			if diff := cmp.Diff([]any{tt.schema, tt.plevel, tt.exempt}, got); diff != "" {
				t.Errorf("classification (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassifyPrecedenceAndRules(t *testing.T) {
	lvl := queuing("mine", 10, 0, 8, 2, 5)
	mk := func(name string, prec int32, rule flowcontrolv1.PolicyRulesWithSubjects) *flowcontrolv1.FlowSchema {
		return flowSchema(name, "mine", prec, flowcontrolv1.FlowDistinguisherMethodByNamespaceType, rule)
	}
	everyone := []flowcontrolv1.Subject{group("system:authenticated")}
	schemas := []*flowcontrolv1.FlowSchema{
		// Same precedence: the name decides.
		mk("b-cluster-pods", 100, flowcontrolv1.PolicyRulesWithSubjects{Subjects: everyone,
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}, ClusterScope: true}}}),
		mk("a-ns-pods", 100, flowcontrolv1.PolicyRulesWithSubjects{Subjects: everyone,
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}, Namespaces: []string{"team"}}}}),
		mk("sa-in-team", 50, flowcontrolv1.PolicyRulesWithSubjects{Subjects: []flowcontrolv1.Subject{serviceAccount("team", "*")},
			ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}, Namespaces: []string{"*"}}}}),
		mk("metrics-path", 60, flowcontrolv1.PolicyRulesWithSubjects{Subjects: everyone,
			NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics/*"}}}}),
	}
	c := New(Config{})
	c.Update(schemas, []*flowcontrolv1.PriorityLevelConfiguration{lvl})
	auth := []string{"system:authenticated"}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"cluster-wide list", Request{User: "u", Groups: auth, IsResource: true, Verb: "list", Resource: "pods"}, "b-cluster-pods"},
		{"namespaced list", Request{User: "u", Groups: auth, IsResource: true, Verb: "list", Resource: "pods", Namespace: "team"}, "a-ns-pods"},
		{"other namespace", Request{User: "u", Groups: auth, IsResource: true, Verb: "list", Resource: "pods", Namespace: "x"}, "catch-all"},
		{"other verb", Request{User: "u", Groups: auth, IsResource: true, Verb: "get", Resource: "pods", Namespace: "team"}, "catch-all"},
		{"service account first", Request{User: "system:serviceaccount:team:bot", Groups: auth, IsResource: true, Verb: "list",
			Resource: "pods", Namespace: "team"}, "sa-in-team"},
		{"sa of another namespace", Request{User: "system:serviceaccount:other:bot", Groups: auth, IsResource: true, Verb: "list",
			Resource: "pods", Namespace: "team"}, "a-ns-pods"},
		{"path prefix", Request{User: "u", Groups: auth, Verb: "get", Path: "/metrics/slis"}, "metrics-path"},
		{"path prefix, wrong verb", Request{User: "u", Groups: auth, Verb: "post", Path: "/metrics/slis"}, "catch-all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Classify(&tt.req).FlowSchema; got != tt.want {
				t.Errorf("schema = %q, want %q", got, tt.want)
			}
		})
	}
	// A schema whose level is gone is skipped.
	c.Update(schemas, nil)
	if got := c.Classify(&Request{User: "u", Groups: auth, IsResource: true, Verb: "list", Resource: "pods"}).FlowSchema; got != "catch-all" {
		t.Errorf("dangling schema matched: %q", got)
	}
}

func TestDealHand(t *testing.T) {
	for _, tc := range []struct{ deck, hand int }{{128, 6}, {64, 6}, {16, 4}, {8, 8}, {1, 1}, {3, 2}} {
		for _, key := range []string{"alice", "bob", "system:node:n1", ""} {
			h := flowHash("global-default", key)
			a := dealHand(h, tc.deck, tc.hand, nil)
			b := dealHand(h, tc.deck, tc.hand, make([]int, 0, 16))
			if !slices.Equal(a, b) {
				t.Fatalf("deck %d hand %d key %q: not deterministic: %v vs %v", tc.deck, tc.hand, key, a, b)
			}
			if len(a) != tc.hand {
				t.Fatalf("deck %d hand %d: got %d cards", tc.deck, tc.hand, len(a))
			}
			seen := map[int]bool{}
			for _, card := range a {
				if card < 0 || card >= tc.deck || seen[card] {
					t.Fatalf("deck %d hand %d key %q: bad hand %v", tc.deck, tc.hand, key, a)
				}
				seen[card] = true
			}
		}
	}
	// Every card of a small deck gets dealt for some flow.
	seen := map[int]bool{}
	for i := range 200 {
		for _, card := range dealHand(uint64(i)*0x9e3779b97f4a7c15, 16, 4, nil) {
			seen[card] = true
		}
	}
	if len(seen) != 16 {
		t.Errorf("only %d of 16 queues ever dealt", len(seen))
	}
	if flowHash("ab", "c") == flowHash("a", "bc") {
		t.Error("flow hash does not separate schema from distinguisher")
	}
}

func newTestLevel(limit, queues, hand, length int) *Level {
	l := &Level{name: "test"}
	l.configure(levelSettings{limit: limit, queues: queues, handSize: hand, queueLength: length})
	return l
}

func TestLevelQueueFullAndTimeout(t *testing.T) {
	ctx := context.Background()
	l := newTestLevel(2, 1, 1, 2)
	t1, err := l.acquire(ctx, 1, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := l.acquire(ctx, 1, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Two wait (queue length 2), the third is refused at once.
	results := make(chan error, 2)
	for range 2 {
		go func() {
			tk, err := l.acquire(ctx, 1, 1, time.Minute)
			if err == nil {
				tk.Release()
			}
			results <- err
		}()
	}
	waitFor(t, func() bool { _, w := l.stats(); return w == 2 })
	if _, err := l.acquire(ctx, 1, 1, time.Minute); !errors.Is(err, ErrRejected) {
		t.Fatalf("third waiter: err = %v, want ErrRejected", err)
	}
	t1.Release()
	t2.Release()
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	}
	// A full level and a short wait limit: the waiter times out.
	t1, _ = l.acquire(ctx, 1, 2, time.Minute)
	if _, err := l.acquire(ctx, 1, 1, time.Millisecond); !errors.Is(err, ErrTimedOut) {
		t.Fatalf("err = %v, want ErrTimedOut", err)
	}
	t1.Release()
	if in, w := l.stats(); in != 0 || w != 0 {
		t.Fatalf("after all released: %d seats in use, %d waiting", in, w)
	}
	// A level that does not queue refuses at once.
	r := newTestLevel(1, 0, 0, 0)
	tk, err := r.acquire(ctx, 1, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.acquire(ctx, 2, 1, time.Minute); !errors.Is(err, ErrRejected) {
		t.Fatalf("reject level: err = %v", err)
	}
	tk.Release()
}

// TestLevelFairDispatch: a heavy flow with many queued requests does not
// keep a light flow's request waiting behind all of them.
func TestLevelFairDispatch(t *testing.T) {
	ctx := context.Background()
	l := newTestLevel(1, 64, 1, 100)
	heavy, light := flowHash("fs", "heavy"), flowHash("fs", "light")
	if dealHand(heavy, 64, 1, nil)[0] == dealHand(light, 64, 1, nil)[0] {
		t.Skip("flows share a queue")
	}
	running, _ := l.acquire(ctx, heavy, 1, time.Minute)
	order := make(chan string, 20)
	for range 10 {
		go func() {
			tk, err := l.acquire(ctx, heavy, 1, time.Minute)
			if err == nil {
				order <- "heavy"
				tk.Release()
			}
		}()
	}
	waitFor(t, func() bool { _, w := l.stats(); return w == 10 })
	go func() {
		tk, err := l.acquire(ctx, light, 1, time.Minute)
		if err == nil {
			order <- "light"
			tk.Release()
		}
	}()
	waitFor(t, func() bool { _, w := l.stats(); return w == 11 })
	running.Release()
	var got []string
	for range 11 {
		got = append(got, <-order)
	}
	// The heavy queue has the seat's execution counted against it, so
	// the light one goes first or second, not last.
	if i := slices.Index(got, "light"); i > 1 {
		t.Errorf("light flow served at position %d: %v", i, got)
	}
}

func TestUpdateKeepsSeats(t *testing.T) {
	c := New(Config{ServerConcurrency: 10})
	req := &Request{User: "alice", Groups: []string{"system:authenticated"}, IsResource: true, Verb: "get", Resource: "pods", Namespace: "x"}
	cl := c.Classify(req)
	tk, err := c.Admit(context.Background(), &cl, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultObjects()
	c.Update(append(d.MandatorySchemas, d.SuggestedSchemas...), append(d.MandatoryLevels, d.SuggestedLevels...))
	if in, _ := c.Classify(req).level.stats(); in != 1 {
		t.Errorf("seats in use after update = %d, want 1", in)
	}
	tk.Release()
	// 600 seats by the default shares: global-default gets ceil(600*20/245).
	c = New(Config{})
	if got := c.levels["global-default"].limit; got != 49 {
		t.Errorf("global-default limit = %d, want 49", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkAPFClassifyAdmit(b *testing.B) {
	c := New(Config{})
	req := &Request{User: "system:serviceaccount:web:default", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:web", "system:authenticated"},
		IsResource: true, Verb: "get", Resource: "configmaps", Namespace: "web"}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			cl := c.Classify(req)
			tk, err := c.Admit(ctx, &cl, 1)
			if err != nil {
				b.Fatal(err)
			}
			tk.Release()
		}
	})
}

func BenchmarkAPFClassify(b *testing.B) {
	c := New(Config{})
	req := &Request{User: "alice", Groups: []string{"system:authenticated"}, IsResource: true, Verb: "get", Resource: "configmaps", Namespace: "web"}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Classify(req)
	}
}

// stats reports seats in use and requests waiting, for tests.
func (l *Level) stats() (inUse, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse, l.waiting
}
