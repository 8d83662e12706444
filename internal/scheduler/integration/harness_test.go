package integration

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/scheduler"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// startScheduler runs a scheduler until the test ends.
func startScheduler(t *testing.T, rc *rest.Config, cfg scheduler.Config) *scheduler.Scheduler {
	t.Helper()
	cfg.Rest = rc
	cfg.Logger = servertest.Logger()
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

func createNode(t *testing.T, c kubernetes.Interface, n *v1.Node) {
	t.Helper()
	if _, err := c.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
}

func createPod(t *testing.T, c kubernetes.Interface, p *v1.Pod) {
	t.Helper()
	if _, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// waitBound waits until the pod is bound and returns its node.
func waitBound(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	var node string
	servertest.Wait(t, "pod "+name+" bound", func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
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
// and each retry rewrites the message) and returns it.
func waitUnschedulable(t *testing.T, c kubernetes.Interface, name, want string) string {
	t.Helper()
	var msg string
	servertest.Wait(t, "pod "+name+" unschedulable with the wanted message", func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable {
				msg = cond.Message
				return msg == want, fmt.Errorf("message %q, want %q", msg, want)
			}
		}
		return false, nil
	})
	return msg
}

// waitEvent waits for an event about the pod with the reason and the
// wanted message, and returns its message.
func waitEvent(t *testing.T, c kubernetes.Interface, podName, reason, want string) string {
	t.Helper()
	var msg string
	servertest.Wait(t, "a "+reason+" event about "+podName, func(ctx context.Context) (bool, error) {
		evs, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{
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
		return false, fmt.Errorf("last message %q, want %q", msg, want)
	})
	return msg
}
