package integration

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/scheduler"
	"skiff/internal/server"
)

func logger() *slog.Logger {
	if os.Getenv("SKIFF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer starts a control plane without built-in scheduler or
// controllers and returns its admin client config.
func startServer(t *testing.T) *rest.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{
		DataDir: t.TempDir(), BindAddress: "127.0.0.1", HTTPSPort: -1,
		EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0",
		DisableAgent: true, Disable: []string{"scheduler", "controllers"}, Logger: logger(),
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(s.Close)
	rc, err := clientcmd.BuildConfigFromFlags("", s.AdminKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = -1, 1000
	return rc
}

// startScheduler runs a scheduler until the test ends.
func startScheduler(t *testing.T, rc *rest.Config, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	cfg.Rest = rc
	cfg.Logger = logger()
	s, err := scheduler.New(cfg)
	if err != nil {
		t.Fatalf("new scheduler: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler run: %v", err)
		}
	})
	return s
}

func client(t *testing.T, rc *rest.Config) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type nodeOpt func(*v1.Node)

func labels(kv ...string) nodeOpt {
	return func(n *v1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func taint(key, value string, effect v1.TaintEffect) nodeOpt {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func createNode(t *testing.T, c kubernetes.Interface, name, cpu, mem string, opts ...nodeOpt) {
	t.Helper()
	rl := v1.ResourceList{
		v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
		v1.ResourcePods: resource.MustParse("110"),
	}
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, o := range opts {
		o(n)
	}
	if _, err := c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

func pod(name, cpu string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{}},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []v1.Container{{Name: "c", Image: "skiff/pause:1"}},
		},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
	}
	return p
}

func createPod(t *testing.T, c kubernetes.Interface, p *v1.Pod) {
	t.Helper()
	if _, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// waitFor polls cond until it returns true or 30 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

// waitBound waits until the pod is bound and returns its node.
func waitBound(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	waitFor(t, "pod "+name+" bound", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		node = p.Spec.NodeName
		return node != "", nil
	})
	return node
}

// waitUnschedulable waits for PodScheduled=False with the wanted message
// (the scheduler's view of the cluster may trail the test's by an event,
// and each retry rewrites the message) and returns the last one seen.
func waitUnschedulable(t *testing.T, c kubernetes.Interface, name, want string) string {
	t.Helper()
	var msg string
	waitForOrLast(func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				return msg == want, nil
			}
		}
		return false, nil
	})
	return msg
}

// waitForOrLast polls cond for up to 30 s and returns; the caller checks
// the last value it captured.
func waitForOrLast(cond func() (bool, error)) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok, _ := cond(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEvent waits for an event about the pod with the reason and the
// wanted message, and returns the last such event's message.
func waitEvent(t *testing.T, c kubernetes.Interface, podName, reason, want string) string {
	t.Helper()
	var msg string
	waitForOrLast(func() (bool, error) {
		evs, err := c.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", podName).String(),
		})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.InvolvedObject.Name == podName {
				msg = e.Message
				if msg == want {
					return true, nil
				}
			}
		}
		return false, nil
	})
	return msg
}
