package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// resizablePod is a running Burstable pod with two containers.
func resizablePod() *corev1.Pod {
	p := validPod()
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("35Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("30m")},
	}
	c2 := p.Spec.Containers[0]
	c2.Name = "c2"
	p.Spec.Containers = append(p.Spec.Containers, c2)
	p.Status.QOSClass = corev1.PodQOSBurstable
	return p
}

func TestValidatePodResize(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*corev1.Pod)
		want    []string
		message string
	}{
		{"cpu and memory", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("25m")
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("50Mi")
		}, nil, ""},
		{"remove a limit", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = nil },
			[]string{"FieldValueForbidden spec.containers[0].resources.limits"}, "resource limits cannot be removed"},
		{"remove a request", func(p *corev1.Pod) { delete(p.Spec.Containers[1].Resources.Requests, corev1.ResourceMemory) },
			[]string{"FieldValueForbidden spec.containers[1].resources.requests"}, "resource requests cannot be removed"},
		{"to BestEffort", func(p *corev1.Pod) {
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Resources = corev1.ResourceRequirements{}
			}
		}, []string{"FieldValueInvalid spec", "FieldValueForbidden spec.containers[0].resources.requests", "FieldValueForbidden spec.containers[0].resources.limits",
			"FieldValueForbidden spec.containers[1].resources.requests", "FieldValueForbidden spec.containers[1].resources.limits"}, "Pod QOS Class may not change as a result of resizing"},
		{"another resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		}, []string{"FieldValueForbidden spec"}, "only cpu and memory resources are mutable"},
		{"renamed containers", func(p *corev1.Pod) {
			p.Spec.Containers[0].Name, p.Spec.Containers[1].Name = "c2", p.Spec.Containers[0].Name
		}, []string{"FieldValueForbidden spec.containers[0].name", "FieldValueForbidden spec.containers[1].name"}, "containers may not be renamed or reordered on resize"},
		{"resize policy", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}
		}, []string{"FieldValueForbidden spec"}, "only cpu and memory resources are mutable"},
		{"static pod", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			[]string{"FieldValueForbidden []"}, "static pods cannot be resized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := resizablePod()
			if tt.name == "static pod" {
				old.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			}
			p := old.DeepCopy()
			tt.mutate(p)
			PreparePodResizeUpdate(p, old)
			got := ValidatePodResizeUpdate(p, old)
			if diff := cmp.Diff(tt.want, errs(got)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.message != "" && (len(got) == 0 || got[len(got)-1].Detail != tt.message && got[0].Detail != tt.message) {
				t.Errorf("errors %v, want the message %q", got, tt.message)
			}
		})
	}
}

func TestPreparePodResize(t *testing.T) {
	old := resizablePod()
	p := old.DeepCopy()
	p.Spec.Containers[0].Image = "other:1"
	p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("25m")
	p.Labels = map[string]string{"new": "label"}
	p.Status.Phase = corev1.PodFailed
	PreparePodResizeUpdate(p, old)
	if p.Spec.Containers[0].Image != old.Spec.Containers[0].Image || p.Labels != nil || p.Status.Phase != old.Status.Phase {
		t.Errorf("resize kept image %q, labels %v, phase %q", p.Spec.Containers[0].Image, p.Labels, p.Status.Phase)
	}
	if q := p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "25m" {
		t.Errorf("cpu request = %s, want the resize's 25m", q.String())
	}
	if errs := ValidatePodResizeUpdate(p, old); len(errs) != 0 {
		t.Errorf("prepared resize does not validate: %v", errs)
	}
}
