package apiserver

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 15 * time.Second},
		{1, 30 * time.Second},
		{3, 2 * time.Minute},
		{5, maxMetricsRetryDelay},
		{1000, maxMetricsRetryDelay},
	}
	for _, tt := range tests {
		if got := retryDelay(15*time.Second, tt.failures); got != tt.want {
			t.Errorf("retryDelay(15s, %d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}
