package podsecurity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// restrictedPod passes restricted at every version.
func restrictedPod(m *metav1.ObjectMeta, s *corev1.PodSpec) {
	podSC(s).RunAsNonRoot = ptr.To(true)
	podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	for i := range s.Containers {
		sc(s, i).AllowPrivilegeEscalation = ptr.To(false)
		sc(s, i).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	}
}

func TestEvaluate(t *testing.T) {
	e := NewEvaluator()
	tests := []struct {
		name string
		lv   LevelVersion
		edit func(m *metav1.ObjectMeta, s *corev1.PodSpec)
		want string // Details; "" when allowed
	}{
		{name: "privileged checks nothing", lv: LevelVersion{Privileged, Latest},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.HostNetwork = true
				sc(s, 0).Privileged = ptr.To(true)
			}},
		{name: "baseline passes a plain pod", lv: LevelVersion{Baseline, Latest}},
		{name: "restricted passes a restricted pod", lv: LevelVersion{Restricted, Latest}, edit: restrictedPod},
		{name: "restricted reports baseline first, then restricted, by ID", lv: LevelVersion{Restricted, Latest},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.HostNetwork = true },
			want: `host namespaces (hostNetwork=true), allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
				`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
				`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
				`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{name: "baseline ignores restricted controls", lv: LevelVersion{Baseline, Latest},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.HostPID = true; sc(s, 0).Privileged = ptr.To(true) },
			want: `host namespaces (hostPID=true), privileged (container "c" must not set securityContext.privileged=true)`},
		{name: "restricted replaces hostPathVolumes by restrictedVolumes", lv: LevelVersion{Restricted, Latest},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
			},
			want: `restricted volume types (volume "h" uses restricted volume type "hostPath")`},
		{name: "baseline reports hostPath volumes", lv: LevelVersion{Baseline, Latest},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}}}
			},
			want: `hostPath volumes (volume "h")`},
		// Version pinning.
		{name: "runAsUser=0 is checked from 1.23", lv: LevelVersion{Restricted, V1(23)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				sc(s, 0).RunAsUser = ptr.To[int64](0)
			},
			want: `runAsUser=0 (container "c" must not set runAsUser=0)`},
		{name: "runAsUser=0 is not checked at 1.22", lv: LevelVersion{Restricted, V1(22)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				sc(s, 0).RunAsUser = ptr.To[int64](0)
			}},
		{name: "before 1.22 restricted checks baseline capabilities", lv: LevelVersion{Restricted, V1(21)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				sc(s, 0).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}
			},
			want: `non-default capabilities (container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add)`},
		{name: "before 1.19 seccomp is read from annotations", lv: LevelVersion{Restricted, V1(18)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				s.SecurityContext.SeccompProfile = nil
				m.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined"
			},
			want: `seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined")`},
		{name: "probe hosts are allowed before 1.34", lv: LevelVersion{Baseline, V1(33)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "x"}}}
			}},
		{name: "probe hosts are refused from 1.34", lv: LevelVersion{Baseline, V1(34)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "x"}}}
			},
			want: `probe or lifecycle host (container "c" uses probe or lifecycle host "x")`},
		{name: "a version after the newest change gets the newest checks", lv: LevelVersion{Baseline, V1(99)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_notsent_lowat"}}
			}},
		{name: "tcp_notsent_lowat is safe only from 1.37", lv: LevelVersion{Baseline, V1(36)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_notsent_lowat"}}
			},
			want: `forbidden sysctls (net.ipv4.tcp_notsent_lowat)`},
		{name: "user namespaces relax runAsNonRoot and baseline procMount from 1.35", lv: LevelVersion{Baseline, V1(35)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.HostUsers = ptr.To(false)
				sc(s, 0).ProcMount = ptr.To(corev1.UnmaskedProcMount)
			}},
		{name: "restricted keeps procMount in user namespaces", lv: LevelVersion{Restricted, V1(35)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				s.SecurityContext.RunAsNonRoot = nil
				s.HostUsers = ptr.To(false)
				sc(s, 0).ProcMount = ptr.To(corev1.UnmaskedProcMount)
			},
			want: `procMount (container "c" must not set securityContext.procMount to "Unmasked")`},
		{name: "before 1.35 user namespaces relax nothing", lv: LevelVersion{Restricted, V1(34)},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				restrictedPod(m, s)
				s.SecurityContext.RunAsNonRoot = nil
				s.HostUsers = ptr.To(false)
			},
			want: `runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)`},
		{name: "windows pods skip linux-only restricted checks from 1.25", lv: LevelVersion{Restricted, V1(25)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.OS = &corev1.PodOS{Name: corev1.Windows}
				podSC(s).RunAsNonRoot = ptr.To(true)
			}},
		{name: "but not at 1.24", lv: LevelVersion{Restricted, V1(24)},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.OS = &corev1.PodOS{Name: corev1.Windows}
				podSC(s).RunAsNonRoot = ptr.To(true)
				podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
				sc(s, 0).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
			},
			want: `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := podOf(tt.edit, "c")
			v := e.Evaluate(tt.lv, m, s)
			if got := v.Details(); got != tt.want {
				t.Errorf("details:\n got %s\nwant %s", got, tt.want)
			}
			if v.Allowed() != (tt.want == "") {
				t.Errorf("allowed = %v with details %q", v.Allowed(), tt.want)
			}
		})
	}
}

func TestViolationsReasons(t *testing.T) {
	m, s := podOf(func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.HostIPC = true; sc(s, 0).Privileged = ptr.To(true) }, "c")
	if got, want := NewEvaluator().Evaluate(LevelVersion{Baseline, Latest}, m, s).Reasons(), "host namespaces, privileged"; got != want {
		t.Errorf("reasons = %q, want %q", got, want)
	}
}

func TestPolicyFromLabels(t *testing.T) {
	def := Policy{Enforce: LevelVersion{Privileged, Latest}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Privileged, Latest}}
	tests := []struct {
		name     string
		labels   map[string]string
		want     Policy
		wantErrs []string
	}{
		{name: "no labels", want: def},
		{name: "enforce restricted, warn follows", labels: map[string]string{EnforceLevelLabel: "restricted", EnforceVersionLabel: "v1.30"},
			want: Policy{Enforce: LevelVersion{Restricted, V1(30)}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Restricted, V1(30)}}},
		{name: "explicit warn stays", labels: map[string]string{EnforceLevelLabel: "restricted", WarnLevelLabel: "baseline"},
			want: Policy{Enforce: LevelVersion{Restricted, Latest}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Baseline, Latest}}},
		{name: "warn version kept when warn follows", labels: map[string]string{EnforceLevelLabel: "baseline", WarnVersionLabel: "v1.20"},
			want: Policy{Enforce: LevelVersion{Baseline, Latest}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Baseline, V1(20)}}},
		{name: "bad values", labels: map[string]string{EnforceLevelLabel: "strict", AuditLevelLabel: "x", WarnVersionLabel: "1.2", EnforceVersionLabel: "v1.02"},
			want: Policy{Enforce: LevelVersion{Restricted, Latest}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Privileged, Latest}},
			wantErrs: []string{
				`metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
				`metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "v1.02": must be "latest" or "v1.x"`,
				`metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "x": must be one of privileged, baseline, restricted`,
				`metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.2": must be "latest" or "v1.x"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := PolicyFromLabels(tt.labels, def)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(Version{})); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErrs, errorStrings(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestDecodeConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Policy
		wantErr string
	}{
		{name: "defaults", in: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n",
			want: Policy{Enforce: LevelVersion{Privileged, Latest}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Privileged, Latest}}},
		{name: "set", in: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\n  enforce-version: v1.30\n  warn: restricted\n",
			want: Policy{Enforce: LevelVersion{Baseline, V1(30)}, Audit: LevelVersion{Privileged, Latest}, Warn: LevelVersion{Restricted, Latest}}},
		{name: "bad level", in: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  audit: loud\n",
			wantErr: `invalid PodSecurityConfiguration: defaults.audit: Invalid value: "loud": must be one of privileged, baseline, restricted`},
		{name: "duplicate exemption", in: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\nexemptions:\n  namespaces: [a, a]\n",
			wantErr: `invalid PodSecurityConfiguration: exemptions.namespaces[1]: Duplicate value: "a"`},
		{name: "unknown field", in: "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefault: {}\n",
			wantErr: `decode PodSecurityConfiguration: error unmarshaling JSON: while decoding JSON: json: unknown field "default"`},
		{name: "unknown version", in: "apiVersion: pod-security.admission.config.k8s.io/v2\nkind: PodSecurityConfiguration\n",
			wantErr: `decode PodSecurityConfiguration: unknown apiVersion "pod-security.admission.config.k8s.io/v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeConfiguration([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.DefaultPolicy(), cmp.AllowUnexported(Version{})); diff != "" {
				t.Errorf("default policy (-want +got):\n%s", diff)
			}
		})
	}
}
