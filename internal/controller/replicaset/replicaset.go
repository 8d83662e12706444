package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// burstReplicas caps the creations or deletions of one sync, so that a
// huge scale-up does not starve other owners of workers.
const burstReplicas = 500

// Controller reconciles one owner kind's pods.
type Controller struct {
	kind         kind
	client       kubernetes.Interface
	pods         cache.SharedIndexInformer
	events       events.EventRecorder
	clock        clock.PassiveClock
	loop         *reconcile.Loop
	expectations *reconcile.Expectations
}

var _ controller.Controller = (*Controller)(nil)

// NewReplicaSets is the Constructor of the ReplicaSet controller.
func NewReplicaSets(cc controller.Context) (controller.Controller, error) {
	return newController(cc, newReplicaSets(cc), "replicaset")
}

// NewReplicationControllers is the Constructor of the
// ReplicationController controller.
func NewReplicationControllers(cc controller.Context) (controller.Controller, error) {
	return newController(cc, newReplicationControllers(cc), "replicationcontroller")
}

func newController(cc controller.Context, k kind, name string) (*Controller, error) {
	c := &Controller{
		kind:         k,
		client:       cc.Client,
		pods:         cc.Informers.Core().V1().Pods().Informer(),
		events:       cc.Events,
		clock:        cc.Clock,
		expectations: reconcile.NewExpectations(cc.Clock),
	}
	c.loop = reconcile.NewLoop(name, cc.Clock, cc.Logger, c.sync)
	c.loop.WaitFor(k.informer().HasSynced, c.pods.HasSynced)
	if err := reconcile.AddClaimIndexes(c.pods); err != nil {
		return nil, fmt.Errorf("new %s controller: %w", name, err)
	}
	_, err := k.informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueOwner,
		UpdateFunc: func(_, obj any) {
			c.enqueueOwner(obj)
		},
		DeleteFunc: func(obj any) {
			key := reconcile.KeyOf(obj)
			c.expectations.Forget(key)
			c.loop.Add(key)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("new %s controller: %w", name, err)
	}
	_, err = c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	if err != nil {
		return nil, fmt.Errorf("new %s controller: %w", name, err)
	}
	return c, nil
}

// Run implements controller.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return c.loop.Run(ctx, workers)
}

func (c *Controller) enqueueOwner(obj any) {
	if key := reconcile.KeyOf(obj); key != "" {
		c.loop.Add(key)
	}
}

// ownerOf resolves a pod's controllerRef to one of our owners.
func (c *Controller) ownerOf(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref == nil || ref.Kind != c.kind.kindName() {
		return nil
	}
	rs, err := c.kind.get(namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// enqueueMatching wakes every owner whose selector matches an orphan pod,
// so that one of them adopts it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	owners, _ := c.kind.list(pod.Namespace)
	for _, rs := range owners {
		if selectorOf(rs).Matches(labels.Set(pod.Labels)) {
			c.loop.Add(rs.Namespace + "/" + rs.Name)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if rs := c.ownerOf(pod.Namespace, ref); rs != nil {
			key := rs.Namespace + "/" + rs.Name
			c.expectations.CreationObserved(key, pod.Name)
			c.loop.Add(key)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, newObj any) {
	oldPod, pod := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if oldPod.ResourceVersion == pod.ResourceVersion {
		return
	}
	if pod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		// A graceful delete: the owner may create a replacement now.
		c.deletePod(pod)
	}
	oldRef, ref := metav1.GetControllerOfNoCopy(oldPod), metav1.GetControllerOfNoCopy(pod)
	if oldRef != nil && (ref == nil || oldRef.UID != ref.UID) {
		if rs := c.ownerOf(oldPod.Namespace, oldRef); rs != nil {
			c.loop.Add(rs.Namespace + "/" + rs.Name)
		}
	}
	if ref != nil {
		if rs := c.ownerOf(pod.Namespace, ref); rs != nil {
			c.loop.Add(rs.Namespace + "/" + rs.Name)
		}
		return
	}
	if !apiequality.Semantic.DeepEqual(oldPod.Labels, pod.Labels) || oldRef != nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := reconcile.Tombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	if rs := c.ownerOf(pod.Namespace, metav1.GetControllerOfNoCopy(pod)); rs != nil {
		key := rs.Namespace + "/" + rs.Name
		c.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
		c.loop.Add(key)
	}
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	rs, err := c.kind.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.expectations.Forget(key)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	satisfied := c.expectations.Satisfied(key)
	active, err := c.claimPods(ctx, rs)
	if err != nil {
		return reconcile.Result{}, err
	}
	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, key, rs, active)
	}
	now := c.clock.Now()
	st := calculateStatus(rs, active, manageErr, now)
	if !apiequality.Semantic.DeepEqual(st, rs.Status) {
		if err := c.kind.updateStatus(ctx, rs, st); err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, errors.Join(manageErr, fmt.Errorf("update %s status %s: %w", c.kind.kindName(), key, err))
		}
	}
	if manageErr != nil {
		return reconcile.Result{}, manageErr
	}
	// A pod becomes available minReadySeconds after it turned ready, with
	// no event to say so.
	return reconcile.Result{RequeueAfter: nextAvailableCheck(rs, active, now)}, nil
}

// claimPods adopts matching orphans, releases owned pods that stopped
// matching and returns the active pods the owner keeps.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	// The pods Claim may keep, adopt or release: not every pod of the
	// namespace.
	objs, err := reconcile.ClaimCandidates(c.pods.GetIndexer(), rs.Namespace, rs.UID, rs.Spec.Selector)
	if err != nil {
		return nil, err
	}
	sel := selectorOf(rs)
	var (
		active []*corev1.Pod
		errs   []error
	)
	ref := reconcile.ControllerRef(rs, c.kind.apiVersion(), c.kind.kindName())
	for _, pod := range objs {
		switch reconcile.Claim(rs, sel, pod) {
		case reconcile.Keep:
		case reconcile.Adopt:
			if !isActive(pod) {
				continue
			}
			_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, reconcile.AdoptPatch(ref, pod.UID), metav1.PatchOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("adopt pod %s: %w", pod.Name, err))
				}
				continue
			}
		case reconcile.Release:
			_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, reconcile.ReleasePatch(rs.UID, pod.UID), metav1.PatchOptions{})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				errs = append(errs, fmt.Errorf("release pod %s: %w", pod.Name, err))
			}
			continue
		default:
			continue
		}
		if isActive(pod) {
			active = append(active, pod)
		}
	}
	return active, errors.Join(errs...)
}

// manage creates or deletes pods to match replicas.
func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, active []*corev1.Pod) error {
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	diff := len(active) - int(want)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expectations.ExpectCreations(key, n)
		pod := c.podFromTemplate(rs)
		created, err := reconcile.SlowStart(n, func(int) error {
			_, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{})
			if err != nil && reconcile.NamespaceTerminating(err) {
				return nil
			}
			return err
		})
		// Creations never issued or failed will never be observed.
		for range n - created {
			c.expectations.CreationObserved(key, "")
		}
		if err != nil {
			c.events.Eventf(rs, nil, corev1.EventTypeWarning, "FailedCreate", "Create", "Error creating: %v", err)
			return fmt.Errorf("create pods for %s: %w", key, err)
		}
		if created > 0 {
			c.events.Eventf(rs, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "Created %d pods", created)
		}
	case diff > 0:
		victims := podsToDelete(active, min(diff, burstReplicas))
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.expectations.ExpectDeletions(key, keys)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, p := range victims {
			wg.Go(func() {
				err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
				if err != nil {
					c.expectations.DeletionObserved(key, p.Namespace+"/"+p.Name)
					if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("delete pod %s: %w", p.Name, err))
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			c.events.Eventf(rs, nil, corev1.EventTypeWarning, "FailedDelete", "Delete", "Error deleting: %v", err)
			return err
		}
		c.events.Eventf(rs, nil, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "Deleted %d pods", len(victims))
	}
	return nil
}

// podFromTemplate returns the pod the owner creates.
func (c *Controller) podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{reconcile.ControllerRef(rs, c.kind.apiVersion(), c.kind.kindName())},
		},
		Spec: t.Spec,
	}
	return pod
}
