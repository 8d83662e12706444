package endpointslicemirroring

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestDesiredSlices(t *testing.T) {
	many := make([]corev1.EndpointAddress, 150)
	for i := range many {
		many[i] = corev1.EndpointAddress{IP: fmt.Sprintf("10.1.%d.%d", i/100, i%100)}
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    []string
	}{
		{"ready and not ready, both families", []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.0.2"}},
			Ports:             []corev1.EndpointPort{{Name: "db", Port: 5432}},
		}}, []string{"IPv4|db/5432/TCP 10.0.0.1:true 10.0.0.2:false", "IPv6|db/5432/TCP fd00::1:true"}},
		{"split at 100", []corev1.EndpointSubset{{Addresses: many, Ports: []corev1.EndpointPort{{Port: 80}}}},
			[]string{"IPv4|/80/TCP n=100", "IPv4|/80/TCP n=50"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range desiredSlices(&corev1.Endpoints{Subsets: tt.subsets}) {
				line := portsKey(s.addressType, s.ports)
				if len(s.endpoints) > 2 {
					line += fmt.Sprintf(" n=%d", len(s.endpoints))
				} else {
					for _, e := range s.endpoints {
						line += fmt.Sprintf(" %s:%v", e.Addresses[0], *e.Conditions.Ready)
					}
				}
				got = append(got, line)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
