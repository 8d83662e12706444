package server_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// notReadyLabel keeps a pod Running but not Ready under fakeKubelet.
const notReadyLabel = "test.skiff.dev/not-ready"

// fakeKubelet plays scheduler and kubelet for controller tests: it binds
// pending pods to a fake node, then reports them Running with a unique pod
// IP, Ready unless labelled notReadyLabel=true, and removes pods that are
// being deleted as a kubelet would after their containers stopped.
type fakeKubelet struct {
	client kubernetes.Interface
	node   string
	pods   cache.SharedIndexInformer
	queue  workqueue.TypedInterface[string]
	nextIP atomic.Uint32
}

// startFakeKubelet runs a fakeKubelet with workers until t ends.
func startFakeKubelet(tb testing.TB, client kubernetes.Interface, node string, workers int) *fakeKubelet {
	tb.Helper()
	k := &fakeKubelet{client: client, node: node, queue: workqueue.NewTyped[string]()}
	f := informers.NewSharedInformerFactory(client, 0)
	k.pods = f.Core().V1().Pods().Informer()
	enqueue := func(o any) {
		if key, err := cache.MetaNamespaceKeyFunc(o); err == nil {
			k.queue.Add(key)
		}
	}
	k.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }})
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				key, quit := k.queue.Get()
				if quit {
					return
				}
				if err := k.handle(ctx, key); err != nil && ctx.Err() == nil {
					k.queue.Add(key)
				}
				k.queue.Done(key)
			}
		})
	}
	tb.Cleanup(func() {
		cancel()
		k.queue.ShutDown()
		wg.Wait()
		f.Shutdown()
	})
	return k
}

func (k *fakeKubelet) handle(ctx context.Context, key string) error {
	obj, ok, err := k.pods.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return err
	}
	p := obj.(*corev1.Pod)
	c := k.client.CoreV1().Pods(p.Namespace)
	switch {
	case p.DeletionTimestamp != nil:
		zero := int64(0)
		err := c.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
		return ignoreGone(err)
	case p.Spec.NodeName == "":
		err := c.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: k.node},
		}, metav1.CreateOptions{})
		return ignoreGone(err)
	}
	want := p.Labels[notReadyLabel] != "true"
	if p.Status.Phase == corev1.PodRunning && isReady(p) == want {
		return nil
	}
	p = p.DeepCopy()
	now := metav1.Now()
	if p.Status.Phase != corev1.PodRunning {
		n := k.nextIP.Add(1)
		p.Status.Phase = corev1.PodRunning
		p.Status.StartTime = &now
		p.Status.PodIP = fmt.Sprintf("10.42.%d.%d", n/250, n%250+2)
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	status := corev1.ConditionFalse
	if want {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
	}
	_, err = c.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return ignoreGone(err)
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
