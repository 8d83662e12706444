package proxytest

import (
	"bytes"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"skiff/internal/proxy"
)

// LoadState reads a State, as golden tests and benchmarks write one, from YAML documents: Services,
// EndpointSlices and at most one Node (this node, default node-a at
// 192.168.50.10). The CIDRs are the cluster defaults and NodePorts answer
// on localhost too.
func LoadState(in []byte) (proxy.State, error) {
	st := proxy.State{
		NodeName:           "node-a",
		NodeIPs:            []netip.Addr{netip.MustParseAddr("192.168.50.10")},
		ClusterCIDR:        netip.MustParsePrefix("10.42.0.0/16"),
		ServiceCIDR:        netip.MustParsePrefix("10.43.0.0/16"),
		LocalhostNodePorts: true,
	}
	for _, doc := range bytes.Split(in, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return st, fmt.Errorf("load state: %w", err)
		}
		switch tm.Kind {
		case "Service":
			var s v1.Service
			if err := yaml.UnmarshalStrict(doc, &s); err != nil {
				return st, fmt.Errorf("load state: %w", err)
			}
			st.Services = append(st.Services, &s)
		case "EndpointSlice":
			var es discoveryv1.EndpointSlice
			if err := yaml.UnmarshalStrict(doc, &es); err != nil {
				return st, fmt.Errorf("load state: %w", err)
			}
			st.EndpointSlices = append(st.EndpointSlices, &es)
		case "Node":
			var n v1.Node
			if err := yaml.UnmarshalStrict(doc, &n); err != nil {
				return st, fmt.Errorf("load state: %w", err)
			}
			st.NodeName, st.NodeIPs = n.Name, proxy.NodeIPs(&n)
		case "":
			// A comment-only document.
		default:
			return st, fmt.Errorf("load state: unknown kind %q", tm.Kind)
		}
	}
	return st, nil
}
