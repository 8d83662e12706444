package apiserver

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubernetes Service's endpoints list every API server that shares
// the store, as upstream's lease endpoint reconciler keeps them: each
// server renews a Lease of its address every EndpointReconcileInterval,
// and writes the addresses of the Leases renewed within
// endpointLeaseTTL into default/kubernetes.
const (
	// EndpointReconcileInterval is how often a server renews its Lease
	// and reconciles the endpoints.
	EndpointReconcileInterval = 10 * time.Second
	endpointLeaseTTL          = 15 * time.Second
	// endpointLeaseLabel marks the Leases in kube-system that hold an API
	// server's address; their holder is the address.
	endpointLeaseLabel  = "apiserver.skiff.dev/kubernetes-endpoint"
	endpointLeasePrefix = "apiserver-endpoint-"
)

// endpointLeaseName is the Lease of the API server at ip.
func endpointLeaseName(ip net.IP) string {
	return endpointLeasePrefix + strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// RunEndpointReconciler keeps default/kubernetes listing the live API
// servers, this one at ip:port among them, until ctx is done; then it
// takes this server out (another server's reconciler would after the
// Lease's TTL) so that clients stop being sent to it at once.
func (s *Server) RunEndpointReconciler(ctx context.Context, ip net.IP, port int, interval time.Duration) {
	if interval <= 0 {
		interval = EndpointReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.removeEndpoint(stop, ip, port); err != nil {
				s.log.Warn("taking this server out of the kubernetes endpoints failed", "err", err)
			}
			return
		case <-t.C:
		}
		if err := s.reconcileEndpoints(ctx, ip, port, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("kubernetes endpoints reconcile failed", "err", err)
		}
	}
}

// reconcileEndpoints renews this server's Lease and writes the live
// servers' addresses into the kubernetes Endpoints and EndpointSlice
// where they differ.
func (s *Server) reconcileEndpoints(ctx context.Context, ip net.IP, port int, now time.Time) error {
	wo := writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"}
	ttl := int32(endpointLeaseTTL / time.Second)
	renew := metav1.NewMicroTime(now)
	holder := ip.String()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: endpointLeaseName(ip), Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{endpointLeaseLabel: "true"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &ttl, RenewTime: &renew},
	}
	if err := s.ensureUpdated(ctx, coordinationv1.GroupName, "v1", "leases", metav1.NamespaceSystem, lease, wo); err != nil {
		return err
	}
	return s.writeEndpoints(ctx, s.liveEndpoints(now, ip, nil), port, wo)
}

// liveEndpoints are the addresses of the Leases renewed within their TTL
// at now, with self and without gone, sorted.
func (s *Server) liveEndpoints(now time.Time, self, gone net.IP) []string {
	set := map[string]bool{}
	if self != nil {
		set[self.String()] = true
	}
	for _, o := range s.Objects(coordinationv1.GroupName, "v1", "leases", metav1.NamespaceSystem) {
		l, ok := o.(*coordinationv1.Lease)
		if !ok || l.Labels[endpointLeaseLabel] != "true" || l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil {
			continue
		}
		ttl := endpointLeaseTTL
		if d := l.Spec.LeaseDurationSeconds; d != nil {
			ttl = time.Duration(*d) * time.Second
		}
		ip := net.ParseIP(*l.Spec.HolderIdentity)
		if ip != nil && l.Spec.RenewTime.Add(ttl).After(now) {
			set[ip.String()] = true
		}
	}
	if gone != nil {
		delete(set, gone.String())
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// writeEndpoints makes the kubernetes Endpoints and EndpointSlice list
// addrs on port, writing only what differs.
func (s *Server) writeEndpoints(ctx context.Context, addrs []string, port int, wo writeOptions) error {
	p := int32(port)
	subsets := []corev1.EndpointSubset{}
	if len(addrs) > 0 {
		sub := corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Name: "https", Port: p, Protocol: corev1.ProtocolTCP}}}
		for _, a := range addrs {
			sub.Addresses = append(sub.Addresses, corev1.EndpointAddress{IP: a})
		}
		subsets = append(subsets, sub)
	}
	cur, _ := s.Object("", "v1", "endpoints", metav1.NamespaceDefault, "kubernetes")
	if ep, ok := cur.(*corev1.Endpoints); !ok || !equality.Semantic.DeepEqual(ep.Subsets, subsets) {
		ep := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
				Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
			Subsets: subsets,
		}
		if err := s.ensureUpdated(ctx, "", "v1", "endpoints", metav1.NamespaceDefault, ep, wo); err != nil {
			return err
		}
	}
	ready := true
	name, proto := "https", corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &p, Protocol: &proto}},
	}
	for _, a := range addrs {
		if net.ParseIP(a).To4() == nil {
			slice.AddressType = discoveryv1.AddressTypeIPv6
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	cur, _ = s.Object(discoveryv1.GroupName, "v1", "endpointslices", metav1.NamespaceDefault, "kubernetes")
	if es, ok := cur.(*discoveryv1.EndpointSlice); ok && sliceAddresses(es) == strings.Join(addrs, ",") &&
		len(es.Ports) == 1 && es.Ports[0].Port != nil && *es.Ports[0].Port == p {
		return nil
	}
	return s.ensureUpdated(ctx, discoveryv1.GroupName, "v1", "endpointslices", metav1.NamespaceDefault, slice, wo)
}

// removeEndpoint takes this server's address out of the endpoints and
// deletes its Lease.
func (s *Server) removeEndpoint(ctx context.Context, ip net.IP, port int) error {
	wo := writeOptions{fieldManager: "skiff", fieldValidation: "Ignore"}
	if err := s.writeEndpoints(ctx, s.liveEndpoints(time.Now(), nil, ip), port, wo); err != nil {
		return err
	}
	res, ok := s.lookup(coordinationv1.GroupName, "v1", "leases")
	if !ok {
		return nil
	}
	if _, _, err := s.delete(ctx, res, metav1.NamespaceSystem, endpointLeaseName(ip), &metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func sliceAddresses(es *discoveryv1.EndpointSlice) string {
	var out []string
	for _, e := range es.Endpoints {
		out = append(out, e.Addresses...)
	}
	return strings.Join(out, ",")
}
