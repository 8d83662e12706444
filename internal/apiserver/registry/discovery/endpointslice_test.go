package discovery

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestEndpointSlice(t *testing.T) {
	s := Resources()[0].Strategy
	port := int32(80)
	tests := []struct {
		name string
		es   discoveryv1.EndpointSlice
		want []string
	}{
		{
			name: "valid",
			es: discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}},
				Ports:     []discoveryv1.EndpointPort{{Port: &port}}},
		},
		{
			name: "no address type, empty endpoint, wrong family",
			es:   discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{{}, {Addresses: []string{"fd00::1"}}}},
			want: []string{"addressType", "endpoints[0].addresses"},
		},
		{
			name: "IPv6 address in IPv4 slice",
			es:   discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}}}},
			want: []string{"endpoints[0].addresses[0]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Default(&tt.es)
			var got []string
			for _, e := range s.Validate(&tt.es) {
				got = append(got, e.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	es := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3", "10.0.0.4"}}},
		Ports:     []discoveryv1.EndpointPort{{Port: &port}}}
	want := []interface{}{"IPv4", "80", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "<unknown>"}
	if diff := cmp.Diff(want, s.TableRow(es)); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]interface{}{"IPv4", "<unset>", "<unset>", "<unknown>"}, s.TableRow(&discoveryv1.EndpointSlice{AddressType: "IPv4"})); diff != "" {
		t.Errorf("empty row (-want +got):\n%s", diff)
	}
}
