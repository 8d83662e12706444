package balancedallocation

import "testing"

func TestScore(t *testing.T) {
	tests := []struct {
		name      string
		fractions []float64
		want      int64
	}{
		{"even", []float64{0.5, 0.5}, 100},
		{"skewed", []float64{0.9, 0.1}, 60},
		{"one resource", []float64{0.7}, 100},
		{"three", []float64{0, 0.5, 1}, 59},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Score(tt.fractions); got != tt.want {
				t.Errorf("Score(%v) = %d, want %d", tt.fractions, got, tt.want)
			}
		})
	}
}
