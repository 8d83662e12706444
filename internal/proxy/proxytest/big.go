package proxytest

import (
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/proxy"
)

// BigState simulates a cluster of services Services with endpoints
// endpoints each, spread over 10 nodes.
func BigState(services, endpoints int) proxy.State {
	st := proxy.State{
		NodeName:           "node-0",
		NodeIPs:            []netip.Addr{netip.MustParseAddr("192.168.50.10")},
		ClusterCIDR:        netip.MustParsePrefix("10.42.0.0/16"),
		ServiceCIDR:        netip.MustParsePrefix("10.43.0.0/16"),
		LocalhostNodePorts: true,
	}
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		svc := &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, i%250+1),
				Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}},
		}
		if i%10 == 0 {
			svc.Spec.Type = v1.ServiceTypeNodePort
			svc.Spec.Ports[0].NodePort = int32(30000 + i)
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "bench", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
		}
		for j := range endpoints {
			n := i*endpoints + j
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses: []string{fmt.Sprintf("10.42.%d.%d", n/250, n%250+1)},
				NodeName:  ptr.To(fmt.Sprintf("node-%d", n%10)),
			})
		}
		st.Services = append(st.Services, svc)
		st.EndpointSlices = append(st.EndpointSlices, es)
	}
	return st
}
