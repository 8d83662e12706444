package job

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int32
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {30, 6 * time.Minute}}
	for _, tt := range tests {
		if got := backoff(tt.failures); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestIndexes(t *testing.T) {
	tests := []struct{ in, want string }{{"", ""}, {"0", "0"}, {"0,1,2", "0-2"}, {"3-5,1,7", "1,3-5,7"}}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, formatIndexes(parseIndexes(tt.in))); diff != "" {
			t.Errorf("round trip %q (-want +got):\n%s", tt.in, diff)
		}
	}
}
