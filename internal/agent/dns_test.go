package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestPodDNS(t *testing.T) {
	cluster := []string{"10.43.0.10"}
	searches := []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	tests := []struct {
		name   string
		policy corev1.DNSPolicy
		host   bool
		config *corev1.PodDNSConfig
		want   DNSConfig
	}{
		{name: "ClusterFirst by default", want: DNSConfig{Servers: cluster, Searches: searches, Options: []string{"ndots:5"}}},
		{name: "ClusterFirst on the host network is Default", policy: corev1.DNSClusterFirst, host: true, want: DNSConfig{}},
		{name: "ClusterFirstWithHostNet", policy: corev1.DNSClusterFirstWithHostNet, host: true, want: DNSConfig{Servers: cluster, Searches: searches, Options: []string{"ndots:5"}}},
		{name: "Default", policy: corev1.DNSDefault, want: DNSConfig{}},
		{
			name: "None takes dnsConfig only", policy: corev1.DNSNone,
			config: &corev1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Options: []corev1.PodDNSConfigOption{{Name: "edns0"}}},
			want:   DNSConfig{Servers: []string{"1.2.3.4"}, Options: []string{"edns0"}},
		},
		{
			name:   "dnsConfig merges into ClusterFirst, options by name",
			config: &corev1.PodDNSConfig{Searches: []string{"example.com"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}},
			want:   DNSConfig{Servers: cluster, Searches: append(append([]string{}, searches...), "example.com"), Options: []string{"ndots:2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p").obj()
			pod.Spec.DNSPolicy, pod.Spec.HostNetwork, pod.Spec.DNSConfig = tt.policy, tt.host, tt.config
			got := podDNS(pod, cluster, "cluster.local")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("podDNS (-want +got):\n%s", diff)
			}
		})
	}
}
