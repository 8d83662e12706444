package nodeipam

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAllocator(t *testing.T) {
	tests := []struct {
		name     string
		cidr     string
		size     int
		occupied []string
		want     []string
		wantErr  error
	}{
		{name: "first subnets", cidr: "10.42.0.0/16", size: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24"}},
		{name: "skips used", cidr: "10.42.0.0/16", size: 24, occupied: []string{"10.42.0.0/24", "10.99.0.0/24"},
			want: []string{"10.42.1.0/24"}},
		{name: "full", cidr: "10.42.0.0/23", size: 24, occupied: []string{"10.42.0.0/24", "10.42.1.0/24"}, wantErr: ErrFull},
		{name: "ipv6", cidr: "fd00:42::/56", size: 64, want: []string{"fd00:42::/64", "fd00:42:0:1::/64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newAllocator(tt.cidr, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.occupied {
				a.occupy(s)
			}
			var got []string
			for range max(len(tt.want), 1) {
				p, err := a.next()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("next: err %v, want %v", err, tt.wantErr)
				}
				if err == nil {
					got = append(got, p.String())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("subnets (-want +got):\n%s", diff)
			}
		})
	}
}
