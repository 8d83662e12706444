package agent

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestContainerSecurity(t *testing.T) {
	root := imageUser{UID: ptr.To(int64(0))}
	unconfined := SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	base := func(s ContainerSecurity) ContainerSecurity {
		if s.MaskedPaths == nil {
			s.MaskedPaths, s.ReadonlyPaths = defaultMaskedPaths, defaultReadonlyPaths
		}
		if s.Seccomp.Type == "" {
			s.Seccomp = unconfined
		}
		return s
	}
	tests := []struct {
		name string
		psc  *corev1.PodSecurityContext
		csc  *corev1.SecurityContext
		pod  func(*corev1.Pod)
		img  imageUser
		want ContainerSecurity
	}{
		{
			name: "nothing set: the image's user, default masks, unconfined",
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0))}),
		},
		{
			name: "image with a user name passes it on",
			img:  imageUser{Username: "www"},
			want: base(ContainerSecurity{RunAsUsername: "www"}),
		},
		{
			name: "pod user and group; fsGroup first among the groups",
			psc:  &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{4000, 5000}},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), SupplementalGroups: []int64{2000, 4000, 5000}}),
		},
		{
			name: "container settings win over the pod's",
			psc:  &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			csc:  &corev1.SecurityContext{RunAsUser: ptr.To(int64(2000)), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(2000)), RunAsGroup: ptr.To(int64(3000))}),
		},
		{
			name: "pod seccomp applies to containers",
			psc:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0)), Seccomp: SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}),
		},
		{
			name: "localhost seccomp profile lives under the node's folder",
			csc:  &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/audit.json")}},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0)), Seccomp: SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostPath: "/var/lib/skiff/agent/seccomp/profiles/audit.json"}}),
		},
		{
			name: "privileged, read-only root, no privilege escalation, capabilities",
			csc: &corev1.SecurityContext{
				Privileged: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
			},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0)), Privileged: true, ReadOnlyRootFS: true, NoNewPrivs: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}}),
		},
		{
			name: "allowPrivilegeEscalation true keeps no_new_privs off",
			csc:  &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0))}),
		},
		{
			name: "unmasked procMount: no masked or read-only paths",
			csc:  &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)},
			img:  root,
			want: base(ContainerSecurity{RunAsUser: ptr.To(int64(0)), MaskedPaths: []string{}, ReadonlyPaths: []string{}}),
		},
		{
			name: "host namespaces and a shared PID namespace",
			pod: func(p *corev1.Pod) {
				p.Spec.HostNetwork, p.Spec.HostIPC = true, true
				p.Spec.ShareProcessNamespace = ptr.To(true)
			},
			img:  root,
			want: base(ContainerSecurity{Namespaces: Namespaces{HostNetwork: true, HostIPC: true, SharePID: true}, RunAsUser: ptr.To(int64(0))}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p").containers("c").obj()
			pod.Spec.SecurityContext = tt.psc
			pod.Spec.Containers[0].SecurityContext = tt.csc
			if tt.pod != nil {
				tt.pod(pod)
			}
			got, err := containerSecurity(pod, &pod.Spec.Containers[0], tt.img, "/var/lib/skiff/agent/seccomp")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("containerSecurity (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContainerSecurityLocalhostWithoutProfile(t *testing.T) {
	pod := testPod("p").containers("c").obj()
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}
	_, err := containerSecurity(pod, &pod.Spec.Containers[0], imageUser{}, "/seccomp")
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a configuration error", err)
	}
}

func TestSandboxSecurity(t *testing.T) {
	pod := testPod("p").init("i").containers("c").obj()
	pod.Spec.HostPID = true
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(1000)), FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{3000},
		Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
	}
	pod.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	want := SandboxSecurity{
		Namespaces: Namespaces{HostPID: true},
		RunAsUser:  ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(1000)), SupplementalGroups: []int64{2000, 3000},
		Privileged: true,
		// The sandbox always gets the runtime's default profile.
		Seccomp: SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"},
	}
	if diff := cmp.Diff(want, sandboxSecurity(pod)); diff != "" {
		t.Errorf("sandboxSecurity (-want +got):\n%s", diff)
	}
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	tests := []struct {
		name string
		psc  *corev1.PodSecurityContext
		csc  *corev1.SecurityContext
		img  imageUser
		want string // "" for no error
	}{
		{name: "not asked", img: imageUser{UID: ptr.To(int64(0))}},
		{name: "runAsNonRoot false", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}, img: imageUser{UID: ptr.To(int64(0))}},
		{
			name: "image runs as root",
			psc:  &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			img:  imageUser{UID: ptr.To(int64(0))},
			want: `container has runAsNonRoot and image will run as root (pod: "p_default(uid-p)", container: c)`,
		},
		{name: "image runs as a user", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, img: imageUser{UID: ptr.To(int64(65534))}},
		{name: "runAsUser set", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000))}, img: imageUser{UID: ptr.To(int64(0))}},
		{
			name: "runAsUser 0",
			csc:  &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(0))},
			want: `container's runAsUser breaks non-root policy (pod: "p_default(uid-p)", container: c)`,
		},
		{
			name: "non-numeric image user",
			csc:  &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)},
			img:  imageUser{Username: "www"},
			want: `container has runAsNonRoot and image has non-numeric user (www), cannot verify user is non-root (pod: "p_default(uid-p)", container: c)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p").containers("c").obj()
			pod.Spec.SecurityContext = tt.psc
			pod.Spec.Containers[0].SecurityContext = tt.csc
			err := verifyRunAsNonRoot(pod, &pod.Spec.Containers[0], tt.img)
			got := ""
			if err != nil {
				got = err.Error()
				var ce *configError
				if !errors.As(err, &ce) {
					t.Errorf("error %v is not a configuration error (CreateContainerConfigError)", err)
				}
			}
			if got != tt.want {
				t.Errorf("verifyRunAsNonRoot = %q, want %q", got, tt.want)
			}
		})
	}
}
