package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/server/servertest"
)

// TestStatusPatchKeepsMetadata checks what upstream's status subresources
// do with a patch that also changes metadata: the status changes, and so do
// the labels and annotations (only the spec is the main resource's).
func TestStatusPatchKeepsMetadata(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	pathType := networkingv1.PathTypePrefix
	ing, err := ts.Client.NetworkingV1().Ingresses("default").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
			Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			Rules: []networkingv1.IngressRule{{Host: "a.example", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ts.Client.NetworkingV1().Ingresses("default").Patch(ctx, ing.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":{"loadBalancer":{"ingress":[{"ip":"10.9.9.9"}]}}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations["patchedstatus"] != "true" || len(got.Status.LoadBalancer.Ingress) != 1 {
		t.Errorf("ingress after the status patch: annotations %v, status %+v", got.Annotations, got.Status)
	}
	job, err := ts.Client.BatchV1().Jobs("default").Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gotJob, err := ts.Client.BatchV1().Jobs("default").Patch(ctx, job.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"patchedstatus":"true"}},"status":{"conditions":[{"type":"Custom","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`),
		metav1.PatchOptions{}, "status")
	if err != nil {
		t.Fatal(err)
	}
	if gotJob.Annotations["patchedstatus"] != "true" || len(gotJob.Status.Conditions) != 1 {
		t.Errorf("job after the status patch: annotations %v, conditions %+v", gotJob.Annotations, gotJob.Status.Conditions)
	}
}
