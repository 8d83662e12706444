package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// nodeLeaseNamespace holds the nodes' heartbeat leases.
const nodeLeaseNamespace = "kube-node-lease"

type leaseState struct {
	obj *coordv1.Lease
}

// nodeLabels are the Node's labels: the well-known ones and Config.Labels.
func (a *Agent) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   a.cfg.NodeName,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
	}
	if a.cfg.ControlPlane {
		l[LabelControlPlane] = ""
	}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	return l
}

// nodeAnnotations are the annotations the agent sets on its Node: the
// local-path storage dir.
func (a *Agent) nodeAnnotations() map[string]string {
	if a.cfg.StorageDir == "" {
		return nil
	}
	return map[string]string{StorageDirAnnotation: a.cfg.StorageDir}
}

// nodeStatus is the status the agent reports, heartbeat times set to now.
func (a *Agent) nodeStatus(now time.Time) corev1.NodeStatus {
	a.mu.Lock()
	rtName, rtVer := a.runtimeName, a.runtimeVer
	a.mu.Unlock()
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	st := corev1.NodeStatus{
		Capacity:    a.cfg.Capacity.DeepCopy(),
		Allocatable: a.cfg.Capacity.DeepCopy(),
		Phase:       "",
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			a.readyCondition(cond),
		},
		NodeInfo: corev1.NodeSystemInfo{
			KernelVersion:           a.kernel,
			OSImage:                 a.osImage,
			ContainerRuntimeVersion: rtName + "://" + rtVer,
			KubeletVersion:          kubeletVersion(),
			OperatingSystem:         goruntime.GOOS,
			Architecture:            goruntime.GOARCH,
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.cfg.KubeletPort}},
	}
	for _, ip := range a.cfg.NodeIPs {
		st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.cfg.NodeName})
	if a.cfg.CSI != nil {
		st.VolumesInUse = a.cfg.CSI.InUse()
	}
	return st
}

// register creates the Node, or adopts an existing one: labels merged,
// status rewritten.
func (a *Agent) register(ctx context.Context) error {
	nodes := a.cfg.Client.CoreV1().Nodes()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: a.nodeLabels(), Annotations: a.nodeAnnotations()},
		Status:     a.nodeStatus(a.cfg.Clock.Now()),
	}
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			changed := false
			if created.Labels == nil {
				created.Labels = map[string]string{}
			}
			for k, v := range node.Labels {
				if created.Labels[k] != v {
					created.Labels[k], changed = v, true
				}
			}
			for k, v := range node.Annotations {
				if created.Annotations[k] != v {
					if created.Annotations == nil {
						created.Annotations = map[string]string{}
					}
					created.Annotations[k], changed = v, true
				}
			}
			if changed {
				created, err = nodes.Update(ctx, created, metav1.UpdateOptions{})
			}
		}
	}
	if err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	a.mu.Lock()
	a.nodeUID = created.UID
	if created.Spec.PodCIDR != "" {
		a.podCIDR = created.Spec.PodCIDR
	}
	a.mu.Unlock()
	return a.writeNodeStatus(ctx, created)
}

// syncNodeStatus writes the Node status when it changed, or when force or
// StatusInterval since the last write ask for a heartbeat anyway.
func (a *Agent) syncNodeStatus(ctx context.Context, force bool) error {
	a.mu.Lock()
	cidr, applied := a.podCIDR, a.cidrApplied
	a.mu.Unlock()
	if cidr != applied {
		if err := a.cfg.Runtime.UpdatePodCIDR(ctx, cidr); err != nil {
			return fmt.Errorf("update pod cidr: %w", err)
		}
		a.mu.Lock()
		a.cidrApplied = cidr
		a.mu.Unlock()
	}
	now := a.cfg.Clock.Now()
	st := a.nodeStatus(now)
	a.mu.Lock()
	due := force || a.lastNode == nil || now.Sub(a.lastNodeAt) >= a.cfg.StatusInterval || !sameNodeStatus(a.lastNode, &st)
	a.mu.Unlock()
	if !due {
		return nil
	}
	node, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return a.register(ctx)
	}
	if err != nil {
		return fmt.Errorf("get node: %w", err)
	}
	return a.writeNodeStatus(ctx, node)
}

func (a *Agent) writeNodeStatus(ctx context.Context, node *corev1.Node) error {
	now := a.cfg.Clock.Now()
	st := a.nodeStatus(now)
	// Transition times move only when a condition's status does.
	for i := range st.Conditions {
		c := &st.Conditions[i]
		for _, old := range node.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	st.Images, st.VolumesAttached = node.Status.Images, node.Status.VolumesAttached
	if a.cfg.CSI == nil {
		st.VolumesInUse = node.Status.VolumesInUse
	}
	node = node.DeepCopy()
	node.Status = st
	if _, err := a.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update node status: %w", err)
	}
	a.mu.Lock()
	a.lastNode, a.lastNodeAt = &st, now
	a.mu.Unlock()
	return nil
}

// sameNodeStatus compares two statuses ignoring heartbeat times.
func sameNodeStatus(a, b *corev1.NodeStatus) bool {
	strip := func(s *corev1.NodeStatus) *corev1.NodeStatus {
		s = s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		return s
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// renewLease creates or renews the node's Lease in kube-node-lease.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.cfg.Client.CoordinationV1().Leases(nodeLeaseNamespace)
	now := metav1.NewMicroTime(a.cfg.Clock.Now())
	a.mu.Lock()
	l := a.lease.obj
	uid := a.nodeUID
	a.mu.Unlock()
	var err error
	if l != nil {
		l = l.DeepCopy()
		l.Spec.RenewTime = &now
		l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			l.ManagedFields = nil // not needed to renew; thousands of sim nodes keep one each
			a.mu.Lock()
			a.lease.obj = l
			a.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renew lease: %w", err)
		}
	}
	l, err = leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: nodeLeaseNamespace},
			Spec: coordv1.LeaseSpec{
				HolderIdentity:       ptr.To(a.cfg.NodeName),
				LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)),
				RenewTime:            &now,
			},
		}
		if uid != "" {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName, UID: uid}}
		}
		l, err = leases.Create(ctx, l, metav1.CreateOptions{})
	case err == nil:
		l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
		l.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration / time.Second))
		l.Spec.RenewTime = &now
		l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	l.ManagedFields = nil
	a.mu.Lock()
	a.lease.obj = l
	a.mu.Unlock()
	return nil
}

// jitter returns a random duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// readyCondition is Ready, or NotReady while the pod network is not set up.
func (a *Agent) readyCondition(cond func(corev1.NodeConditionType, corev1.ConditionStatus, string, string) corev1.NodeCondition) corev1.NodeCondition {
	if !a.networkReady() {
		return cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady",
			"container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized")
	}
	return cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
}
