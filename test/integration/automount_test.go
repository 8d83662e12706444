package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/server/servertest"
)

// TestServiceAccountAutomount checks that a service account's
// automountServiceAccountToken: false keeps its token out of its pods,
// unless a pod asks for it.
func TestServiceAccountAutomount(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := ts.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nomount"},
		AutomountServiceAccountToken: ptr.To(false)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the service account in the cache", func(context.Context) (bool, error) {
		_, err := ts.Client.CoreV1().ServiceAccounts("default").Get(ctx, "nomount", metav1.GetOptions{})
		return err == nil, nil
	})
	hasToken := func(name string, automount *bool) bool {
		p, err := ts.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{ServiceAccountName: "nomount", AutomountServiceAccountToken: automount,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				return true
			}
		}
		return false
	}
	if hasToken("plain", nil) {
		t.Error("a pod of an account that opts out got a token volume")
	}
	if !hasToken("asks", ptr.To(true)) {
		t.Error("a pod that opts back in got no token volume")
	}
}
