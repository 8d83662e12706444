package framework

import (
	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
)

// Tolerates reports whether any toleration tolerates taint.
func Tolerates(tols []v1.Toleration, taint *v1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(logr.Discard(), taint, false) {
			return true
		}
	}
	return false
}
