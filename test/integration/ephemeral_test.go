package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/server/servertest"
)

// TestEphemeralContainersSubresource checks kubectl debug's way in: a
// strategic merge patch and an update of pods/ephemeralcontainers add
// ephemeral containers; the rest of the spec, and existing ephemeral
// containers, cannot change there.
func TestEphemeralContainersSubresource(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	pods := ts.Client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","command":["sleep","60"],"targetContainerName":"c","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}]}}`
	got, err := pods.Patch(ctx, "p", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.EphemeralContainers) != 1 || got.Spec.EphemeralContainers[0].Name != "debugger" {
		t.Fatalf("ephemeral containers after the patch: %+v", got.Spec.EphemeralContainers)
	}
	// A spec change: the pod's generation goes up, as upstream's does.
	if got.Generation != 2 {
		t.Errorf("generation after adding an ephemeral container %d, want 2", got.Generation)
	}
	got.Spec.EphemeralContainers = append(got.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger2", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}})
	if got, err = pods.UpdateEphemeralContainers(ctx, "p", got, metav1.UpdateOptions{}); err != nil || len(got.Spec.EphemeralContainers) != 2 {
		t.Fatalf("update adding a second ephemeral container: %v", err)
	}
	got.Spec.EphemeralContainers = got.Spec.EphemeralContainers[1:]
	_, err = pods.UpdateEphemeralContainers(ctx, "p", got, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `existing ephemeral containers "debugger" may not be removed`) {
		t.Errorf("removing an ephemeral container: %v, want Invalid", err)
	}
}
