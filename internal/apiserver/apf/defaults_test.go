package apf

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAutoUpdateSpec(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		generation  int64
		mandatory   bool
		want        bool
	}{
		{"annotated true", map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: "true"}, 3, false, true},
		{"annotated false", map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: "false"}, 1, false, false},
		{"mandatory ignores the annotation", map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: "false"}, 4, true, true},
		{"no annotation, untouched", nil, 1, false, true},
		{"no annotation, changed", nil, 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{Annotations: tt.annotations, Generation: tt.generation}
			if got := AutoUpdateSpec(m, tt.mandatory); got != tt.want {
				t.Errorf("AutoUpdateSpec = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDefaultsReferToLevels: every default FlowSchema names a default
// level, and every object carries the autoupdate annotation.
func TestDefaultsReferToLevels(t *testing.T) {
	d := DefaultObjects()
	levels := map[string]bool{}
	for _, l := range append(d.MandatoryLevels, d.SuggestedLevels...) {
		levels[l.Name] = true
		if l.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("level %s lacks the autoupdate annotation", l.Name)
		}
	}
	for _, fs := range append(d.MandatorySchemas, d.SuggestedSchemas...) {
		if !levels[fs.Spec.PriorityLevelConfiguration.Name] {
			t.Errorf("flowschema %s names unknown level %s", fs.Name, fs.Spec.PriorityLevelConfiguration.Name)
		}
		if fs.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("flowschema %s lacks the autoupdate annotation", fs.Name)
		}
	}
}
