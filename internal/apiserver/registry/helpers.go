package registry

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Age renders the time since obj's creationTimestamp the way kubectl's Age
// column does ("5m", "3d4h"), or "<unknown>" when it is unset.
func Age(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "<unknown>"
	}
	return Since(m.GetCreationTimestamp())
}

// Since renders the time since t as a short human duration ("<unknown>" for zero).
func Since(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// Column is shorthand for a Table column definition.
func Column(name, typ, description string, priority int32) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description, Priority: priority}
}
