package podsecurity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// podOf builds a pod with containers of the given names and lets edit
// change it.
func podOf(edit func(m *metav1.ObjectMeta, s *corev1.PodSpec), names ...string) (*metav1.ObjectMeta, *corev1.PodSpec) {
	m := &metav1.ObjectMeta{Name: "p", Annotations: map[string]string{}}
	s := &corev1.PodSpec{}
	for _, n := range names {
		s.Containers = append(s.Containers, corev1.Container{Name: n, Image: "img"})
	}
	if edit != nil {
		edit(m, s)
	}
	return m, s
}

func sc(s *corev1.PodSpec, i int) *corev1.SecurityContext {
	if s.Containers[i].SecurityContext == nil {
		s.Containers[i].SecurityContext = &corev1.SecurityContext{}
	}
	return s.Containers[i].SecurityContext
}

func podSC(s *corev1.PodSpec) *corev1.PodSecurityContext {
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	return s.SecurityContext
}

// TestChecks runs each control's check on pods that pass and pods that
// fail it, with the reason and detail upstream reports.
func TestChecks(t *testing.T) {
	tests := []struct {
		name       string
		check      checkFn
		edit       func(m *metav1.ObjectMeta, s *corev1.PodSpec)
		containers []string
		want       Result
	}{
		// hostNamespaces
		{name: "host namespaces unset", check: hostNamespaces, containers: []string{"a"}, want: allowed},
		{name: "host namespaces all", check: hostNamespaces, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.HostNetwork, s.HostPID, s.HostIPC = true, true, true },
			want: Result{Reason: "host namespaces", Detail: "hostNetwork=true, hostPID=true, hostIPC=true"}},

		// privileged
		{name: "privileged false", check: privileged, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { sc(s, 0).Privileged = ptr.To(false) }, want: allowed},
		{name: "privileged true", check: privileged, containers: []string{"a", "d", "e"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 1).Privileged = ptr.To(true)
				sc(s, 2).Privileged = ptr.To(true)
			},
			want: Result{Reason: "privileged", Detail: `containers "d", "e" must not set securityContext.privileged=true`}},

		// capabilities_baseline
		{name: "baseline capabilities default set", check: capabilitiesBaseline, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"CHOWN", "NET_BIND_SERVICE", "SYS_CHROOT"}}
			}, want: allowed},
		{name: "baseline capabilities beyond default", check: capabilitiesBaseline, containers: []string{"a", "b", "c"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"FOO", "CHOWN"}}
				sc(s, 1).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"BAZ", "BAR"}}
				sc(s, 2).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"KILL"}}
			},
			want: Result{Reason: "non-default capabilities", Detail: `containers "a", "b" must not include "BAR", "BAZ", "FOO" in securityContext.capabilities.add`}},

		// hostPathVolumes
		{name: "no hostPath", check: hostPathVolumes, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			}, want: allowed},
		{name: "hostPath", check: hostPathVolumes, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/a"}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/b"}}},
				}
			},
			want: Result{Reason: "hostPath volumes", Detail: `volumes "a", "b"`}},

		// hostPorts
		{name: "container ports only", check: hostPorts, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
			}, want: allowed},
		{name: "one host port", check: hostPorts, containers: []string{"a", "b"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 20}}
			},
			want: Result{Reason: "hostPort", Detail: `container "b" uses hostPort 20`}},
		{name: "host ports", check: hostPorts, containers: []string{"a", "b", "c"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[1].Ports = []corev1.ContainerPort{{HostPort: 20}, {HostPort: 10}}
				s.Containers[2].Ports = []corev1.ContainerPort{{HostPort: 30}}
			},
			want: Result{Reason: "hostPort", Detail: `containers "b", "c" use hostPorts 10, 20, 30`}},

		// appArmorProfile
		{name: "apparmor runtime default and localhost", check: appArmor, containers: []string{"a"},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
				sc(s, 0).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("x")}
				m.Annotations["container.apparmor.security.beta.kubernetes.io/a"] = "localhost/x"
			}, want: allowed},
		{name: "apparmor unconfined pod", check: appArmor, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
			},
			want: Result{Reason: "forbidden AppArmor profile", Detail: `pod must not set AppArmor profile type to "Unconfined"`}},
		{name: "apparmor container and annotations", check: appArmor, containers: []string{"foo"},
			edit: func(m *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
				m.Annotations["container.apparmor.security.beta.kubernetes.io/foo"] = "unconfined"
			},
			want: Result{Reason: "forbidden AppArmor profiles",
				Detail: `container "foo" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/foo="unconfined""`}},

		// seLinuxOptions
		{name: "selinux allowed type", check: seLinux(safeSELinux31), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).SELinuxOptions = &corev1.SELinuxOptions{Type: "container_engine_t", Level: "s0"}
			}, want: allowed},
		{name: "selinux before 1.31 refuses container_engine_t", check: seLinux(safeSELinux0), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).SELinuxOptions = &corev1.SELinuxOptions{Type: "container_engine_t"}
			},
			want: Result{Reason: "seLinuxOptions", Detail: `pod set forbidden securityContext.seLinuxOptions: type "container_engine_t"`}},
		{name: "selinux types user role", check: seLinux(safeSELinux31), containers: []string{"a", "e", "f", "g"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).SELinuxOptions = &corev1.SELinuxOptions{Type: "foo"}
				sc(s, 1).SELinuxOptions = &corev1.SELinuxOptions{Type: "bar"}
				sc(s, 2).SELinuxOptions = &corev1.SELinuxOptions{User: "u"}
				sc(s, 3).SELinuxOptions = &corev1.SELinuxOptions{Role: "r"}
			},
			want: Result{Reason: "seLinuxOptions", Detail: `pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set`}},

		// procMount
		{name: "procMount default", check: procMount, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { sc(s, 0).ProcMount = ptr.To(corev1.DefaultProcMount) }, want: allowed},
		{name: "procMount unmasked", check: procMount, containers: []string{"a", "d", "e"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 1).ProcMount = ptr.To(corev1.UnmaskedProcMount)
				sc(s, 2).ProcMount = ptr.To(corev1.ProcMountType("other"))
			},
			want: Result{Reason: "procMount", Detail: `containers "d", "e" must not set securityContext.procMount to "Unmasked", "other"`}},
		{name: "procMount unmasked in a user namespace (1.35 baseline)", check: unlessUserNamespace(procMount), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.HostUsers = ptr.To(false)
				sc(s, 0).ProcMount = ptr.To(corev1.UnmaskedProcMount)
			}, want: allowed},

		// seccompProfile_baseline
		{name: "seccomp baseline unset", check: seccompBaseline, containers: []string{"a"}, want: allowed},
		{name: "seccomp baseline unconfined", check: seccompBaseline, containers: []string{"a", "c", "d"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
				sc(s, 1).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
				sc(s, 2).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			},
			want: Result{Reason: "seccompProfile", Detail: `pod and containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"`}},
		{name: "seccomp annotations before 1.19", check: seccompAnnotations, containers: []string{"a", "b"},
			edit: func(m *metav1.ObjectMeta, _ *corev1.PodSpec) {
				m.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined"
				m.Annotations["container.seccomp.security.alpha.kubernetes.io/a"] = "unconfined"
				m.Annotations["container.seccomp.security.alpha.kubernetes.io/b"] = "unknown"
			},
			want: Result{Reason: "seccompProfile", Detail: `forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="unconfined", container.seccomp.security.alpha.kubernetes.io/b="unknown", seccomp.security.alpha.kubernetes.io/pod="unconfined"`}},
		{name: "seccomp annotations allowed", check: seccompAnnotations, containers: []string{"a"},
			edit: func(m *metav1.ObjectMeta, _ *corev1.PodSpec) {
				m.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = "docker/default"
				m.Annotations["container.seccomp.security.alpha.kubernetes.io/a"] = "localhost/x"
			}, want: allowed},

		// sysctls
		{name: "safe sysctls", check: sysctls(safeSysctls(37)), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).Sysctls = []corev1.Sysctl{{Name: "kernel.shm_rmid_forced"}, {Name: "net.ipv4.tcp_notsent_lowat"}}
			}, want: allowed},
		{name: "unsafe sysctls", check: sysctls(safeSysctls(37)), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).Sysctls = []corev1.Sysctl{{Name: "a"}, {Name: "b"}}
			},
			want: Result{Reason: "forbidden sysctls", Detail: "a, b"}},
		{name: "sysctl safe only from 1.32", check: sysctls(safeSysctls(29)), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).Sysctls = []corev1.Sysctl{{Name: "net.ipv4.tcp_rmem"}}
			},
			want: Result{Reason: "forbidden sysctls", Detail: "net.ipv4.tcp_rmem"}},

		// windowsHostProcess
		{name: "hostProcess false", check: windowsHostProcess, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(false)}
			}, want: allowed},
		{name: "hostProcess true", check: windowsHostProcess, containers: []string{"a", "e", "f"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
				sc(s, 1).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
				sc(s, 2).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr.To(true)}
			},
			want: Result{Reason: "hostProcess", Detail: `pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true`}},

		// hostProbesAndHostLifecycle
		{name: "probes without host", check: probeHosts, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/"}}}
			}, want: allowed},
		{name: "probe and lifecycle hosts", check: probeHosts, containers: []string{"a", "b"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "b.com"}}}
				s.Containers[1].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: "a.com"}}}
			},
			want: Result{Reason: "probe or lifecycle host", Detail: `containers "a", "b" use probe or lifecycle hosts "a.com", "b.com"`}},

		// allowPrivilegeEscalation
		{name: "privilege escalation false", check: noPrivilegeEscalation, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { sc(s, 0).AllowPrivilegeEscalation = ptr.To(false) }, want: allowed},
		{name: "privilege escalation unset or true", check: noPrivilegeEscalation, containers: []string{"a", "b", "c"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 1).AllowPrivilegeEscalation = ptr.To(true)
				s.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false)}}}
			},
			want: Result{Reason: "allowPrivilegeEscalation != false", Detail: `containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false`}},
		{name: "privilege escalation on windows (1.25)", check: unlessWindows(noPrivilegeEscalation), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.OS = &corev1.PodOS{Name: corev1.Windows} }, want: allowed},

		// capabilities_restricted
		{name: "drop ALL add NET_BIND_SERVICE", check: capabilitiesRestricted, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}
			}, want: allowed},
		{name: "no drop and adds", check: capabilitiesRestricted, containers: []string{"a", "b", "c"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"FOO"}}
				sc(s, 1).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"KILL"}, Add: []corev1.Capability{"BAR", "BAZ"}}
				sc(s, 2).Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"CHOWN"}}
			},
			want: Result{Reason: "unrestricted capabilities",
				Detail: `containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add`}},
		{name: "no capabilities", check: capabilitiesRestricted, containers: []string{"a"},
			want: Result{Reason: "unrestricted capabilities", Detail: `container "a" must set securityContext.capabilities.drop=["ALL"]`}},

		// restrictedVolumes
		{name: "allowed volume types", check: restrictedVolumes, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{
					{Name: "a", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
					{Name: "b", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
					{Name: "c", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "x"}}},
					{Name: "d", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "x"}}},
				}
			}, want: allowed},
		{name: "restricted volume types", check: restrictedVolumes, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{
					{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}},
					{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{}}},
					{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "u"},
				}
			},
			want: Result{Reason: "restricted volume types", Detail: `volumes "h", "n", "u" use restricted volume types "hostPath", "nfs", "unknown"`}},

		// runAsNonRoot
		{name: "runAsNonRoot on pod", check: runAsNonRoot, containers: []string{"a", "b"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { podSC(s).RunAsNonRoot = ptr.To(true) }, want: allowed},
		{name: "runAsNonRoot unset", check: runAsNonRoot, containers: []string{"a", "b"},
			want: Result{Reason: "runAsNonRoot != true", Detail: `pod or containers "a", "b" must set securityContext.runAsNonRoot=true`}},
		{name: "runAsNonRoot false", check: runAsNonRoot, containers: []string{"a", "c", "d"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				sc(s, 0).RunAsNonRoot = ptr.To(true)
				sc(s, 1).RunAsNonRoot = ptr.To(false)
				sc(s, 2).RunAsNonRoot = ptr.To(false)
			},
			want: Result{Reason: "runAsNonRoot != true", Detail: `containers "c", "d" must not set securityContext.runAsNonRoot=false`}},
		{name: "runAsNonRoot in a user namespace (1.35)", check: unlessUserNamespace(runAsNonRoot), containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.HostUsers = ptr.To(false) }, want: allowed},

		// runAsUser
		{name: "runAsUser non-zero", check: runAsNonZeroUser, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { podSC(s).RunAsUser = ptr.To[int64](1000) }, want: allowed},
		{name: "runAsUser zero", check: runAsNonZeroUser, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { podSC(s).RunAsUser = ptr.To[int64](0) },
			want: Result{Reason: "runAsUser=0", Detail: "pod must not set runAsUser=0"}},

		// seccompProfile_restricted
		{name: "seccomp on pod", check: seccompRestricted, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			}, want: allowed},
		{name: "seccomp unset", check: seccompRestricted, containers: []string{"a", "b"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				s.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}}}
			},
			want: Result{Reason: "seccompProfile", Detail: `pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`}},
		{name: "seccomp unconfined container", check: seccompRestricted, containers: []string{"a"},
			edit: func(_ *metav1.ObjectMeta, s *corev1.PodSpec) {
				podSC(s).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
				sc(s, 0).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			},
			want: Result{Reason: "seccompProfile", Detail: `container "a" must not set securityContext.seccompProfile.type to "Unconfined"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := podOf(tt.edit, tt.containers...)
			if diff := cmp.Diff(tt.want, tt.check(m, s)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}
