package servertest

import (
	"context"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Kubelet is a simulated scheduler and node fleet for tests that run no
// scheduler and no agent: it binds pending pods to a node and reports
// bound pods Running and Ready, and removes pods being deleted at once.
type Kubelet struct {
	s *Server
	// defaultNode is where pods without a required node are bound; empty
	// leaves them pending.
	defaultNode string

	mu      sync.Mutex
	nodes   cache.Indexer
	handled map[types.UID]bool
}

// StartKubelet runs a simulated kubelet until the test ends. Pods that
// require nodes by affinity or node selector go to the first matching
// node; the others to defaultNode (none when empty).
func (s *Server) StartKubelet(t testing.TB, defaultNode string) *Kubelet {
	t.Helper()
	k := &Kubelet{s: s, defaultNode: defaultNode, handled: map[types.UID]bool{}}
	inf := informers.NewSharedInformerFactory(s.Client, 0)
	pods := inf.Core().V1().Pods().Informer()
	k.nodes = inf.Core().V1().Nodes().Informer().GetIndexer()
	ctx, cancel := context.WithCancel(context.Background())
	q := make(chan *corev1.Pod, 4096)
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { q <- o.(*corev1.Pod) },
		UpdateFunc: func(_, o any) { q <- o.(*corev1.Pod) },
	}); err != nil {
		cancel()
		t.Fatalf("simulated kubelet: %v", err)
	}
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-q:
				k.handle(ctx, p)
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait(); inf.Shutdown() })
	return k
}

func (k *Kubelet) handle(ctx context.Context, p *corev1.Pod) {
	c := k.s.Client.CoreV1().Pods(p.Namespace)
	if p.DeletionTimestamp != nil {
		// A real kubelet stops the containers, then removes the pod.
		_ = c.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		return
	}
	if p.Spec.NodeName == "" {
		node := k.defaultNode
		if p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil || len(p.Spec.NodeSelector) > 0 {
			node = ""
			aff := nodeaffinity.GetRequiredNodeAffinity(p)
			for _, o := range k.nodes.List() {
				if ok, _ := aff.Match(o.(*corev1.Node)); ok {
					node = o.(*corev1.Node).Name
					break
				}
			}
		}
		if node == "" {
			return
		}
		_ = c.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
		return
	}
	if p.Status.Phase != "" && p.Status.Phase != corev1.PodPending {
		return
	}
	k.mu.Lock()
	done := k.handled[p.UID]
	k.handled[p.UID] = true
	k.mu.Unlock()
	if done {
		return
	}
	p = p.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.PodIP = "10.42.0.10"
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	if _, err := c.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		k.mu.Lock()
		delete(k.handled, p.UID)
		k.mu.Unlock()
	}
}

// FinishPod marks a pod Succeeded (exit code 0) or Failed (any other) as
// its kubelet would when its containers end.
func (s *Server) FinishPod(ctx context.Context, ns, name string, exitCode int32) error {
	for {
		p, err := s.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodSucceeded
		if exitCode != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		now := metav1.Now()
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
		var st []corev1.ContainerStatus
		for _, ctr := range p.Spec.Containers {
			st = append(st, corev1.ContainerStatus{Name: ctr.Name, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: now},
			}})
		}
		p.Status.ContainerStatuses = st
		_, err = s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		return err
	}
}

// CreateNode creates node and then writes its status, which a create
// drops, retrying when a controller (pod CIDR, taints) changed the node
// meanwhile. A Ready condition gets a heartbeat of now, as from a live
// kubelet.
func (s *Server) CreateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	status := *node.Status.DeepCopy()
	now := metav1.Now()
	for i := range status.Conditions {
		if c := &status.Conditions[i]; c.Type == corev1.NodeReady {
			c.LastHeartbeatTime, c.LastTransitionTime = now, now
		}
	}
	n, err := s.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	for {
		n.Status = *status.DeepCopy()
		updated, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return updated, err
		}
		if n, err = s.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}
