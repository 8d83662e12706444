package testobj

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Image is the image of a builder's containers unless one is given.
const Image = "skiff/pause:1"

// Namespace is the namespace of namespaced builders unless one is given.
const Namespace = "default"

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace}
}

func addLabels(dst *map[string]string, kv []string) {
	if len(kv)%2 != 0 {
		panic("testobj: labels come in key, value pairs")
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	for i := 0; i < len(kv); i += 2 {
		(*dst)[kv[i]] = kv[i+1]
	}
}

// Resources parses alternating names and quantities: "cpu", "100m", "memory", "1Gi".
func Resources(kv ...string) corev1.ResourceList {
	if len(kv)%2 != 0 {
		panic("testobj: resources come in name, quantity pairs")
	}
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

// PodBuilder builds a Pod.
type PodBuilder struct{ p corev1.Pod }

// Pod starts a pod in Namespace with one container "c" of Image and no
// termination grace period.
func Pod(name string) *PodBuilder {
	return &PodBuilder{corev1.Pod{
		ObjectMeta: objectMeta(name),
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "c", Image: Image}},
		},
	}}
}

// Namespace sets the namespace.
func (b *PodBuilder) Namespace(ns string) *PodBuilder { b.p.Namespace = ns; return b }

// Grace sets the termination grace period. A pod's is 0 unless set: the
// API server then deletes it at once, with no node to wait for.
func (b *PodBuilder) Grace(seconds int64) *PodBuilder {
	b.p.Spec.TerminationGracePeriodSeconds = &seconds
	return b
}

// Node binds the pod to a node (spec.nodeName).
func (b *PodBuilder) Node(name string) *PodBuilder { b.p.Spec.NodeName = name; return b }

// Labels adds labels, as key, value pairs.
func (b *PodBuilder) Labels(kv ...string) *PodBuilder { addLabels(&b.p.Labels, kv); return b }

// Annotations adds annotations, as key, value pairs.
func (b *PodBuilder) Annotations(kv ...string) *PodBuilder {
	addLabels(&b.p.Annotations, kv)
	return b
}

// Image sets the image of every container.
func (b *PodBuilder) Image(image string) *PodBuilder {
	for i := range b.p.Spec.Containers {
		b.p.Spec.Containers[i].Image = image
	}
	return b
}

// Containers replaces the containers with one per name, of Image.
func (b *PodBuilder) Containers(names ...string) *PodBuilder {
	b.p.Spec.Containers = nil
	for _, n := range names {
		b.p.Spec.Containers = append(b.p.Spec.Containers, corev1.Container{Name: n, Image: Image})
	}
	return b
}

// InitContainer adds an init container.
func (b *PodBuilder) InitContainer(name, image string) *PodBuilder {
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, corev1.Container{Name: name, Image: image})
	return b
}

// Req sets the resource requests of the first container, as name,
// quantity pairs.
func (b *PodBuilder) Req(kv ...string) *PodBuilder {
	b.p.Spec.Containers[0].Resources.Requests = Resources(kv...)
	return b
}

// ReadinessTCP gives the last container a TCP readiness probe on port,
// every second.
func (b *PodBuilder) ReadinessTCP(port int32) *PodBuilder {
	c := &b.p.Spec.Containers[len(b.p.Spec.Containers)-1]
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
		PeriodSeconds: 1,
	}
	return b
}

// RestartPolicy sets the restart policy.
func (b *PodBuilder) RestartPolicy(p corev1.RestartPolicy) *PodBuilder {
	b.p.Spec.RestartPolicy = p
	return b
}

// Toleration adds a toleration of key=value with the effect.
func (b *PodBuilder) Toleration(key, value string, effect corev1.TaintEffect) *PodBuilder {
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, corev1.Toleration{
		Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: effect})
	return b
}

// NodeSelector adds node selector terms, as key, value pairs.
func (b *PodBuilder) NodeSelector(kv ...string) *PodBuilder {
	addLabels(&b.p.Spec.NodeSelector, kv)
	return b
}

// SchedulerName sets the scheduler.
func (b *PodBuilder) SchedulerName(name string) *PodBuilder {
	b.p.Spec.SchedulerName = name
	return b
}

// Priority sets the priority.
func (b *PodBuilder) Priority(p int32) *PodBuilder { b.p.Spec.Priority = &p; return b }

// Phase sets the status phase.
func (b *PodBuilder) Phase(p corev1.PodPhase) *PodBuilder { b.p.Status.Phase = p; return b }

// Owner adds a controller owner reference.
func (b *PodBuilder) Owner(apiVersion, kind, name, uid string) *PodBuilder {
	b.p.OwnerReferences = append(b.p.OwnerReferences, metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)})
	return b
}

// Obj returns the pod.
func (b *PodBuilder) Obj() *corev1.Pod { return &b.p }

// NodeBuilder builds a Node.
type NodeBuilder struct{ n corev1.Node }

// Node starts a node labelled with its host name, with no capacity and
// no conditions.
func Node(name string) *NodeBuilder {
	return &NodeBuilder{corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}}
}

// Labels adds labels, as key, value pairs.
func (b *NodeBuilder) Labels(kv ...string) *NodeBuilder { addLabels(&b.n.Labels, kv); return b }

// Capacity sets capacity and allocatable to cpu, memory and 110 pods.
func (b *NodeBuilder) Capacity(cpu, memory string) *NodeBuilder {
	rl := Resources("cpu", cpu, "memory", memory, "pods", "110")
	b.n.Status.Capacity, b.n.Status.Allocatable = rl, rl.DeepCopy()
	return b
}

// Ready adds the condition Ready=True.
func (b *NodeBuilder) Ready() *NodeBuilder {
	b.n.Status.Conditions = append(b.n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue})
	return b
}

// Taint adds a taint.
func (b *NodeBuilder) Taint(key, value string, effect corev1.TaintEffect) *NodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

// Unschedulable cordons the node.
func (b *NodeBuilder) Unschedulable() *NodeBuilder { b.n.Spec.Unschedulable = true; return b }

// InternalIP adds an InternalIP address.
func (b *NodeBuilder) InternalIP(ip string) *NodeBuilder {
	b.n.Status.Addresses = append(b.n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	return b
}

// PodCIDR sets spec.podCIDR.
func (b *NodeBuilder) PodCIDR(cidr string) *NodeBuilder { b.n.Spec.PodCIDR = cidr; return b }

// Obj returns the node.
func (b *NodeBuilder) Obj() *corev1.Node { return &b.n }

// DeploymentBuilder builds a Deployment.
type DeploymentBuilder struct{ d appsv1.Deployment }

// Deployment starts a deployment of one replica whose pods are labelled
// app=<name> and run one container of Image.
func Deployment(name string) *DeploymentBuilder {
	labels := map[string]string{"app": name}
	return &DeploymentBuilder{appsv1.Deployment{
		ObjectMeta: objectMeta(name),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}}
}

// Replicas sets the replica count.
func (b *DeploymentBuilder) Replicas(n int32) *DeploymentBuilder { b.d.Spec.Replicas = &n; return b }

// Image sets the image of the pods' containers.
func (b *DeploymentBuilder) Image(image string) *DeploymentBuilder {
	for i := range b.d.Spec.Template.Spec.Containers {
		b.d.Spec.Template.Spec.Containers[i].Image = image
	}
	return b
}

// Namespace sets the namespace.
func (b *DeploymentBuilder) Namespace(ns string) *DeploymentBuilder { b.d.Namespace = ns; return b }

// Obj returns the deployment.
func (b *DeploymentBuilder) Obj() *appsv1.Deployment { return &b.d }

// ReplicaSetBuilder builds a ReplicaSet.
type ReplicaSetBuilder struct{ r appsv1.ReplicaSet }

// ReplicaSet starts a replica set of one replica whose pods are labelled
// app=<name>.
func ReplicaSet(name string) *ReplicaSetBuilder {
	labels := map[string]string{"app": name}
	return &ReplicaSetBuilder{appsv1.ReplicaSet{
		ObjectMeta: objectMeta(name),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}}
}

// Replicas sets the replica count.
func (b *ReplicaSetBuilder) Replicas(n int32) *ReplicaSetBuilder { b.r.Spec.Replicas = &n; return b }

// Obj returns the replica set.
func (b *ReplicaSetBuilder) Obj() *appsv1.ReplicaSet { return &b.r }

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "c", Image: Image}},
		},
	}
}

// ServiceBuilder builds a Service.
type ServiceBuilder struct{ s corev1.Service }

// Service starts a ClusterIP service selecting app=<name>, with no ports.
func Service(name string) *ServiceBuilder {
	return &ServiceBuilder{corev1.Service{
		ObjectMeta: objectMeta(name),
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}},
	}}
}

// Selector replaces the selector, as key, value pairs; none makes a
// service without selector.
func (b *ServiceBuilder) Selector(kv ...string) *ServiceBuilder {
	b.s.Spec.Selector = nil
	if len(kv) > 0 {
		addLabels(&b.s.Spec.Selector, kv)
	}
	return b
}

// Port adds a TCP port named name, forwarding to targetPort.
func (b *ServiceBuilder) Port(name string, port, targetPort int32) *ServiceBuilder {
	b.s.Spec.Ports = append(b.s.Spec.Ports, corev1.ServicePort{
		Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(targetPort)})
	return b
}

// Type sets the service type.
func (b *ServiceBuilder) Type(t corev1.ServiceType) *ServiceBuilder { b.s.Spec.Type = t; return b }

// ClusterIP sets the ClusterIP ("None" for a headless service).
func (b *ServiceBuilder) ClusterIP(ip string) *ServiceBuilder { b.s.Spec.ClusterIP = ip; return b }

// Obj returns the service.
func (b *ServiceBuilder) Obj() *corev1.Service { return &b.s }

// EndpointSliceBuilder builds an IPv4 EndpointSlice.
type EndpointSliceBuilder struct{ e discoveryv1.EndpointSlice }

// EndpointSlice starts a slice of the service, with no endpoints or ports.
func EndpointSlice(name, service string) *EndpointSliceBuilder {
	m := objectMeta(name)
	m.Labels = map[string]string{discoveryv1.LabelServiceName: service}
	return &EndpointSliceBuilder{discoveryv1.EndpointSlice{ObjectMeta: m, AddressType: discoveryv1.AddressTypeIPv4}}
}

// Endpoint adds a ready endpoint on the node.
func (b *EndpointSliceBuilder) Endpoint(ip, node string) *EndpointSliceBuilder {
	ep := discoveryv1.Endpoint{Addresses: []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}
	if node != "" {
		ep.NodeName = ptr.To(node)
	}
	b.e.Endpoints = append(b.e.Endpoints, ep)
	return b
}

// Port adds a TCP port.
func (b *EndpointSliceBuilder) Port(name string, port int32) *EndpointSliceBuilder {
	b.e.Ports = append(b.e.Ports, discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)})
	return b
}

// Obj returns the slice.
func (b *EndpointSliceBuilder) Obj() *discoveryv1.EndpointSlice { return &b.e }

// NamespaceObj returns a namespace.
func NamespaceObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// ConfigMap returns a config map in Namespace with data as key, value pairs.
func ConfigMap(name string, kv ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: objectMeta(name)}
	addLabels(&cm.Data, kv)
	return cm
}
