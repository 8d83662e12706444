package integration

import (
	"context"
	"net"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server/servertest"
)

// TestDefaultServiceCIDR checks that the server publishes the range it
// allocates ClusterIPs from as the Ready ServiceCIDR "kubernetes".
func TestDefaultServiceCIDR(t *testing.T) {
	ts := servertest.Start(t, nil)
	sc, err := ts.Client.NetworkingV1().ServiceCIDRs().Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ts.Client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, cidr, err := net.ParseCIDR(sc.Spec.CIDRs[0])
	if err != nil || !cidr.Contains(net.ParseIP(svc.Spec.ClusterIP)) {
		t.Errorf("default ServiceCIDR %v does not hold the kubernetes Service's %s", sc.Spec.CIDRs, svc.Spec.ClusterIP)
	}
	if !meta.IsStatusConditionTrue(sc.Status.Conditions, "Ready") {
		t.Errorf("default ServiceCIDR conditions %+v, want Ready", sc.Status.Conditions)
	}
}
