package agent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Event reasons of upstream's kubelet.
const (
	EventPulling               = "Pulling"
	EventPulled                = "Pulled"
	EventFailed                = "Failed"
	EventBackOff               = "BackOff"
	EventErrImageNeverPull     = "ErrImageNeverPull"
	EventCreated               = "Created"
	EventStarted               = "Started"
	EventKilling               = "Killing"
	EventUnhealthy             = "Unhealthy"
	EventFailedPostStartHook   = "FailedPostStartHook"
	EventFailedPreStopHook     = "FailedPreStopHook"
	EventFailedMount           = "FailedMount"
	EventFailedCreateSandbox   = "FailedCreatePodSandBox"
	EventSandboxChanged        = "SandboxChanged"
	eventComponent             = "kubelet"
	reasonFailedPostStartHook  = "FailedPostStartHook"
	messagePostStartHookFailed = "PostStartHook failed"
	messagePreStopHookFailed   = "PreStopHook failed"
)

// newEventBroadcaster returns the broadcaster and recorder of an agent's
// events, from component kubelet on host node; the broadcaster's
// correlator aggregates repeats into counts.
func newEventBroadcaster(node string) (record.EventBroadcaster, record.EventRecorder) {
	b := record.NewBroadcaster()
	return b, b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: eventComponent, Host: node})
}

// startEvents sends recorded events to the API until stopEvents.
func (a *Agent) startEvents() {
	if a.broadcaster != nil {
		a.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cfg.Client.CoreV1().Events("")})
	}
}

func (a *Agent) stopEvents() {
	if a.broadcaster != nil {
		a.broadcaster.Shutdown()
	}
}

// podEvent records an event about the pod.
func (a *Agent) podEvent(pod *corev1.Pod, eventType, reason, msg string) {
	if a.recorder == nil || pod == nil {
		return
	}
	a.recorder.Event(pod, eventType, reason, msg)
}

// containerEvent records an event about one container of the pod, with
// the field path upstream gives it (spec.containers{name}).
func (a *Agent) containerEvent(pod *corev1.Pod, container, eventType, reason, msg string) {
	if a.recorder == nil || pod == nil {
		return
	}
	a.recorder.Event(containerRef(pod, container), eventType, reason, msg)
}

// containerRef is the object reference of a container of pod.
func containerRef(pod *corev1.Pod, container string) *corev1.ObjectReference {
	field := "spec.containers{" + container + "}"
	if specContainer(pod.Spec.InitContainers, container) != nil {
		field = "spec.initContainers{" + container + "}"
	}
	return &corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
		ResourceVersion: pod.ResourceVersion, FieldPath: field,
	}
}
