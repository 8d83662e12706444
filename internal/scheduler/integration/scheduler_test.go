package integration

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestPlacement(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	createNode(t, c, testobj.Node("small").Capacity("2", "4Gi").Ready().Labels("zone", "a").Obj())
	createNode(t, c, testobj.Node("large").Capacity("8", "16Gi").Ready().Labels("zone", "b").Obj())
	createNode(t, c, testobj.Node("gpu").Capacity("16", "32Gi").Ready().Labels("zone", "c").Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj())
	createNode(t, c, testobj.Node("cordoned").Capacity("16", "32Gi").Ready().Labels("zone", "d").Unschedulable().Obj())
	startScheduler(t, rc, scheduler.Config{DisableLeaderElection: true})

	tolerateGPU := func(p *v1.Pod) *v1.Pod {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule}}
		p.Spec.NodeSelector = map[string]string{"zone": "c"}
		return p
	}
	affinity := func(zone string) func(*v1.Pod) *v1.Pod {
		return func(p *v1.Pod) *v1.Pod {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
					MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{zone}}},
				}}},
			}}
			return p
		}
	}
	hostPort := func(p *v1.Pod) *v1.Pod {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		p.Spec.NodeSelector = map[string]string{"zone": "a"}
		return p
	}
	tests := []struct {
		name   string
		cpu    string
		mutate func(*v1.Pod) *v1.Pod
		want   string
	}{
		{name: "fits-only-large", cpu: "3", want: "large"},
		{name: "tolerates-gpu", cpu: "1", mutate: tolerateGPU, want: "gpu"},
		{name: "affinity-zone-a", cpu: "100m", mutate: affinity("a"), want: "small"},
		{name: "hostport-first", cpu: "100m", mutate: hostPort, want: "small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testobj.Pod(tt.name).Req("cpu", tt.cpu).Obj()
			if tt.mutate != nil {
				p = tt.mutate(p)
			}
			createPod(t, c, p)
			if got := waitBound(t, c, tt.name); got != tt.want {
				t.Errorf("pod %s bound to %s, want %s", tt.name, got, tt.want)
			}
			want := "Successfully assigned default/" + tt.name + " to " + tt.want
			if diff := cmp.Diff(want, waitEvent(t, c, tt.name, "Scheduled", want)); diff != "" {
				t.Errorf("Scheduled event (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("hostport-conflict", func(t *testing.T) {
		createPod(t, c, hostPort(testobj.Pod("hostport-second").Req("cpu", "100m").Obj()))
		want := "0/4 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling."
		got := waitUnschedulable(t, c, "hostport-second", want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("condition message (-want +got):\n%s", diff)
		}
	})
}

func TestFailureMessage(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	for _, n := range []string{"a1", "a2"} {
		createNode(t, c, testobj.Node(n).Capacity("1", "4Gi").Ready().Obj())
	}
	for _, n := range []string{"g1", "g2", "g3"} {
		createNode(t, c, testobj.Node(n).Capacity("16", "32Gi").Ready().Taint("dedicated", "gpu", v1.TaintEffectNoSchedule).Obj())
	}
	startScheduler(t, rc, scheduler.Config{DisableLeaderElection: true})
	// A pod larger than a node's allocatable cannot be helped by preemption
	// there (upstream reports such nodes as unresolvable too).
	createPod(t, c, testobj.Pod("big").Req("cpu", "2").Obj())
	want := "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
	if diff := cmp.Diff(want, waitUnschedulable(t, c, "big", want)); diff != "" {
		t.Errorf("PodScheduled message (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, waitEvent(t, c, "big", "FailedScheduling", want)); diff != "" {
		t.Errorf("FailedScheduling event (-want +got):\n%s", diff)
	}
	// A node that fits makes the parked pod schedulable.
	createNode(t, c, testobj.Node("late").Capacity("4", "8Gi").Ready().Obj())
	if got := waitBound(t, c, "big"); got != "late" {
		t.Errorf("big bound to %s, want late", got)
	}
}

func TestAntiAffinityAndPreemption(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	for _, n := range []string{"n1", "n2", "n3"} {
		createNode(t, c, testobj.Node(n).Capacity("2", "4Gi").Ready().Obj())
	}
	startScheduler(t, rc, scheduler.Config{DisableLeaderElection: true})
	anti := func(name string) *v1.Pod {
		p := testobj.Pod(name).Req("cpu", "100m").Labels("app", "web").Obj()
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				TopologyKey:   v1.LabelHostname,
			}},
		}}
		return p
	}
	seen := map[string]bool{}
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		createPod(t, c, anti(name))
		node := waitBound(t, c, name)
		if seen[node] {
			t.Errorf("%s shares node %s with another replica", name, node)
		}
		seen[node] = true
	}
	createPod(t, c, anti("web-3"))
	want := "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	if diff := cmp.Diff(want, waitUnschedulable(t, c, "web-3", want)); diff != "" {
		t.Errorf("web-3 message (-want +got):\n%s", diff)
	}

	// Preemption: fill n1..n3 with low-priority pods, then a high-priority
	// pod evicts one.
	ctx := context.Background()
	for _, pc := range []schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10},
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
	} {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CoreV1().Pods("default").Delete(ctx, "web-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"low-0", "low-1", "low-2"} {
		p := testobj.Pod(name).Req("cpu", "1800m").Obj()
		p.Spec.PriorityClassName = "low"
		createPod(t, c, p)
		waitBound(t, c, name)
	}
	hi := testobj.Pod("high").Req("cpu", "1500m").Obj()
	hi.Spec.PriorityClassName = "high"
	createPod(t, c, hi)
	node := waitBound(t, c, "high")
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == node && p.Spec.PriorityClassName == "low" {
			t.Errorf("low-priority pod %s still on %s", p.Name, node)
		}
	}
}

func TestLeaderFailover(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	createNode(t, c, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj())
	run := func(id string) (*scheduler.Scheduler, context.CancelFunc, chan error) {
		s, err := scheduler.New(scheduler.Config{
			Rest: rc, Identity: id, Logger: servertest.Logger(),
			LeaseDuration: 2e9, RenewDeadline: 1e9, RetryPeriod: 2e8,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		return s, cancel, done
	}
	a, cancelA, doneA := run("a")
	<-a.Leading()
	b, cancelB, doneB := run("b")
	t.Cleanup(func() { cancelB(); <-doneB })
	createPod(t, c, testobj.Pod("before").Req("cpu", "100m").Obj())
	waitBound(t, c, "before")
	lease, err := c.CoordinationV1().Leases("kube-system").Get(context.Background(), "kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != "a" {
		t.Errorf("lease holder %q, want a", got)
	}
	cancelA()
	if err := <-doneA; err != nil {
		t.Errorf("scheduler a: %v", err)
	}
	<-b.Leading()
	createPod(t, c, testobj.Pod("after").Req("cpu", "100m").Obj())
	waitBound(t, c, "after")
	lease, err = c.CoordinationV1().Leases("kube-system").Get(context.Background(), "kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != "b" {
		t.Errorf("lease holder after failover %q, want b", got)
	}
}

// TestLostLeaseEndsRun: a scheduler whose Lease is taken over stops
// scheduling and returns an error, so that its supervisor starts it again.
func TestLostLeaseEndsRun(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	createNode(t, c, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj())
	s, err := scheduler.New(scheduler.Config{
		Rest: rc, Identity: "a", Logger: servertest.Logger(),
		LeaseDuration: 2e9, RenewDeadline: 1e9, RetryPeriod: 2e8,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Leading()
	createPod(t, c, testobj.Pod("before").Req("cpu", "100m").Obj())
	waitBound(t, c, "before")
	// Someone else holds the Lease now, for a long time.
	leases := c.CoordinationV1().Leases("kube-system")
	for {
		lease, err := leases.Get(context.Background(), "kube-scheduler", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		other, long := "intruder", int32(3600)
		lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds = &other, &long
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		if _, err := leases.Update(context.Background(), lease, metav1.UpdateOptions{}); err == nil {
			break
		}
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after losing the Lease")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after losing the Lease")
	}
}
