package admission

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff/internal/apiserver/admission/podsecurity"
)

// psCluster serves namespaces and pods to the plugin.
type psCluster struct {
	namespaces map[string]*corev1.Namespace
	pods       []*corev1.Pod
}

func (c *psCluster) List(gvr schema.GroupVersionResource, ns string) []runtime.Object {
	var out []runtime.Object
	if gvr == podsGVR {
		for _, p := range c.pods {
			if p.Namespace == ns {
				out = append(out, p)
			}
		}
	}
	return out
}

func (c *psCluster) Get(schema.GroupVersionResource, string, string) (runtime.Object, bool) {
	return nil, false
}

func (c *psCluster) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func (c *psCluster) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	ns, ok := c.namespaces[name]
	if !ok {
		return nil, apierrors.NewNotFound(namespacesGVR.GroupResource(), name)
	}
	return ns, nil
}

func labelledNS(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func hostNetPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
}

// psResult is what a request gets: the error, warnings and audit
// annotations.
type psResult struct {
	Err         string
	Warnings    []string
	Annotations map[string]string
}

func runPodSecurity(t *testing.T, p *podSecurity, a *Attributes) psResult {
	t.Helper()
	var r psResult
	ctx := WithWarnings(context.Background(), func(m []string) { r.Warnings = append(r.Warnings, m...) })
	ctx = WithAuditAnnotations(ctx, func(kv map[string]string) {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		for k, v := range kv {
			r.Annotations[k] = v
		}
	})
	if err := p.Validate(ctx, a); err != nil {
		r.Err = err.Error()
	}
	return r
}

func TestPodSecurity(t *testing.T) {
	restricted := map[string]string{podsecurity.EnforceLevelLabel: "restricted"}
	cluster := &psCluster{namespaces: map[string]*corev1.Namespace{
		"plain":       labelledNS("plain", nil),
		"strict":      labelledNS("strict", restricted),
		"exempt":      labelledNS("exempt", restricted),
		"warned":      labelledNS("warned", map[string]string{podsecurity.WarnLevelLabel: "baseline", podsecurity.AuditLevelLabel: "baseline", podsecurity.AuditVersionLabel: "v1.30"}),
		"badlabel":    labelledNS("badlabel", map[string]string{podsecurity.EnforceLevelLabel: "nope"}),
		"kube-system": labelledNS("kube-system", nil),
	}}
	cfg := &podsecurity.Configuration{Exemptions: podsecurity.Exemptions{
		Namespaces: []string{"exempt"}, Usernames: []string{"admin"}, RuntimeClasses: []string{"kata"},
	}}
	p := newPodSecurity(cfg, cluster, cluster)
	pods := podsGVR
	deployments := appsv1.SchemeGroupVersion.WithResource("deployments")
	strictMsg := `pods "x" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	withImage := func(p *corev1.Pod, image string) *corev1.Pod {
		p = p.DeepCopy()
		p.Spec.Containers[0].Image = image
		return p
	}
	kata := hostNetPod("strict", "x")
	kata.Spec.RuntimeClassName = ptr.To("kata")
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "warned", Name: "d"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: hostNetPod("", "").Spec}}}

	tests := []struct {
		name string
		a    *Attributes
		want psResult
	}{
		{name: "privileged namespace allows anything",
			a:    &Attributes{Resource: pods, Namespace: "plain", Name: "x", Operation: Create, Object: hostNetPod("plain", "x")},
			want: psResult{Annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}}},
		{name: "kube-system is not special",
			a:    &Attributes{Resource: pods, Namespace: "kube-system", Name: "x", Operation: Create, Object: hostNetPod("kube-system", "x")},
			want: psResult{Annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}}},
		{name: "enforce refuses with upstream's message",
			a: &Attributes{Resource: pods, Namespace: "strict", Name: "x", Operation: Create, Object: hostNetPod("strict", "x")},
			want: psResult{Err: strictMsg, Annotations: map[string]string{
				"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}}},
		{name: "exempt namespace",
			a:    &Attributes{Resource: pods, Namespace: "exempt", Name: "x", Operation: Create, Object: hostNetPod("exempt", "x")},
			want: psResult{Annotations: map[string]string{"pod-security.kubernetes.io/exempt": "namespace"}}},
		{name: "exempt user",
			a: &Attributes{Resource: pods, Namespace: "strict", Name: "x", Operation: Create, Object: hostNetPod("strict", "x"),
				User: authenticationv1.UserInfo{Username: "admin"}},
			want: psResult{Annotations: map[string]string{"pod-security.kubernetes.io/exempt": "user"}}},
		{name: "exempt runtime class",
			a:    &Attributes{Resource: pods, Namespace: "strict", Name: "x", Operation: Create, Object: kata},
			want: psResult{Annotations: map[string]string{"pod-security.kubernetes.io/exempt": "runtimeClass"}}},
		{name: "warn and audit, not enforce",
			a: &Attributes{Resource: pods, Namespace: "warned", Name: "x", Operation: Create, Object: hostNetPod("warned", "x")},
			want: psResult{
				Warnings: []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
				Annotations: map[string]string{
					"pod-security.kubernetes.io/enforce-policy":   "privileged:latest",
					"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true)`,
				}}},
		{name: "bad labels enforce restricted and are reported",
			a: &Attributes{Resource: pods, Namespace: "badlabel", Name: "x", Operation: Create, Object: withImage(hostNetPod("badlabel", "x"), "i")},
			want: psResult{Err: `pods "x" is forbidden: violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), ` +
				`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
				`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
				`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
				`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
				Annotations: map[string]string{
					"pod-security.kubernetes.io/enforce-policy": "restricted:latest",
					"pod-security.kubernetes.io/error":          `Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "nope": must be one of privileged, baseline, restricted`,
				}}},
		{name: "an update that changes no image passes",
			a: &Attributes{Resource: pods, Namespace: "strict", Name: "x", Operation: Update,
				Object: hostNetPod("strict", "x"), OldObject: hostNetPod("strict", "x")}},
		{name: "an update that changes an image is checked",
			a: &Attributes{Resource: pods, Namespace: "strict", Name: "x", Operation: Update,
				Object: withImage(hostNetPod("strict", "x"), "new"), OldObject: hostNetPod("strict", "x")},
			want: psResult{Err: strictMsg, Annotations: map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"}}},
		{name: "status updates are not checked",
			a: &Attributes{Resource: pods, SubResource: "status", Namespace: "strict", Name: "x", Operation: Update,
				Object: withImage(hostNetPod("strict", "x"), "new"), OldObject: hostNetPod("strict", "x")}},
		{name: "templates are warned about, not refused",
			a: &Attributes{Resource: deployments, Namespace: "warned", Name: "d", Operation: Create, Object: deploy},
			want: psResult{
				Warnings: []string{`would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`},
				Annotations: map[string]string{
					"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true)`,
				}}},
		{name: "templates in an enforcing namespace",
			a:    &Attributes{Resource: deployments, Namespace: "strict", Name: "d", Operation: Create, Object: deploy},
			want: psResult{Warnings: []string{`would violate PodSecurity "restricted:latest": ` + strictMsg[len(`pods "x" is forbidden: violates PodSecurity "restricted:latest": `):]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runPodSecurity(t, p, tt.a)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodSecurityNamespaces(t *testing.T) {
	owner := func(p *corev1.Pod, uid string) *corev1.Pod {
		p.OwnerReferences = []metav1.OwnerReference{{UID: types.UID(uid), Controller: ptr.To(true), Name: uid, Kind: "ReplicaSet", APIVersion: "apps/v1"}}
		return p
	}
	privilegedPod := hostNetPod("apps", "b-priv")
	privilegedPod.Spec.HostNetwork = false
	privilegedPod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	cluster := &psCluster{pods: []*corev1.Pod{
		owner(hostNetPod("apps", "web-2"), "rs1"),
		owner(hostNetPod("apps", "web-1"), "rs1"),
		hostNetPod("apps", "solo"),
		privilegedPod,
		{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fine"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}},
	}}
	p := newPodSecurity(&podsecurity.Configuration{Exemptions: podsecurity.Exemptions{Namespaces: []string{"free"}}}, cluster, cluster)
	nsKind := corev1.SchemeGroupVersion.WithKind("Namespace")
	ns := func(name string, labels map[string]string) *corev1.Namespace { return labelledNS(name, labels) }
	tests := []struct {
		name string
		a    *Attributes
		want psResult
	}{
		{name: "create with a bad level is invalid",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "apps", Operation: Create,
				Object: ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "strict", podsecurity.WarnVersionLabel: "1.30"})},
			want: psResult{Err: `Namespace "apps" is invalid: [metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted, ` +
				`metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.30": must be "latest" or "v1.x"]`}},
		{name: "create with good labels",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "apps", Operation: Create,
				Object: ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "restricted"})}},
		{name: "stricter enforce warns about existing pods",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "apps", Operation: Update,
				Object: ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "baseline"}), OldObject: ns("apps", nil)},
			want: psResult{Warnings: []string{
				`existing pods in namespace "apps" violate the new PodSecurity enforce level "baseline:latest"`,
				`b-priv: privileged`,
				`solo (and 2 other pods): host namespaces`,
			}}},
		{name: "a relaxed enforce level is not checked",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "apps", Operation: Update,
				Object:    ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "baseline"}),
				OldObject: ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "restricted"})}},
		{name: "an unchanged bad label may stay",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "apps", Operation: Update,
				Object:    ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "strict", "other": "x"}),
				OldObject: ns("apps", map[string]string{podsecurity.EnforceLevelLabel: "strict"})}},
		{name: "exempt namespaces are told their policy is ignored",
			a: &Attributes{Kind: nsKind, Resource: namespacesGVR, Name: "free", Operation: Update,
				Object: ns("free", map[string]string{podsecurity.EnforceLevelLabel: "baseline"}), OldObject: ns("free", nil)},
			want: psResult{Warnings: []string{`namespace "free" is exempt from Pod Security, and the policy (enforce=baseline:latest) will be ignored`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, runPodSecurity(t, p, tt.a)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("psa.yaml", "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\nexemptions:\n  usernames: [ops]\n")
	byPath := write("bypath.yaml", "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: EventRateLimit\n  path: erl.yaml\n- name: PodSecurity\n  path: psa.yaml\n")
	inline := write("inline.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      warn: restricted
`)
	bad := write("bad.yaml", `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      warn: loud
`)
	got, err := ReadConfigFile(byPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.PodSecurity == nil || got.PodSecurity.Defaults.Enforce != "baseline" || !cmp.Equal(got.PodSecurity.Exemptions.Usernames, []string{"ops"}) ||
		!cmp.Equal(got.Ignored, []string{"EventRateLimit"}) {
		t.Errorf("by path: %+v", got)
	}
	if got, err = ReadConfigFile(inline); err != nil || got.PodSecurity == nil || got.PodSecurity.Defaults.Warn != "restricted" || got.PodSecurity.Defaults.Enforce != "privileged" {
		t.Errorf("inline: %+v, %v", got, err)
	}
	if _, err := ReadConfigFile(bad); err == nil {
		t.Errorf("bad level: no error")
	}
}
