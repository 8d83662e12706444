package ingressstatus_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/controller/ingressstatus"
	"skiff/internal/ingress"
	"skiff/internal/lbnodes"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func node(name string, ready bool, addrs ...corev1.NodeAddress) *corev1.Node {
	n := testobj.Node(name).Obj()
	n.Status.Addresses = addrs
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	return n
}

func TestDesired(t *testing.T) {
	in := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	ex := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: a} }
	excluded := node("x", true, in("10.0.0.5"))
	excluded.Labels = map[string]string{lbnodes.ExcludeLabel: ""}
	cordoned := node("c", true, in("10.0.0.6"))
	cordoned.Spec.Unschedulable = true
	nodes := []*corev1.Node{
		node("b", true, in("10.0.0.2"), in("fd00::2")),
		node("a", true, in("10.0.0.1"), ex("192.0.2.1")),
		node("down", false, in("10.0.0.3")),
		excluded, cordoned,
		node("dup", true, in("10.0.0.2")),
	}
	var got []string
	for _, e := range ingressstatus.Desired(nodes) {
		got = append(got, e.IP)
	}
	if diff := cmp.Diff([]string{"10.0.0.2", "192.0.2.1", "fd00::2"}, got); diff != "" {
		t.Errorf("Desired (-want +got):\n%s", diff)
	}
}

// TestRunsInServer checks the wiring: the server creates skiff's default
// IngressClass and its controller manager publishes the node's address
// in the status of an Ingress created with no class (admission gives it
// skiff's default class), and leaves an Ingress of another controller's
// class alone.
func TestRunsInServer(t *testing.T) {
	env := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = []string{"scheduler"} })
	ctx := context.Background()
	ic, err := env.Client.NetworkingV1().IngressClasses().Get(ctx, ingress.ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("skiff's IngressClass: %v", err)
	}
	if ic.Spec.Controller != ingress.ControllerName || ic.Annotations[ingress.DefaultClassAnnotation] != "true" {
		t.Errorf("IngressClass %s = %v %v; want the default class of %s", ic.Name, ic.Spec.Controller, ic.Annotations, ingress.ControllerName)
	}
	if _, err := env.Client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/other"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.CreateNode(ctx, node("n1", true)); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if _, err = env.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	mk := func(name string, class *string) {
		if _, err := env.Client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: networkingv1.IngressSpec{IngressClassName: class, DefaultBackend: &networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("ours", nil)
	mk("theirs", ptr.To("other"))
	status := func(name string) ([]string, error) {
		ing, err := env.Client.NetworkingV1().Ingresses("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		var ips []string
		for _, e := range ing.Status.LoadBalancer.Ingress {
			ips = append(ips, e.IP)
		}
		return ips, nil
	}
	servertest.Wait(t, "the Ingress to get the node's address", func(context.Context) (bool, error) {
		ips, err := status("ours")
		return cmp.Equal(ips, []string{"10.0.0.11"}), err
	})
	// "theirs" was created before "ours" was synced; the controller
	// would have written it by now.
	if ips, err := status("theirs"); err != nil || len(ips) != 0 {
		t.Errorf("Ingress of another class: status %v, %v; want none", ips, err)
	}
}

// TestNoClassWhenDisabled checks that a server whose ingress controller
// is off (--disable ingress) leaves the IngressClass out, so that
// another controller's class can be the default.
func TestNoClassWhenDisabled(t *testing.T) {
	env := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = append(cfg.Disable, "ingress") })
	classes, err := env.Client.NetworkingV1().IngressClasses().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(classes.Items) != 0 {
		t.Errorf("IngressClasses with the ingress controller disabled: %v; want none", classes.Items)
	}
}
