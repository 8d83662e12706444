package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	utilptr "k8s.io/utils/ptr"
)

func TestServiceTypeChangeDropsFields(t *testing.T) {
	clusterIP := func() *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.5", ClusterIPs: []string{"10.43.0.5"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: utilptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: utilptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			Ports:                 []corev1.ServicePort{{Port: 80}},
		}}
	}
	loadBalancer := func() *corev1.Service {
		s := clusterIP()
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = 31000
		s.Spec.AllocateLoadBalancerNodePorts = utilptr.To(true)
		return s
	}
	tests := []struct {
		name   string
		old    *corev1.Service
		update func(*corev1.Service)
		want   func(*corev1.Service)
	}{
		{
			name: "ClusterIP to ExternalName: the cluster IPs go",
			old:  clusterIP(),
			update: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.test"
			},
			want: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.test"
				s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy, s.Spec.InternalTrafficPolicy = "", nil, nil, nil, nil
			},
		},
		{
			name:   "ExternalName with a cluster IP the user changed is left to validation",
			old:    clusterIP(),
			update: func(s *corev1.Service) { s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeExternalName, "10.43.0.9" },
			want: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ClusterIP, s.Spec.InternalTrafficPolicy = corev1.ServiceTypeExternalName, "10.43.0.9", nil
			},
		},
		{
			name:   "LoadBalancer to ClusterIP: node ports and load balancer fields go",
			old:    loadBalancer(),
			update: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
			want:   func(s *corev1.Service) {},
		},
		{
			name:   "LoadBalancer to NodePort keeps the node ports",
			old:    loadBalancer(),
			update: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort },
			want: func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.old.DeepCopy()
			tt.update(got)
			prepareServiceUpdate(got, tt.old)
			want := clusterIP()
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after the update (-want +got):\n%s", diff)
			}
		})
	}
}
