package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// rangesOnly is an Objects holding one namespace's LimitRanges.
type rangesOnly []*corev1.LimitRange

func (r rangesOnly) List(gvr schema.GroupVersionResource, _ string) []runtime.Object {
	var out []runtime.Object
	if gvr == limitRangesGVR {
		for _, lr := range r {
			out = append(out, lr)
		}
	}
	return out
}

func (rangesOnly) Get(schema.GroupVersionResource, string, string) (runtime.Object, bool) {
	return nil, false
}

func (rangesOnly) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

// TestLimitRangerOnResize checks that a resize is held to the namespace's
// limits, as a create is, and gets no defaults.
func TestLimitRangerOnResize(t *testing.T) {
	p := limitRanger{objects: rangesOnly{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse("1")},
		Default: corev1.ResourceList{corev1.ResourceMemory: apiresource.MustParse("64Mi")},
	}}}}}}
	pod := func(cpu string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse(cpu)}}}}}}
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		a       Attributes
		refused bool
	}{
		{"resize within the maximum", Attributes{Operation: Update, SubResource: "resize", Namespace: "ns", Name: "p", Object: pod("500m"), OldObject: pod("250m")}, false},
		{"resize past the maximum", Attributes{Operation: Update, SubResource: "resize", Namespace: "ns", Name: "p", Object: pod("2"), OldObject: pod("500m")}, true},
		{"create past the maximum", Attributes{Operation: Create, Namespace: "ns", Name: "p", Object: pod("2")}, true},
		{"status update", Attributes{Operation: Update, SubResource: "status", Namespace: "ns", Name: "p", Object: pod("2"), OldObject: pod("2")}, false},
	}
	for _, tt := range tests {
		a := tt.a
		if err := p.Admit(ctx, &a); err != nil {
			t.Fatalf("%s: admit: %v", tt.name, err)
		}
		err := p.Validate(ctx, &a)
		if refused := err != nil; refused != tt.refused {
			t.Errorf("%s: refused %v (%v), want %v", tt.name, refused, err, tt.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "maximum cpu usage per Container is 1") {
			t.Errorf("%s: message %q", tt.name, err)
		}
		_, defaulted := a.Object.(*corev1.Pod).Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		if wantDefault := a.Operation == Create; defaulted != wantDefault {
			t.Errorf("%s: memory limit defaulted %v, want %v", tt.name, defaulted, wantDefault)
		}
	}
}
