package agent

import (
	"fmt"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// The /proc and /sys paths a container does not see (masked) or may not
// write (read-only) unless its procMount is Unmasked, as upstream.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// podNamespaces is which namespaces the pod shares with the node or
// among its containers.
func podNamespaces(pod *corev1.Pod) Namespaces {
	return Namespaces{
		HostNetwork: pod.Spec.HostNetwork,
		HostPID:     pod.Spec.HostPID,
		HostIPC:     pod.Spec.HostIPC,
		SharePID:    pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace,
	}
}

// podGroups is the pod's fsGroup followed by its supplementalGroups.
func podGroups(psc *corev1.PodSecurityContext) []int64 {
	if psc == nil {
		return nil
	}
	var gs []int64
	if psc.FSGroup != nil {
		gs = append(gs, *psc.FSGroup)
	}
	return append(gs, psc.SupplementalGroups...)
}

// sandboxSecurity is the sandbox's security context, as upstream's
// kubelet builds it: the pod's user, group and groups, privileged when
// any container is, the runtime's default seccomp profile whatever the
// pod asks (the pause process needs nothing more) and the pod's sysctls.
func sandboxSecurity(pod *corev1.Pod) SandboxSecurity {
	s := SandboxSecurity{
		Namespaces: podNamespaces(pod),
		Privileged: anyPrivileged(pod),
		Seccomp:    SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return s
	}
	s.RunAsUser, s.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
	s.SupplementalGroups = podGroups(psc)
	if len(psc.Sysctls) > 0 {
		s.Sysctls = make(map[string]string, len(psc.Sysctls))
		for _, sc := range psc.Sysctls {
			s.Sysctls[sc.Name] = sc.Value
		}
	}
	return s
}

func anyPrivileged(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			return true
		}
	}
	return false
}

// effectiveSecurityContext merges the container's security context over
// the fields it shares with the pod's; nil when neither has one.
func effectiveSecurityContext(pod *corev1.Pod, c *corev1.Container) *corev1.SecurityContext {
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil && csc == nil {
		return nil
	}
	eff := &corev1.SecurityContext{}
	if psc != nil {
		eff.SELinuxOptions = psc.SELinuxOptions
		eff.RunAsUser, eff.RunAsGroup, eff.RunAsNonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		eff.SeccompProfile = psc.SeccompProfile
	}
	if csc == nil {
		return eff
	}
	eff.Capabilities, eff.Privileged = csc.Capabilities, csc.Privileged
	eff.ReadOnlyRootFilesystem, eff.AllowPrivilegeEscalation, eff.ProcMount = csc.ReadOnlyRootFilesystem, csc.AllowPrivilegeEscalation, csc.ProcMount
	if csc.SELinuxOptions != nil {
		eff.SELinuxOptions = csc.SELinuxOptions
	}
	if csc.RunAsUser != nil {
		eff.RunAsUser = csc.RunAsUser
	}
	if csc.RunAsGroup != nil {
		eff.RunAsGroup = csc.RunAsGroup
	}
	if csc.RunAsNonRoot != nil {
		eff.RunAsNonRoot = csc.RunAsNonRoot
	}
	if csc.SeccompProfile != nil {
		eff.SeccompProfile = csc.SeccompProfile
	}
	return eff
}

// imageUser is who an image runs as: a uid, or a non-numeric user name.
type imageUser struct {
	UID      *int64
	Username string
}

// containerSecurity is the container's security context as upstream's
// kubelet hands it to the CRI. seccompRoot is the node's folder of
// Localhost profiles. It is pure; a Localhost profile without a name is a
// configuration error.
func containerSecurity(pod *corev1.Pod, c *corev1.Container, img imageUser, seccompRoot string) (ContainerSecurity, error) {
	s := ContainerSecurity{
		Namespaces:         podNamespaces(pod),
		SupplementalGroups: podGroups(pod.Spec.SecurityContext),
	}
	eff := effectiveSecurityContext(pod, c)
	if eff == nil {
		eff = &corev1.SecurityContext{}
	}
	s.RunAsUser, s.RunAsGroup = eff.RunAsUser, eff.RunAsGroup
	if s.RunAsUser == nil {
		s.RunAsUser, s.RunAsUsername = img.UID, img.Username
	}
	s.Privileged = eff.Privileged != nil && *eff.Privileged
	s.ReadOnlyRootFS = eff.ReadOnlyRootFilesystem != nil && *eff.ReadOnlyRootFilesystem
	s.NoNewPrivs = eff.AllowPrivilegeEscalation != nil && !*eff.AllowPrivilegeEscalation
	if caps := eff.Capabilities; caps != nil {
		for _, a := range caps.Add {
			s.CapAdd = append(s.CapAdd, string(a))
		}
		for _, d := range caps.Drop {
			s.CapDrop = append(s.CapDrop, string(d))
		}
	}
	if eff.ProcMount != nil && *eff.ProcMount == corev1.UnmaskedProcMount {
		s.MaskedPaths, s.ReadonlyPaths = []string{}, []string{}
	} else {
		s.MaskedPaths, s.ReadonlyPaths = slices.Clone(defaultMaskedPaths), slices.Clone(defaultReadonlyPaths)
	}
	var err error
	if s.Seccomp, err = seccompProfile(eff.SeccompProfile, seccompRoot); err != nil {
		return s, err
	}
	return s, nil
}

// seccompProfile maps a seccompProfile field to the runtime's: Unconfined
// when unset (the kubelet's seccompDefault is off), the file under the
// node's profile folder for Localhost.
func seccompProfile(p *corev1.SeccompProfile, root string) (SeccompProfile, error) {
	if p == nil {
		return SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}, nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}, nil
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return SeccompProfile{}, &configError{msg: "localhostProfile must be set if seccompProfile type is Localhost."}
		}
		return SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostPath: filepath.Join(root, *p.LocalhostProfile)}, nil
	}
	return SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}, nil
}

// verifyRunAsNonRoot refuses a container whose runAsNonRoot cannot hold,
// with upstream's messages: an explicit uid 0, an image that runs as root
// (no user counts as root), or a non-numeric image user that cannot be
// checked.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, img imageUser) error {
	eff := effectiveSecurityContext(pod, c)
	if eff == nil || eff.RunAsNonRoot == nil || !*eff.RunAsNonRoot {
		return nil
	}
	who := fmt.Sprintf("(pod: %q, container: %s)", podRef(pod), c.Name)
	if eff.RunAsUser != nil {
		if *eff.RunAsUser == 0 {
			return &configError{msg: "container's runAsUser breaks non-root policy " + who}
		}
		return nil
	}
	switch {
	case img.UID != nil && *img.UID == 0, img.UID == nil && img.Username == "":
		return &configError{msg: "container has runAsNonRoot and image will run as root " + who}
	case img.UID == nil:
		return &configError{msg: fmt.Sprintf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root %s", img.Username, who)}
	}
	return nil
}

// podRef names a pod as upstream's logs and messages do: name_ns(uid).
func podRef(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
