package agent

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestComputeStatus(t *testing.T) {
	now := t0.Add(time.Hour)
	nowT := metav1.NewTime(now)
	sb := readySandbox()
	in := statusInput{RuntimeName: "sim", HostIPs: []string{"192.168.1.5"}, Now: now}
	type conds map[corev1.PodConditionType]string // type -> "True"/"False:Reason"
	tests := []struct {
		name     string
		pod      *corev1.Pod
		obs      Observed
		phase    corev1.PodPhase
		conds    conds
		states   map[string]string // container -> state summary
		restarts map[string]int32
		ready    map[string]bool
		podIP    string
	}{
		{
			name:   "nothing yet: Pending, ContainerCreating",
			pod:    testPod("p").containers("c").obj(),
			phase:  corev1.PodPending,
			conds:  conds{corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"c": "waiting:ContainerCreating"},
		},
		{
			name:   "env cannot be built: CreateContainerConfigError",
			pod:    testPod("p").containers("c", "d").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("d", 0)}, Waiting: map[string]corev1.ContainerStateWaiting{"c": {Reason: ReasonCreateContainerConfigError, Message: `configmap "x" not found`}}},
			phase:  corev1.PodPending,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"c": "waiting:CreateContainerConfigError", "d": "running"},
			ready:  map[string]bool{"d": true},
			podIP:  "10.0.0.2",
		},
		{
			name:   "init running: PodInitializing",
			pod:    testPod("p").init("i").containers("c").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("i", 0)}},
			phase:  corev1.PodPending,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "False:ContainersNotInitialized", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"i": "running", "c": "waiting:PodInitializing"},
			podIP:  "10.0.0.2",
		},
		{
			name:   "all running: Running and Ready",
			pod:    testPod("p").init("i").containers("c").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i", 0, 0, t0), running("c", 0)}},
			phase:  corev1.PodRunning,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "True", corev1.PodReady: "True"},
			states: map[string]string{"i": "terminated:Completed:0", "c": "running"},
			ready:  map[string]bool{"i": true, "c": true},
			podIP:  "10.0.0.2",
		},
		{
			name:   "readiness probe not passed yet: not Ready",
			pod:    testPod("p").containers("c").readiness("c").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)}},
			phase:  corev1.PodRunning,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"c": "running"},
			podIP:  "10.0.0.2",
		},
		{
			name:   "readiness probe passed: Ready",
			pod:    testPod("p").containers("c").readiness("c").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("c", 0)}, Probes: map[string]ProbeState{"c": {ContainerID: "c-0", Ready: true, Started: true}}},
			phase:  corev1.PodRunning,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "True", corev1.PodReady: "True"},
			states: map[string]string{"c": "running"},
			ready:  map[string]bool{"c": true},
			podIP:  "10.0.0.2",
		},
		{
			name:     "crash looping: waiting CrashLoopBackOff, still Running",
			pod:      testPod("p").containers("c").obj(),
			obs:      Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 1, now.Add(-time.Hour)), exited("c", 1, 1, now.Add(-time.Second))}},
			phase:    corev1.PodRunning,
			conds:    conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states:   map[string]string{"c": "waiting:CrashLoopBackOff"},
			restarts: map[string]int32{"c": 1},
			podIP:    "10.0.0.2",
		},
		{
			name:   "Never, exited 0 with the sandbox stopped: Succeeded, PodCompleted",
			pod:    testPod("p").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:    Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady, IPs: []string{"10.0.0.2"}}}, Containers: []Container{exited("c", 0, 0, now)}},
			phase:  corev1.PodSucceeded,
			conds:  conds{corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True", corev1.ContainersReady: "False:PodCompleted", corev1.PodReady: "False:PodCompleted"},
			states: map[string]string{"c": "terminated:Completed:0"},
			podIP:  "10.0.0.2",
		},
		{
			name:   "Never, exit code 3: Failed with the code",
			pod:    testPod("p").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 3, now)}},
			phase:  corev1.PodFailed,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"c": "terminated:Error:3"},
			podIP:  "10.0.0.2",
		},
		{
			name:   "Never, failed init container: Failed",
			pod:    testPod("p").init("i").containers("c").restart(corev1.RestartPolicyNever).obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("i", 0, 2, now)}},
			phase:  corev1.PodFailed,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "False:ContainersNotInitialized", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"i": "terminated:Error:2", "c": "waiting:PodInitializing"},
			podIP:  "10.0.0.2",
		},
		{
			name:     "OnFailure, failed once then running: Running, restart counted",
			pod:      testPod("p").containers("c").restart(corev1.RestartPolicyOnFailure).obj(),
			obs:      Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{exited("c", 0, 1, t0), running("c", 1)}},
			phase:    corev1.PodRunning,
			conds:    conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "True", corev1.PodReady: "True"},
			states:   map[string]string{"c": "running"},
			restarts: map[string]int32{"c": 1},
			ready:    map[string]bool{"c": true},
			podIP:    "10.0.0.2",
		},
		{
			name:   "sidecar running, container running: Ready counts the sidecar",
			pod:    testPod("p").sidecar("s").containers("c").obj(),
			obs:    Observed{Sandboxes: []Sandbox{sb}, Containers: []Container{running("s", 0), running("c", 0)}},
			phase:  corev1.PodRunning,
			conds:  conds{corev1.PodReadyToStartContainers: "True", corev1.PodInitialized: "True", corev1.ContainersReady: "True", corev1.PodReady: "True"},
			states: map[string]string{"s": "running", "c": "running"},
			ready:  map[string]bool{"s": true, "c": true},
			podIP:  "10.0.0.2",
		},
		{
			name:   "deleted and all killed: Failed",
			pod:    testPod("p").containers("c").deleting(0).obj(),
			obs:    Observed{Sandboxes: []Sandbox{{ID: "sb0", State: SandboxNotReady, IPs: []string{"10.0.0.2"}}}, Containers: []Container{exited("c", 0, 137, now)}},
			phase:  corev1.PodFailed,
			conds:  conds{corev1.PodReadyToStartContainers: "False", corev1.PodInitialized: "True", corev1.ContainersReady: "False:ContainersNotReady", corev1.PodReady: "False:ContainersNotReady"},
			states: map[string]string{"c": "terminated:Error:137"},
			podIP:  "10.0.0.2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := computeStatus(tt.pod, tt.obs, in)
			if st.Phase != tt.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tt.phase)
			}
			gotConds := conds{}
			for _, c := range st.Conditions {
				s := string(c.Status)
				if c.Reason != "" && c.Status == corev1.ConditionFalse {
					s += ":" + c.Reason
				}
				gotConds[c.Type] = s
				if c.LastTransitionTime != nowT {
					t.Errorf("condition %s: lastTransitionTime %v, want now", c.Type, c.LastTransitionTime)
				}
			}
			if diff := cmp.Diff(tt.conds, gotConds); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			gotStates, gotRestarts, gotReady := map[string]string{}, map[string]int32{}, map[string]bool{}
			for _, cs := range append(append([]corev1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
				gotStates[cs.Name] = stateSummary(cs.State)
				if cs.RestartCount != 0 {
					gotRestarts[cs.Name] = cs.RestartCount
				}
				if cs.Ready {
					gotReady[cs.Name] = true
				}
			}
			if diff := cmp.Diff(tt.states, gotStates); diff != "" {
				t.Errorf("container states (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.restarts, gotRestarts, cmpEmpty); diff != "" {
				t.Errorf("restart counts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.ready, gotReady, cmpEmpty); diff != "" {
				t.Errorf("ready (-want +got):\n%s", diff)
			}
			if st.PodIP != tt.podIP {
				t.Errorf("podIP = %q, want %q", st.PodIP, tt.podIP)
			}
			if st.HostIP != "192.168.1.5" || st.QOSClass != corev1.PodQOSBestEffort || st.StartTime == nil {
				t.Errorf("hostIP %q qosClass %q startTime %v: want 192.168.1.5, BestEffort, set", st.HostIP, st.QOSClass, st.StartTime)
			}
		})
	}
}

var cmpEmpty = cmpopts.EquateEmpty()

func stateSummary(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return "terminated:" + s.Terminated.Reason + ":" + itoa(s.Terminated.ExitCode)
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	}
	return ""
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestComputeStatusKeepsOthersConditionsAndTransitionTimes(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	old := metav1.NewTime(t0)
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: old},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: old},
	}
	pod.Status.QOSClass = corev1.PodQOSGuaranteed
	obs := Observed{Sandboxes: []Sandbox{readySandbox()}, Containers: []Container{running("c", 0)}}
	st := computeStatus(pod, obs, statusInput{RuntimeName: "sim", Now: t0.Add(time.Hour)})
	got := map[corev1.PodConditionType]metav1.Time{}
	var order []corev1.PodConditionType
	for _, c := range st.Conditions {
		got[c.Type] = c.LastTransitionTime
		order = append(order, c.Type)
	}
	want := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("condition order (-want +got):\n%s", diff)
	}
	if got[corev1.PodScheduled] != old || got[corev1.PodReady] != old {
		t.Errorf("unchanged conditions moved their transition times: %v", got)
	}
	if st.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("qosClass = %s, want the API server's Guaranteed", st.QOSClass)
	}
	if cs := st.ContainerStatuses[0]; cs.ContainerID != "sim://c-0" || cs.ImageID != "sha256:x" || cs.Image != "busybox" || !ptr.Deref(cs.Started, false) {
		t.Errorf("container status = %+v", cs)
	}
}

func TestComputeStatusObservedGeneration(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	pod.Generation = 3
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1}}
	obs := Observed{Sandboxes: []Sandbox{readySandbox()}, Containers: []Container{running("c", 0)}}
	st := computeStatus(pod, obs, statusInput{RuntimeName: "sim", Now: t0})
	if st.ObservedGeneration != 3 {
		t.Errorf("status.observedGeneration = %d, want the pod's generation 3", st.ObservedGeneration)
	}
	got := map[corev1.PodConditionType]int64{}
	for _, c := range st.Conditions {
		got[c.Type] = c.ObservedGeneration
	}
	want := map[corev1.PodConditionType]int64{
		corev1.PodReadyToStartContainers: 3, corev1.PodInitialized: 3, corev1.ContainersReady: 3, corev1.PodReady: 3,
		corev1.PodScheduled: 1, // the scheduler's, kept as it wrote it
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conditions' observedGeneration (-want +got):\n%s", diff)
	}
}
