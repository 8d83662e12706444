package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// errs renders errors as "Type path" for comparison.
func errs(list field.ErrorList) []string {
	var out []string
	for _, e := range list {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func findResource(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("resource %q not found", name)
	return registry.Resource{}
}

func TestDiscovery(t *testing.T) {
	type disc struct {
		Short, Cats, Subs []string
		Namespaced        bool
		Verbs             []string
		Singular, Kind    string
	}
	all := registry.AllVerbs
	want := map[string]disc{
		"pods":                   {[]string{"po"}, []string{"all"}, []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "resize"}, true, all, "pod", "Pod"},
		"services":               {[]string{"svc"}, []string{"all"}, []string{"status", "proxy"}, true, all, "service", "Service"},
		"endpoints":              {[]string{"ep"}, nil, nil, true, all, "endpoints", "Endpoints"},
		"nodes":                  {[]string{"no"}, nil, []string{"status", "proxy"}, false, all, "node", "Node"},
		"namespaces":             {[]string{"ns"}, nil, []string{"status", "finalize"}, false, []string{"create", "delete", "get", "list", "patch", "update", "watch"}, "namespace", "Namespace"},
		"configmaps":             {[]string{"cm"}, nil, nil, true, all, "configmap", "ConfigMap"},
		"secrets":                {nil, nil, nil, true, all, "secret", "Secret"},
		"serviceaccounts":        {[]string{"sa"}, nil, []string{"token"}, true, all, "serviceaccount", "ServiceAccount"},
		"events":                 {[]string{"ev"}, nil, nil, true, all, "event", "Event"},
		"replicationcontrollers": {[]string{"rc"}, []string{"all"}, []string{"status", "scale"}, true, all, "replicationcontroller", "ReplicationController"},
		"persistentvolumes":      {[]string{"pv"}, nil, []string{"status"}, false, all, "persistentvolume", "PersistentVolume"},
		"persistentvolumeclaims": {[]string{"pvc"}, nil, []string{"status"}, true, all, "persistentvolumeclaim", "PersistentVolumeClaim"},
		"resourcequotas":         {[]string{"quota"}, nil, []string{"status"}, true, all, "resourcequota", "ResourceQuota"},
		"limitranges":            {[]string{"limits"}, nil, nil, true, all, "limitrange", "LimitRange"},
		"podtemplates":           {nil, nil, nil, true, all, "podtemplate", "PodTemplate"},
		"componentstatuses":      {[]string{"cs"}, nil, nil, false, []string{"get", "list"}, "componentstatus", "ComponentStatus"},
		"bindings":               {nil, nil, nil, true, []string{"create"}, "binding", "Binding"},
	}
	got := map[string]disc{}
	for _, r := range Resources() {
		verbs := r.Verbs
		if verbs == nil {
			verbs = registry.AllVerbs
		}
		if r.GroupVersion.String() != "v1" {
			t.Errorf("%s: group version %q, want v1", r.Resource, r.GroupVersion)
		}
		got[r.Resource] = disc{r.ShortNames, r.Categories, r.Subresources, r.Namespaced, verbs, r.SingularName, r.Kind}
		// New and NewList must give the kind the resource names.
		if k := fmt.Sprintf("%T", r.New()); k != "*v1."+r.Kind {
			t.Errorf("%s: New gives %s", r.Resource, k)
		}
		if k := fmt.Sprintf("%T", r.NewList()); k != "*v1."+r.Kind+"List" && r.Resource != "bindings" {
			t.Errorf("%s: NewList gives %s", r.Resource, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
}

// Every row must have one cell per column, even for an empty object.
func TestTableShapes(t *testing.T) {
	for _, r := range Resources() {
		s := r.Strategy
		if r.Resource == "bindings" {
			continue // create-only: never listed
		}
		if s.TableRow == nil {
			t.Errorf("%s: no TableRow", r.Resource)
			continue
		}
		obj := r.New()
		if s.Default != nil {
			s.Default(obj)
		}
		if got, want := len(s.TableRow(obj)), len(s.TableColumns); got != want {
			t.Errorf("%s: %d cells for %d columns", r.Resource, got, want)
		}
	}
}

func TestDefaultPodSpec(t *testing.T) {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "web", Image: "nginx",
			Ports:          []corev1.ContainerPort{{ContainerPort: 80}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			ReadinessProbe: nil,
		}},
		Volumes: []corev1.Volume{
			{Name: "a"},
			{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data"}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data:v1"}}},
		},
	}
	DefaultPodSpec(&spec)
	want := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "web", Image: "nginx",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullAlways,
		}},
		Volumes: []corev1.Volume{
			{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptr(int32(420))}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data", PullPolicy: corev1.PullAlways}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "registry.example/data:v1", PullPolicy: corev1.PullIfNotPresent}}},
		},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		TerminationGracePeriodSeconds: ptr(int64(30)),
		SchedulerName:                 "default-scheduler",
		SecurityContext:               &corev1.PodSecurityContext{},
		EnableServiceLinks:            ptr(true),
	}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"localhost:5000/app", corev1.PullAlways},
		{"localhost:5000/app:v1", corev1.PullIfNotPresent},
		{"nginx@sha256:abcd", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:abcd", corev1.PullAlways},
	}
	for _, tt := range tests {
		if got := defaultPullPolicy(tt.image); got != tt.want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", tt.image, got, tt.want)
		}
	}
}

func validPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}},
		},
	}
	DefaultPod(p)
	return p
}

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []string{"FieldValueRequired spec.containers"}},
		{"bad container name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web_1" }, []string{"FieldValueInvalid spec.containers[0].name"}},
		{"no image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []string{"FieldValueRequired spec.containers[0].image"}},
		{"duplicate with init", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "web", Image: "busybox", ImagePullPolicy: "IfNotPresent", TerminationMessagePolicy: "File"}}
		}, []string{"FieldValueDuplicate spec.initContainers[0].name"}},
		{"port out of range", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: "TCP"}, {ContainerPort: 80, Protocol: "ICMP"}}
		}, []string{"FieldValueInvalid spec.containers[0].ports[0].containerPort", "FieldValueNotSupported spec.containers[0].ports[1].protocol"}},
		{"requests above limits", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("-1")},
			}
		}, []string{"FieldValueInvalid spec.containers[0].resources.requests[cpu]", "FieldValueInvalid spec.containers[0].resources.requests[memory]"}},
		{"restart policy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []string{"FieldValueNotSupported spec.restartPolicy"}},
		{"sysctls", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "foo-", Value: "bar"}, {Name: "kernel.shmmax", Value: "1"}, {Name: "safe-and-unsafe", Value: "1"},
				{Name: "bar..", Value: "42"}, {Name: "kernel/shmmax", Value: "2"},
			}}
		}, []string{"FieldValueInvalid spec.securityContext.sysctls[0].name", "FieldValueInvalid spec.securityContext.sysctls[3].name",
			"FieldValueDuplicate spec.securityContext.sysctls[4].name"}},
		{"volumes", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "a", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "b"},
				{Name: "c", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
			}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/a"}, {Name: "zz", MountPath: "/z"}}
		}, []string{
			"FieldValueDuplicate spec.volumes[1].name",
			"FieldValueRequired spec.volumes[2]",
			"FieldValueForbidden spec.volumes[3].emptyDir",
			"FieldValueNotFound spec.containers[0].volumeMounts[1].name",
		}},
		{"image volumes", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1", PullPolicy: corev1.PullNever}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{PullPolicy: corev1.PullAlways}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1", PullPolicy: "Sometimes"}}},
			}
		}, []string{"FieldValueRequired spec.volumes[1].image.reference", "FieldValueNotSupported spec.volumes[2].image.pullPolicy"}},
		{"env", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}, {Name: "my.var-1"}, {Name: ""}}
		}, []string{"FieldValueInvalid spec.containers[0].env[0].name", "FieldValueRequired spec.containers[0].env[2].name"}},
		{"probe handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 1}
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				Exec: &corev1.ExecAction{Command: []string{"true"}}, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)},
			}}
		}, []string{"FieldValueRequired spec.containers[0].livenessProbe", "FieldValueForbidden spec.containers[0].readinessProbe.tcpSocket"}},
		{"ephemeral on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: "IfNotPresent", TerminationMessagePolicy: "File"}}}
		}, []string{"FieldValueForbidden spec.ephemeralContainers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			if diff := cmp.Diff(tt.want, errs(validatePodCreate(p))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []string
	}{
		{"image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: "Exists"})
		}, nil},
		{"port", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}
		}, []string{"FieldValueForbidden spec"}},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b:1", ImagePullPolicy: "IfNotPresent", TerminationMessagePolicy: "File"})
		}, []string{"FieldValueForbidden spec.containers"}},
		{"ads raise", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(100)) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			p := old.DeepCopy()
			tt.mutate(p)
			got := validatePodUpdate(p, old)
			if diff := cmp.Diff(tt.want, errs(got)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if e.Field == "spec" && !strings.Contains(e.Detail, "pod updates may not change fields other than `spec.containers[*].image`") {
					t.Errorf("spec error detail = %q", e.Detail)
				}
			}
		})
	}
}

func TestPodPrepare(t *testing.T) {
	r := findResource(t, "pods")
	p := validPod()
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	p.Status.Phase = corev1.PodRunning
	r.Strategy.Default(p)
	r.Strategy.PrepareForCreate(p)
	if diff := cmp.Diff(corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSGuaranteed}, p.Status); diff != "" {
		t.Errorf("status after create (-want +got):\n%s", diff)
	}
	upd := p.DeepCopy()
	upd.Status.Phase = corev1.PodFailed
	r.Strategy.PrepareForUpdate(upd, p)
	if upd.Status.Phase != corev1.PodPending {
		t.Errorf("update changed status to %s", upd.Status.Phase)
	}
	st := p.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	st.Spec.NodeName = "elsewhere"
	r.Strategy.SubresourceUpdates["status"].Prepare(st, p)
	if st.Status.Phase != corev1.PodRunning || st.Spec.NodeName != "" {
		t.Errorf("status update: phase %s nodeName %q", st.Status.Phase, st.Spec.NodeName)
	}
}

func TestPodQOSClass(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	tests := []struct {
		name string
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"none", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests only", corev1.ResourceRequirements{Requests: rl("cpu", "100m")}, corev1.PodQOSBurstable},
		{"equal", corev1.ResourceRequirements{Requests: rl("cpu", "1", "memory", "1Gi"), Limits: rl("cpu", "1", "memory", "1Gi")}, corev1.PodQOSGuaranteed},
		{"cpu limit only", corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", "1")}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: tt.res}}}}
		if got := PodQOSClass(p); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPodStatusSummary(t *testing.T) {
	now := metav1.Now()
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := func(r string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: r}}
	}
	terminated := func(code int32, r string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: r}}
	}
	two := []corev1.Container{{Name: "a"}, {Name: "b"}}
	tests := []struct {
		name        string
		pod         corev1.Pod
		ready, tot  int
		reason      string
		restarts    int
		lastRestart bool
	}{
		{"pending", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: "Pending"}}, 0, 2, "Pending", 0, false},
		{"running", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: "Running", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "a", Ready: true, State: running}, {Name: "b", Ready: true, State: running}}}}, 2, 2, "Running", 0, false},
		{"crashloop", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: "Running", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "a", Ready: true, State: running},
			{Name: "b", State: waiting("CrashLoopBackOff"), RestartCount: 5, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: now}}}}}},
			1, 2, "CrashLoopBackOff", 5, true},
		{"completed", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1]}, Status: corev1.PodStatus{Phase: "Succeeded", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "a", State: terminated(0, "Completed")}}}}, 0, 1, "Completed", 0, false},
		{"exit code", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1]}, Status: corev1.PodStatus{Phase: "Failed", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "a", State: terminated(2, "")}}}}, 0, 1, "ExitCode:2", 0, false},
		{"init waiting", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: []corev1.Container{{Name: "i1"}, {Name: "i2"}}},
			Status: corev1.PodStatus{Phase: "Pending", InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i1", State: terminated(0, "Completed")}, {Name: "i2", State: waiting("PodInitializing")}}}}, 0, 1, "Init:1/2", 0, false},
		{"init crash", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: []corev1.Container{{Name: "i1"}}},
			Status: corev1.PodStatus{Phase: "Pending", InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "i1", State: waiting("CrashLoopBackOff"), RestartCount: 3}}}}, 0, 1, "Init:CrashLoopBackOff", 3, false},
		{"sidecar counts", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: []corev1.Container{{Name: "s", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}}},
			Status: corev1.PodStatus{Phase: "Running", InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "s", Ready: true, Started: ptr(true), State: running}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}}}, 2, 2, "Running", 0, false},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{Containers: two[:1]},
			Status: corev1.PodStatus{Phase: "Running", ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running}}}}, 1, 1, "Terminating", 0, false},
		{"gated", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1]}, Status: corev1.PodStatus{Phase: "Pending", Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: "False", Reason: corev1.PodReasonSchedulingGated}}}}, 0, 1, "SchedulingGated", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := PodStatusSummary(&tt.pod)
			got := fmt.Sprintf("%d/%d %s %d %v", s.Ready, s.Total, s.Reason, s.Restarts, !s.LastRestart.IsZero())
			want := fmt.Sprintf("%d/%d %s %d %v", tt.ready, tt.tot, tt.reason, tt.restarts, tt.lastRestart)
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestPodRow(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(time.Now().Add(-2 * time.Hour))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}, NodeName: "n1"},
		Status: corev1.PodStatus{Phase: "Running", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}}, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "a", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, RestartCount: 2,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(time.Now().Add(-5 * time.Minute))}},
		}}},
	}
	want := []interface{}{"1/1", "Running", "2 (5m ago)", "120m", "10.42.0.5", "n1", "<none>", "<none>"}
	if diff := cmp.Diff(want, podRow(p)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
}

func TestService(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, NodePort: 30080}},
		},
	}
	DefaultService(svc)
	wantSpec := corev1.ServiceSpec{
		Type:                  corev1.ServiceTypeNodePort,
		Selector:              map[string]string{"app": "web"},
		Ports:                 []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
		SessionAffinity:       corev1.ServiceAffinityNone,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
	}
	if diff := cmp.Diff(wantSpec, svc.Spec); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if e := validateService(svc); len(e) != 0 {
		t.Errorf("valid service: %v", e)
	}
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.43.0.9", []string{"10.43.0.9"}
	row := serviceRow(svc)
	if diff := cmp.Diff([]interface{}{"NodePort", "10.43.0.9", "<none>", "80:30080/TCP"}, row[:4]); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}

	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []string
	}{
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []string{"FieldValueRequired spec.ports"}},
		{"headless no ports", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeClusterIP, ""
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports = "None", []string{"None"}, nil
		}, nil},
		{"unnamed ports", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: "TCP", TargetPort: intstr.FromInt32(443)})
		}, []string{"FieldValueRequired spec.ports[0].name", "FieldValueRequired spec.ports[1].name"}},
		{"bad port", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []string{"FieldValueInvalid spec.ports[0].port"}},
		{"type", func(s *corev1.Service) { s.Spec.Type = "Magic" }, []string{"FieldValueNotSupported spec.type", "FieldValueInvalid spec.externalTrafficPolicy"}},
		{"nodePort on ClusterIP", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeClusterIP, ""
		}, []string{"FieldValueForbidden spec.ports[0].nodePort"}},
		{"selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "bad value"} }, []string{"FieldValueInvalid spec.selector"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := svc.DeepCopy()
			tt.mutate(s)
			if diff := cmp.Diff(tt.want, errs(validateService(s))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}

	// An update without clusterIP keeps the allocated one; changing it fails.
	upd := svc.DeepCopy()
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "", nil
	upd.Spec.Ports[0].NodePort = 0
	prepareServiceUpdate(upd, svc)
	if upd.Spec.ClusterIP != "10.43.0.9" || upd.Spec.Ports[0].NodePort != 30080 {
		t.Errorf("update lost allocations: %q %d", upd.Spec.ClusterIP, upd.Spec.Ports[0].NodePort)
	}
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "10.43.0.10", []string{"10.43.0.10"}
	if diff := cmp.Diff([]string{"FieldValueInvalid spec.clusterIPs[0]"}, errs(validateServiceUpdate(upd, svc))); diff != "" {
		t.Errorf("clusterIP change (-want +got):\n%s", diff)
	}
}

func TestSecretAndConfigMap(t *testing.T) {
	s := &corev1.Secret{StringData: map[string]string{"a": "x"}, Data: map[string][]byte{"a": []byte("old"), "b": []byte("y")}}
	DefaultSecret(s)
	if diff := cmp.Diff(&corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": []byte("x"), "b": []byte("y")}}, s); diff != "" {
		t.Errorf("secret defaults (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		got  field.ErrorList
		want []string
	}{
		{"bad key", validateSecret(&corev1.Secret{Type: "Opaque", Data: map[string][]byte{"a/b": nil}}), []string{"FieldValueInvalid data[a/b]"}},
		{"tls keys", validateSecret(&corev1.Secret{Type: corev1.SecretTypeTLS}), []string{"FieldValueRequired data[tls.crt]", "FieldValueRequired data[tls.key]"}},
		{"sa token", validateSecret(&corev1.Secret{Type: corev1.SecretTypeServiceAccountToken}), []string{"FieldValueRequired metadata.annotations[kubernetes.io/service-account.name]"}},
		{"too big", validateSecret(&corev1.Secret{Type: "Opaque", Data: map[string][]byte{"a": make([]byte, maxDataSize+1)}}), []string{"FieldValueTooLong data"}},
		{"cm keys", validateConfigMap(&corev1.ConfigMap{Data: map[string]string{"ok.key": "", "bad key": ""}, BinaryData: map[string][]byte{"ok.key": nil}}),
			[]string{"FieldValueInvalid data[bad key]", "FieldValueInvalid binaryData[ok.key]"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, errs(tt.got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}

	cmRes := findResource(t, "configmaps")
	old := &corev1.ConfigMap{Data: map[string]string{"a": "1"}, Immutable: ptr(true)}
	n := old.DeepCopy()
	n.Data["a"] = "2"
	if diff := cmp.Diff([]string{"FieldValueForbidden data"}, errs(cmRes.Strategy.ValidateUpdate(n, old))); diff != "" {
		t.Errorf("immutable configmap (-want +got):\n%s", diff)
	}
	secRes := findResource(t, "secrets")
	os := &corev1.Secret{Type: "Opaque"}
	ns := &corev1.Secret{Type: corev1.SecretTypeTLS}
	if diff := cmp.Diff([]string{"FieldValueInvalid type"}, errs(secRes.Strategy.ValidateUpdate(ns, os))); diff != "" {
		t.Errorf("secret type change (-want +got):\n%s", diff)
	}
}

func TestNamespace(t *testing.T) {
	r := findResource(t, "namespaces")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	r.Strategy.Default(ns)
	r.Strategy.PrepareForCreate(ns)
	want := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("namespace create (-want +got):\n%s", diff)
	}
	if r.Strategy.NameValidation("Team_A", false) == nil {
		t.Errorf("namespace name Team_A accepted")
	}
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	r.Strategy.PrepareForUpdate(upd, ns)
	if len(upd.Spec.Finalizers) != 1 {
		t.Errorf("update dropped finalizers")
	}
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = nil
	PrepareNamespaceFinalize(fin, ns)
	if len(fin.Spec.Finalizers) != 0 {
		t.Errorf("finalize kept finalizers %v", fin.Spec.Finalizers)
	}
}

func TestReplicationController(t *testing.T) {
	r := findResource(t, "replicationcontrollers")
	rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
	}}}
	r.Strategy.Default(rc)
	if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "web" || rc.Labels["app"] != "web" {
		t.Errorf("rc defaults: replicas %d selector %v labels %v", *rc.Spec.Replicas, rc.Spec.Selector, rc.Labels)
	}
	if e := r.Strategy.Validate(rc); len(e) != 0 {
		t.Errorf("valid rc: %v", e)
	}
	bad := rc.DeepCopy()
	bad.Spec.Selector = map[string]string{"app": "other"}
	bad.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	want := []string{"FieldValueInvalid spec.template.metadata.labels", "FieldValueNotSupported spec.template.spec.restartPolicy"}
	if diff := cmp.Diff(want, errs(r.Strategy.Validate(bad))); diff != "" {
		t.Errorf("bad rc (-want +got):\n%s", diff)
	}
	rc.Status.Replicas = 1
	sc := r.Strategy.Scale.Get(rc)
	if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=web" {
		t.Errorf("scale: %+v", sc)
	}
	r.Strategy.Scale.SetReplicas(rc, 3)
	if *rc.Spec.Replicas != 3 {
		t.Errorf("SetReplicas: %d", *rc.Spec.Replicas)
	}
}

func TestPersistentVolumeClaim(t *testing.T) {
	r := findResource(t, "persistentvolumeclaims")
	pvc := &corev1.PersistentVolumeClaim{}
	r.Strategy.Default(pvc)
	want := []string{"FieldValueRequired spec.accessModes", "FieldValueRequired spec.resources[storage]"}
	if diff := cmp.Diff(want, errs(r.Strategy.Validate(pvc))); diff != "" {
		t.Errorf("empty pvc (-want +got):\n%s", diff)
	}
	if pvc.Spec.VolumeMode == nil || *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("volumeMode not defaulted")
	}
	pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	upd := pvc.DeepCopy()
	upd.Spec.VolumeName = "pv-1" // binding an unbound claim is allowed
	if e := r.Strategy.ValidateUpdate(upd, pvc); len(e) != 0 {
		t.Errorf("binding update: %v", e)
	}
	upd.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	if diff := cmp.Diff([]string{"FieldValueForbidden spec"}, errs(r.Strategy.ValidateUpdate(upd, pvc))); diff != "" {
		t.Errorf("access mode change (-want +got):\n%s", diff)
	}

	// A claim with no class may be given one (the retroactive default
	// class), once: not changed, not cleared.
	upd = pvc.DeepCopy()
	std, other := "standard", "other"
	upd.Spec.StorageClassName = &std
	if e := r.Strategy.ValidateUpdate(upd, pvc); len(e) != 0 {
		t.Errorf("class for a claim without one: %v", e)
	}
	again := upd.DeepCopy()
	again.Spec.StorageClassName = &other
	if diff := cmp.Diff([]string{"FieldValueForbidden spec"}, errs(r.Strategy.ValidateUpdate(again, upd))); diff != "" {
		t.Errorf("class change (-want +got):\n%s", diff)
	}

	// volumeMode and the beta class annotation are immutable.
	upd = pvc.DeepCopy()
	block := corev1.PersistentVolumeBlock
	upd.Spec.VolumeMode = &block
	upd.Annotations = map[string]string{"volume.beta.kubernetes.io/storage-class": "x"}
	want = []string{"FieldValueInvalid metadata.annotations.volume.beta.kubernetes.io/storage-class", "FieldValueInvalid volumeMode", "FieldValueForbidden spec"}
	if diff := cmp.Diff(want, errs(r.Strategy.ValidateUpdate(upd, pvc))); diff != "" {
		t.Errorf("immutable fields (-want +got):\n%s", diff)
	}

	// A bound claim grows; it shrinks only while above status.capacity.
	bound := pvc.DeepCopy()
	bound.Spec.VolumeName = "pv-1"
	bound.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
	bound.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}
	for size, want := range map[string][]string{
		"4Gi":    nil,
		"2500Mi": nil,
		"2Gi":    {"FieldValueForbidden spec.resources.requests.storage"},
		"1Gi":    {"FieldValueForbidden spec.resources.requests.storage"},
	} {
		upd := bound.DeepCopy()
		upd.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse(size)
		if diff := cmp.Diff(want, errs(r.Strategy.ValidateUpdate(upd, bound))); diff != "" {
			t.Errorf("resize to %s (-want +got):\n%s", size, diff)
		}
	}
}

func TestEventValidation(t *testing.T) {
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "a"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "b", Name: "p"}}
	if diff := cmp.Diff([]string{"FieldValueInvalid involvedObject.namespace"}, errs(ValidateEvent(ev))); diff != "" {
		t.Errorf("namespace mismatch (-want +got):\n%s", diff)
	}
	ev.InvolvedObject.Namespace = "a"
	if e := ValidateEvent(ev); len(e) != 0 {
		t.Errorf("valid event: %v", e)
	}
	row := eventRow(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "p.1"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"},
		Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, Message: " hi ", Type: "Normal", Reason: "Pulled"})
	want := []interface{}{"<unknown>", "Normal", "Pulled", "pod/p", "", "kubelet, n1", "hi", "<unknown>", int64(1), "p.1"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("event row (-want +got):\n%s", diff)
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		resource string
		obj      runtime.Object
		want     fields.Set
	}{
		{"pods", &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: "Always", HostNetwork: true},
			Status: corev1.PodStatus{Phase: "Running", PodIPs: []corev1.PodIP{{IP: "10.42.0.1"}}}},
			fields.Set{"spec.nodeName": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "", "spec.serviceAccountName": "",
				"spec.hostNetwork": "true", "status.phase": "Running", "status.podIP": "10.42.0.1", "status.podIPs": "", "status.nominatedNodeName": ""}},
		{"secrets", &corev1.Secret{Type: "Opaque"}, fields.Set{"type": "Opaque"}},
		{"namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Status: corev1.NamespaceStatus{Phase: "Active"}},
			fields.Set{"status.phase": "Active", "name": "x"}},
		{"nodes", &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}, fields.Set{"spec.unschedulable": "true"}},
		{"replicationcontrollers", &corev1.ReplicationController{Status: corev1.ReplicationControllerStatus{Replicas: 2}}, fields.Set{"status.replicas": "2"}},
		{"services", &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.1", Type: "ClusterIP"}}, fields.Set{"spec.clusterIP": "10.43.0.1", "spec.type": "ClusterIP"}},
		{"events", &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}, ReportingController: "kubelet", Reason: "Pulled", Type: "Normal"},
			fields.Set{"involvedObject.kind": "Pod", "involvedObject.namespace": "", "involvedObject.name": "p", "involvedObject.uid": "",
				"involvedObject.apiVersion": "", "involvedObject.resourceVersion": "", "involvedObject.fieldPath": "",
				"reason": "Pulled", "reportingComponent": "kubelet", "source": "kubelet", "type": "Normal"}},
	}
	for _, tt := range tests {
		r := findResource(t, tt.resource)
		if diff := cmp.Diff(tt.want, r.Strategy.Fields(tt.obj)); diff != "" {
			t.Errorf("%s fields (-want +got):\n%s", tt.resource, diff)
		}
	}
}

func TestNodeRow(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
		Spec:       corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.34.0"},
		},
	}
	row := nodeRow(n)
	want := []interface{}{"Ready,SchedulingDisabled", "control-plane,worker", "<unknown>", "v1.34.0", "192.0.2.1", "<none>", "<unknown>", "<unknown>", "<unknown>"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("node row (-want +got):\n%s", diff)
	}
}

func TestEndpointsCell(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}, {IP: "10.0.0.4"}, {IP: "10.0.0.5"}},
		Ports:     []corev1.EndpointPort{{Port: 80}},
	}}}
	if got, want := formatEndpoints(ep), "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := formatEndpoints(&corev1.Endpoints{}); got != "<none>" {
		t.Errorf("empty: %q", got)
	}
}

func TestContainersAndImages(t *testing.T) {
	n, i := ContainersAndImages([]corev1.Container{{Name: "a", Image: "x"}, {Name: "b", Image: "y:1"}})
	if n != "a,b" || i != "x,y:1" {
		t.Errorf("got %q %q", n, i)
	}
}

func TestValidatePodTemplateSpec(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"bad key!": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	DefaultPodTemplateSpec(tpl)
	want := []string{"FieldValueInvalid spec.template.labels"}
	if diff := cmp.Diff(want, errs(ValidatePodTemplateSpec(tpl, field.NewPath("spec", "template")))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
