package noderesourcesfit

import (
	"testing"

	configv1 "k8s.io/kube-scheduler/config/v1"
)

func TestBrokenLinear(t *testing.T) {
	f := brokenLinear([]configv1.UtilizationShapePoint{{Utilization: 0, Score: 0}, {Utilization: 100, Score: 10}})
	tests := []struct{ in, want int64 }{{0, 0}, {50, 50}, {100, 100}, {120, 100}}
	for _, tt := range tests {
		if got := f(tt.in); got != tt.want {
			t.Errorf("f(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestLeastAndMostRequested(t *testing.T) {
	tests := []struct {
		name string
		f    func(r, a int64) int64
		r, a int64
		want int64
	}{
		{"least empty", leastRequested, 0, 4000, 100},
		{"least quarter", leastRequested, 1000, 4000, 75},
		{"least over", leastRequested, 5000, 4000, 0},
		{"most quarter", mostRequested, 1000, 4000, 25},
		{"most over", mostRequested, 5000, 4000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.r, tt.a); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
