package node

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff/internal/dns"
)

// dnsComponent serves the cluster DNS on this node and publishes it as the
// kube-dns Service in kube-system (ClusterIP cfg.ClusterDNS, port 53), whose
// endpoint is the host's address and the DNS port.
func dnsComponent(cfg Config) component {
	advertise := cfg.NodeIP
	return component{name: "dns", user: DNSUser, run: func(ctx context.Context, rc *rest.Config) error {
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(advertise.String(), strconv.Itoa(cfg.DNSPort))
		srv, err := dns.New(dns.Config{Domain: cfg.ClusterDomain, Addrs: []string{addr}, Logger: cfg.Logger})
		if err != nil {
			return err
		}
		if err := publishDNS(ctx, client, cfg, advertise); err != nil {
			return fmt.Errorf("publish kube-dns: %w", err)
		}
		errc := make(chan error, 1)
		go func() { errc <- dns.Follow(ctx, client, srv) }()
		err = srv.Run(ctx)
		if ferr := <-errc; err == nil {
			err = ferr
		}
		return err
	}}
}

// publishDNS creates or updates the kube-dns Service and its EndpointSlice.
func publishDNS(ctx context.Context, client kubernetes.Interface, cfg Config, advertise net.IP) error {
	labels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "skiff-dns"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system", Labels: labels},
		Spec: corev1.ServiceSpec{ClusterIP: cfg.ClusterDNS, Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(int32(cfg.DNSPort))},
			{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(cfg.DNSPort))},
		}},
	}
	if _, err := client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	port := int32(cfg.DNSPort)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns-skiff", Namespace: "kube-system", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kube-dns", discoveryv1.LabelManagedBy: "skiff-dns"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{advertise.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Port: &port, Protocol: ptr.To(corev1.ProtocolUDP)},
			{Name: ptr.To("dns-tcp"), Port: &port, Protocol: ptr.To(corev1.ProtocolTCP)},
		},
	}
	if advertise.To4() == nil {
		slice.AddressType = discoveryv1.AddressTypeIPv6
	}
	slices := client.DiscoveryV1().EndpointSlices("kube-system")
	cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		cur.Endpoints, cur.Ports, cur.AddressType, cur.Labels = slice.Endpoints, slice.Ports, slice.AddressType, slice.Labels
		_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
	}
	return err
}
