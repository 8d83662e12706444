package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller"
)

// kind adapts one owner kind (ReplicaSet or ReplicationController) to the
// shared logic, which only ever sees *appsv1.ReplicaSet.
type kind interface {
	// apiVersion and name are the owner's type for controllerRefs.
	apiVersion() string
	kindName() string
	informer() cache.SharedIndexInformer
	// get returns the owner from the cache, converted; NotFound when gone.
	get(namespace, name string) (*appsv1.ReplicaSet, error)
	// list returns all owners of namespace, converted.
	list(namespace string) ([]*appsv1.ReplicaSet, error)
	// convert turns an informer object into the shared form.
	convert(obj any) (*appsv1.ReplicaSet, bool)
	// updateStatus writes status to the owner named by rs.
	updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) error
}

type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
}

func newReplicaSets(cc controller.Context) *replicaSets {
	return &replicaSets{client: cc.Client, inf: cc.Informers.Apps().V1().ReplicaSets().Informer()}
}

func (k *replicaSets) apiVersion() string                  { return "apps/v1" }
func (k *replicaSets) kindName() string                    { return "ReplicaSet" }
func (k *replicaSets) informer() cache.SharedIndexInformer { return k.inf }

func (k *replicaSets) get(ns, name string) (*appsv1.ReplicaSet, error) {
	obj, ok, err := k.inf.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(appsv1.Resource("replicasets"), name)
	}
	return obj.(*appsv1.ReplicaSet), nil
}

func (k *replicaSets) list(ns string) ([]*appsv1.ReplicaSet, error) {
	objs, err := k.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	out := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*appsv1.ReplicaSet))
	}
	return out, err
}

func (k *replicaSets) convert(obj any) (*appsv1.ReplicaSet, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	return rs, ok
}

func (k *replicaSets) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) error {
	c := rs.DeepCopy()
	c.Status = status
	_, err := k.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{})
	return err
}

type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
}

func newReplicationControllers(cc controller.Context) *replicationControllers {
	return &replicationControllers{client: cc.Client, inf: cc.Informers.Core().V1().ReplicationControllers().Informer()}
}

func (k *replicationControllers) apiVersion() string                  { return "v1" }
func (k *replicationControllers) kindName() string                    { return "ReplicationController" }
func (k *replicationControllers) informer() cache.SharedIndexInformer { return k.inf }

func (k *replicationControllers) get(ns, name string) (*appsv1.ReplicaSet, error) {
	obj, ok, err := k.inf.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("replicationcontrollers"), name)
	}
	return fromRC(obj.(*corev1.ReplicationController)), nil
}

func (k *replicationControllers) list(ns string) ([]*appsv1.ReplicaSet, error) {
	objs, err := k.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	out := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		out = append(out, fromRC(o.(*corev1.ReplicationController)))
	}
	return out, err
}

func (k *replicationControllers) convert(obj any) (*appsv1.ReplicaSet, bool) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, false
	}
	return fromRC(rc), true
}

func (k *replicationControllers) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) error {
	obj, ok, err := k.inf.GetIndexer().GetByKey(rs.Namespace + "/" + rs.Name)
	if err != nil || !ok {
		return err
	}
	rc := obj.(*corev1.ReplicationController).DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas: status.Replicas, FullyLabeledReplicas: status.FullyLabeledReplicas,
		ReadyReplicas: status.ReadyReplicas, AvailableReplicas: status.AvailableReplicas,
		ObservedGeneration: status.ObservedGeneration,
	}
	for _, c := range status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	_, err = k.client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	return err
}

// fromRC presents a ReplicationController as a ReplicaSet: its map
// selector becomes matchLabels (an RC without one selects by its
// template's labels, which the API server defaults in).
func fromRC(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	sel := rc.Spec.Selector
	if len(sel) == 0 && rc.Spec.Template != nil {
		sel = rc.Spec.Template.Labels
	}
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: sel},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas: rc.Status.Replicas, FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas: rc.Status.ReadyReplicas, AvailableReplicas: rc.Status.AvailableReplicas,
			ObservedGeneration: rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

// selectorOf returns the owner's selector; a nil or invalid one selects nothing.
func selectorOf(rs *appsv1.ReplicaSet) labels.Selector {
	if rs.Spec.Selector == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		return labels.Nothing()
	}
	return sel
}
