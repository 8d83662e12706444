package servicelb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff/internal/controller/servicelb"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// setNode changes a node's status with fn, retrying on conflicts.
func setNode(ctx context.Context, env *servertest.Server, name string, fn func(*corev1.Node)) error {
	for {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		fn(n)
		_, err = env.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

// ingressIPs returns the IPs in the service's load balancer status, and
// fails the wait when an entry is not a VIP.
func ingressIPs(ctx context.Context, env *servertest.Server, ns, name string) ([]string, error) {
	svc, err := env.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
			return nil, fmt.Errorf("ingress %s has ipMode %v, want VIP", in.IP, in.IPMode)
		}
		ips = append(ips, in.IP)
	}
	return ips, nil
}

// TestServiceLoadBalancer runs the controller on a real control plane and
// follows one LoadBalancer Service through node and type changes, while a
// Service of another class stays untouched.
func TestServiceLoadBalancer(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	addrs := map[string][]corev1.NodeAddress{
		"n1": {{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}, {Type: corev1.NodeHostName, Address: "n1"}},
		"n2": {{Type: corev1.NodeInternalIP, Address: "10.0.0.12"}, {Type: corev1.NodeExternalIP, Address: "192.0.2.12"}},
		"n3": {{Type: corev1.NodeInternalIP, Address: "10.0.0.3"}},
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		if _, err := env.CreateNode(ctx, testobj.Node(name).Capacity("4", "8Gi").Ready().Obj()); err != nil {
			t.Fatal(err)
		}
		if err := setNode(ctx, env, name, func(n *corev1.Node) { n.Status.Addresses = addrs[name] }); err != nil {
			t.Fatal(err)
		}
	}
	rec := env.RunController(t, servicelb.New, nil)

	svcs := env.Client.CoreV1().Services("default")
	ports := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"}, Ports: ports},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	class := "example.com/elsewhere"
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &class,
			Selector: map[string]string{"app": "web"}, Ports: ports},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitIPs := func(what string, want ...string) {
		t.Helper()
		var got []string
		servertest.Wait(t, what, func(context.Context) (bool, error) {
			var err error
			got, err = ingressIPs(ctx, env, "default", "web")
			return err == nil && slices.Equal(got, want), fmt.Errorf("ingress %v: %v", got, err)
		})
	}
	waitIPs("the service to get every node's address", "10.0.0.3", "10.0.0.11", "192.0.2.12")
	// The event follows the status write: wait for it.
	servertest.Wait(t, "the EnsuredLoadBalancer event", func(context.Context) (bool, error) {
		return rec.Has("EnsuredLoadBalancer"), fmt.Errorf("events %v", rec.Reasons())
	})

	if err := setNode(ctx, env, "n1", func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionFalse
	}); err != nil {
		t.Fatal(err)
	}
	waitIPs("the NotReady node to be removed", "10.0.0.3", "192.0.2.12")

	if err := env.Client.CoreV1().Nodes().Delete(ctx, "n3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("the deleted node to be removed", "192.0.2.12")

	if err := setNode(ctx, env, "n1", func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionTrue
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.21"}}
	}); err != nil {
		t.Fatal(err)
	}
	waitIPs("the node back with its new address", "10.0.0.21", "192.0.2.12")

	for {
		svc, err := svcs.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
		svc.Spec.ExternalTrafficPolicy = ""
		svc.Spec.AllocateLoadBalancerNodePorts = nil
		_, err = svcs.Update(ctx, svc, metav1.UpdateOptions{})
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	waitIPs("the ingress to be cleared after the type change")
	servertest.Wait(t, "a DeletedLoadBalancer event", func(context.Context) (bool, error) { return rec.Has("DeletedLoadBalancer"), nil })

	other, err := svcs.Get(ctx, "other", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("service of class %s got ingress %v", class, other.Status.LoadBalancer.Ingress)
	}
}

// TestRunsInServer checks the wiring: the server's controller manager runs
// servicelb, so a LoadBalancer Service gets the node's address.
// This package has no goroutine-leak check (servertest.Main): a server running its
// controller manager leaves client-go's client certificate rotation
// goroutines behind.
func TestRunsInServer(t *testing.T) {
	env := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = []string{"scheduler"} })
	c := context.Background()
	if _, err := env.CreateNode(c, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	if err := setNode(c, env, "n1", func(n *corev1.Node) {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.CoreV1().Services("default").Create(c, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the service to get the node's address", func(context.Context) (bool, error) {
		ips, err := ingressIPs(c, env, "default", "web")
		return err == nil && slices.Equal(ips, []string{"10.0.0.11"}), err
	})
}
