package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// take returns the warnings received since the last take.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// TestPodSecurity checks upstream's PodSecurity admission through a real
// client: enforce refuses a hostNetwork pod with upstream's message, warn
// sends Warning headers for a Deployment's template, and a namespace or a
// user exempt in the admission configuration file passes.
func TestPodSecurity(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "admission.yaml")
	if err := os.WriteFile(config, []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    exemptions:
      namespaces: [exempt]
      usernames: [ops]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := servertest.Start(t, func(cfg *server.Config) { cfg.AdmissionControlConfigFile = config })
	ctx := context.Background()
	w := &warnings{}
	client := ts.ClientFor(t, func(rc *rest.Config) { rc.WarningHandler = w })
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: restricted}},
		{ObjectMeta: metav1.ObjectMeta{Name: "exempt", Labels: restricted}},
		{ObjectMeta: metav1.ObjectMeta{Name: "watched", Labels: map[string]string{"pod-security.kubernetes.io/warn": "baseline"}}},
	} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hostNet := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}

	_, err := client.CoreV1().Pods("strict").Create(ctx, hostNet("x"), metav1.CreateOptions{})
	want := `pods "x" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("hostNetwork pod in a restricted namespace: %v\nwant Forbidden: %s", err, want)
	}
	w.take()

	// A pod that meets restricted passes.
	ok := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}}}}
	if _, err := client.CoreV1().Pods("strict").Create(ctx, ok, metav1.CreateOptions{}); err != nil {
		t.Errorf("restricted pod in a restricted namespace: %v", err)
	}

	// Exempt namespace and exempt user.
	if _, err := client.CoreV1().Pods("exempt").Create(ctx, hostNet("x"), metav1.CreateOptions{}); err != nil {
		t.Errorf("hostNetwork pod in an exempt namespace: %v", err)
	}
	ops := ts.ClientFor(t, func(rc *rest.Config) {
		rc.Impersonate = rest.ImpersonationConfig{UserName: "ops", Groups: []string{"system:masters"}}
	})
	if _, err := ops.CoreV1().Pods("strict").Create(ctx, hostNet("y"), metav1.CreateOptions{}); err != nil {
		t.Errorf("hostNetwork pod by an exempt user: %v", err)
	}

	// warn: a Deployment whose template violates baseline is created,
	// with a warning.
	w.take()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: hostNet("").Spec}}}
	if _, err := client.AppsV1().Deployments("watched").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("deployment: %v", err)
	}
	if diff := cmp.Diff([]string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`}, w.take()); diff != "" {
		t.Errorf("deployment warnings (-want +got):\n%s", diff)
	}

	// Labels: a bad level is refused; a stricter enforce level warns
	// about the pods already there.
	bad := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bad", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}
	_, err = client.CoreV1().Namespaces().Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || err.Error() != `Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted` {
		t.Errorf("namespace with a bad level: %v, want Invalid", err)
	}
	if _, err := client.CoreV1().Pods("watched").Create(ctx, hostNet("h"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.take()
	ns, err := client.CoreV1().Namespaces().Get(ctx, "watched", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{
		`existing pods in namespace "watched" violate the new PodSecurity enforce level "baseline:latest"`,
		`h: host namespaces`,
	}, w.take()); diff != "" {
		t.Errorf("namespace update warnings (-want +got):\n%s", diff)
	}
}
