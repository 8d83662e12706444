package endpoints_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/endpoints"
	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestUserManagedEndpointsLeftAlone checks that an Endpoints object with
// no Service, which a user manages by hand, survives its own updates, as
// upstream's controller leaves it alone; a Service's Endpoints that is
// deleted comes back.
func TestUserManagedEndpointsLeftAlone(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := t.Context()
	env.RunController(t, endpoints.New, nil)
	eps := env.Client.CoreV1().Endpoints("default")
	manual, err := eps.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "manual", Labels: map[string]string{"v": "1"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.24"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	manual.Labels["v"] = "2"
	if _, err := eps.Update(ctx, manual, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A Service's Endpoints appear once the controller has caught up with
	// the events before it.
	if _, err := env.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the Service's Endpoints", func(context.Context) (bool, error) {
		_, err := eps.Get(ctx, "web", metav1.GetOptions{})
		return err == nil, nil
	})
	if _, err := eps.Get(ctx, "manual", metav1.GetOptions{}); err != nil {
		t.Fatalf("the user's Endpoints: %v", err)
	}
	if err := eps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the Service's Endpoints back", func(context.Context) (bool, error) {
		_, err := eps.Get(ctx, "web", metav1.GetOptions{})
		return err == nil, nil
	})
	_, err = eps.Get(ctx, "manual", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		t.Error("the user's Endpoints were deleted")
	}
}
