package podsecurity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// controls are the Pod Security Standards' controls, each with the
// versions at which its check changed.
func controls() []control {
	return []control{
		// Baseline.
		{id: "appArmorProfile", level: Baseline, versions: []versioned{{since: V1(0), check: appArmor}}},
		{id: "capabilities_baseline", level: Baseline, versions: []versioned{{since: V1(0), check: capabilitiesBaseline}}},
		{id: "hostNamespaces", level: Baseline, versions: []versioned{{since: V1(0), check: hostNamespaces}}},
		{id: "hostPathVolumes", level: Baseline, versions: []versioned{{since: V1(0), check: hostPathVolumes}}},
		{id: "hostPorts", level: Baseline, versions: []versioned{{since: V1(0), check: hostPorts}}},
		// Probe and lifecycle hosts are checked from 1.34.
		{id: "hostProbesAndHostLifecycle", level: Baseline, versions: []versioned{{since: V1(34), check: probeHosts}}},
		{id: "privileged", level: Baseline, versions: []versioned{{since: V1(0), check: privileged}}},
		// From 1.35 a pod in a user namespace (hostUsers: false) may set
		// any procMount in baseline.
		{id: "procMount", level: Baseline, versions: []versioned{
			{since: V1(0), check: procMount},
			{since: V1(35), check: unlessUserNamespace(procMount)},
		}},
		// container_engine_t is allowed from 1.31.
		{id: "seLinuxOptions", level: Baseline, versions: []versioned{
			{since: V1(0), check: seLinux(safeSELinux0)},
			{since: V1(31), check: seLinux(safeSELinux31)},
		}},
		// Before 1.19 seccomp was set by annotations.
		{id: "seccompProfile_baseline", level: Baseline, versions: []versioned{
			{since: V1(0), check: seccompAnnotations},
			{since: V1(19), check: seccompBaseline},
		}},
		{id: "sysctls", level: Baseline, versions: []versioned{
			{since: V1(0), check: sysctls(safeSysctls(0))},
			{since: V1(27), check: sysctls(safeSysctls(27))},
			{since: V1(29), check: sysctls(safeSysctls(29))},
			{since: V1(32), check: sysctls(safeSysctls(32))},
			{since: V1(37), check: sysctls(safeSysctls(37))},
		}},
		{id: "windowsHostProcess", level: Baseline, versions: []versioned{{since: V1(0), check: windowsHostProcess}}},

		// Restricted.
		{id: "allowPrivilegeEscalation", level: Restricted, versions: []versioned{
			{since: V1(8), check: noPrivilegeEscalation},
			{since: V1(25), check: unlessWindows(noPrivilegeEscalation)},
		}},
		{id: "capabilities_restricted", level: Restricted, versions: []versioned{
			{since: V1(22), check: capabilitiesRestricted, overrides: []string{"capabilities_baseline"}},
			{since: V1(25), check: unlessWindows(capabilitiesRestricted), overrides: []string{"capabilities_baseline"}},
		}},
		// Restricted keeps the unconditional procMount check once baseline
		// relaxes it for user namespaces.
		{id: "procMount_restricted", level: Restricted, versions: []versioned{
			{since: V1(35), check: procMount, overrides: []string{"procMount"}},
		}},
		{id: "restrictedVolumes", level: Restricted, versions: []versioned{
			{since: V1(0), check: restrictedVolumes, overrides: []string{"hostPathVolumes"}},
		}},
		{id: "runAsNonRoot", level: Restricted, versions: []versioned{
			{since: V1(0), check: runAsNonRoot},
			{since: V1(35), check: unlessUserNamespace(runAsNonRoot)},
		}},
		{id: "runAsUser", level: Restricted, versions: []versioned{
			{since: V1(23), check: runAsNonZeroUser},
			{since: V1(35), check: unlessUserNamespace(runAsNonZeroUser)},
		}},
		{id: "seccompProfile_restricted", level: Restricted, versions: []versioned{
			{since: V1(19), check: seccompRestricted, overrides: []string{"seccompProfile_baseline"}},
			{since: V1(25), check: unlessWindows(seccompRestricted), overrides: []string{"seccompProfile_baseline"}},
		}},
	}
}

// containers visits init, regular and ephemeral containers, in that order.
func containers(spec *corev1.PodSpec, visit func(c *corev1.Container)) {
	for i := range spec.InitContainers {
		visit(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		visit(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		visit((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
}

// quoted lists items as "a", "b".
func quoted(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return `"` + strings.Join(items, `", "`) + `"`
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// namedContainers is `container "a"` or `containers "a", "b"`.
func namedContainers(names []string) string {
	return plural(len(names), "container", "containers") + " " + quoted(names)
}

// unlessWindows skips a check for pods that declare os.name windows, where
// API validation forbids the Linux fields it looks at.
func unlessWindows(check checkFn) checkFn {
	return func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
		if spec.OS != nil && spec.OS.Name == corev1.Windows {
			return allowed
		}
		return check(meta, spec)
	}
}

// unlessUserNamespace skips a check for pods in their own user namespace
// (hostUsers: false).
func unlessUserNamespace(check checkFn) checkFn {
	return func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
		if spec.HostUsers != nil && !*spec.HostUsers {
			return allowed
		}
		return check(meta, spec)
	}
}

// appArmor allows only the runtime default and localhost profiles, in
// fields and in the deprecated annotations.
func appArmor(meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	okType := func(t corev1.AppArmorProfileType) bool {
		return t == corev1.AppArmorProfileTypeRuntimeDefault || t == corev1.AppArmorProfileTypeLocalhost
	}
	var setters []string
	values := sets.New[string]()
	if sc := spec.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !okType(sc.AppArmorProfile.Type) {
		setters = append(setters, "pod")
		values.Insert(string(sc.AppArmorProfile.Type))
	}
	var bad []string
	containers(spec, func(c *corev1.Container) {
		if sc := c.SecurityContext; sc != nil && sc.AppArmorProfile != nil && !okType(sc.AppArmorProfile.Type) {
			bad = append(bad, c.Name)
			values.Insert(string(sc.AppArmorProfile.Type))
		}
	})
	if len(bad) > 0 {
		setters = append(setters, namedContainers(bad))
	}
	var annotations []string
	for k, v := range meta.Annotations {
		if !strings.HasPrefix(k, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix) {
			continue
		}
		if v == "" || v == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault || strings.HasPrefix(v, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
			continue
		}
		annotations = append(annotations, fmt.Sprintf("%s=%q", k, v))
	}
	all := sets.List(values)
	if len(annotations) > 0 {
		sort.Strings(annotations)
		all = append(all, annotations...)
		setters = append(setters, plural(len(annotations), "annotation", "annotations"))
	}
	if len(setters) == 0 {
		return allowed
	}
	return Result{
		Reason: plural(len(all), "forbidden AppArmor profile", "forbidden AppArmor profiles"),
		Detail: fmt.Sprintf("%s must not set AppArmor profile type to %s", strings.Join(setters, " and "), quoted(all)),
	}
}

// defaultCapabilities are those a container runtime grants by default;
// baseline allows adding only these.
var defaultCapabilities = sets.New("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")

func capabilitiesBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	caps := sets.New[string]()
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			return
		}
		found := false
		for _, add := range c.SecurityContext.Capabilities.Add {
			if !defaultCapabilities.Has(string(add)) {
				found = true
				caps.Insert(string(add))
			}
		}
		if found {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return allowed
	}
	return Result{
		Reason: "non-default capabilities",
		Detail: fmt.Sprintf("%s must not include %s in securityContext.capabilities.add", namedContainers(bad), quoted(sets.List(caps))),
	}
}

func hostNamespaces(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var set []string
	if spec.HostNetwork {
		set = append(set, "hostNetwork=true")
	}
	if spec.HostPID {
		set = append(set, "hostPID=true")
	}
	if spec.HostIPC {
		set = append(set, "hostIPC=true")
	}
	if len(set) == 0 {
		return allowed
	}
	return Result{Reason: "host namespaces", Detail: strings.Join(set, ", ")}
}

func hostPathVolumes(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var names []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return allowed
	}
	return Result{Reason: "hostPath volumes", Detail: plural(len(names), "volume", "volumes") + " " + quoted(names)}
}

func hostPorts(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	ports := sets.New[string]()
	containers(spec, func(c *corev1.Container) {
		found := false
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				found = true
				ports.Insert(strconv.Itoa(int(p.HostPort)))
			}
		}
		if found {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return allowed
	}
	// Ports sort as strings, as upstream lists them.
	return Result{
		Reason: "hostPort",
		Detail: fmt.Sprintf("%s %s %s %s", namedContainers(bad), plural(len(bad), "uses", "use"),
			plural(ports.Len(), "hostPort", "hostPorts"), strings.Join(sets.List(ports), ", ")),
	}
}

// probeHosts forbids probes and lifecycle handlers that reach another
// host than the pod.
func probeHosts(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	bad := sets.New[string]()
	hosts := sets.New[string]()
	add := func(name string, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction) {
		if http != nil && http.Host != "" {
			bad.Insert(name)
			hosts.Insert(http.Host)
		}
		if tcp != nil && tcp.Host != "" {
			bad.Insert(name)
			hosts.Insert(tcp.Host)
		}
	}
	containers(spec, func(c *corev1.Container) {
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil {
				add(c.Name, p.HTTPGet, p.TCPSocket)
			}
		}
		if c.Lifecycle != nil {
			for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
				if h != nil {
					add(c.Name, h.HTTPGet, h.TCPSocket)
				}
			}
		}
	})
	if bad.Len() == 0 {
		return allowed
	}
	return Result{
		Reason: "probe or lifecycle host",
		Detail: fmt.Sprintf("%s %s %s %s", namedContainers(sets.List(bad)), plural(bad.Len(), "uses", "use"),
			plural(hosts.Len(), "probe or lifecycle host", "probe or lifecycle hosts"), quoted(sets.List(hosts))),
	}
}

func privileged(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			bad = append(bad, c.Name)
		}
	})
	if len(bad) == 0 {
		return allowed
	}
	return Result{Reason: "privileged", Detail: namedContainers(bad) + " must not set securityContext.privileged=true"}
}

// procMount allows only the default, masked /proc.
func procMount(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	var bad []string
	types := sets.New[string]()
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext == nil || c.SecurityContext.ProcMount == nil || *c.SecurityContext.ProcMount == corev1.DefaultProcMount {
			return
		}
		bad = append(bad, c.Name)
		types.Insert(string(*c.SecurityContext.ProcMount))
	})
	if len(bad) == 0 {
		return allowed
	}
	return Result{
		Reason: "procMount",
		Detail: fmt.Sprintf("%s must not set securityContext.procMount to %s", namedContainers(bad), quoted(sets.List(types))),
	}
}

// The SELinux types baseline allows: container_engine_t from 1.31.
var (
	safeSELinux0  = sets.New("", "container_t", "container_init_t", "container_kvm_t")
	safeSELinux31 = sets.New("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
)

// seLinux allows the given types and no user or role.
func seLinux(types sets.Set[string]) checkFn {
	return func(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
		badTypes := sets.New[string]()
		userSet, roleSet := false, false
		ok := func(o *corev1.SELinuxOptions) bool {
			good := true
			if !types.Has(o.Type) {
				good = false
				badTypes.Insert(o.Type)
			}
			if o.User != "" {
				good, userSet = false, true
			}
			if o.Role != "" {
				good, roleSet = false, true
			}
			return good
		}
		var setters []string
		if sc := spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil && !ok(sc.SELinuxOptions) {
			setters = append(setters, "pod")
		}
		var bad []string
		containers(spec, func(c *corev1.Container) {
			if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil && !ok(sc.SELinuxOptions) {
				bad = append(bad, c.Name)
			}
		})
		if len(bad) > 0 {
			setters = append(setters, namedContainers(bad))
		}
		if len(setters) == 0 {
			return allowed
		}
		var what []string
		if badTypes.Len() > 0 {
			what = append(what, plural(badTypes.Len(), "type", "types")+" "+quoted(sets.List(badTypes)))
		}
		if userSet {
			what = append(what, "user may not be set")
		}
		if roleSet {
			what = append(what, "role may not be set")
		}
		return Result{
			Reason: "seLinuxOptions",
			Detail: fmt.Sprintf("%s set forbidden securityContext.seLinuxOptions: %s", strings.Join(setters, " and "), strings.Join(what, "; ")),
		}
	}
}

const (
	seccompPodAnnotation             = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotationPrefix = "container.seccomp.security.alpha.kubernetes.io/"
)

// seccompAnnotations is the check before 1.19: the alpha annotations may
// name only the runtime's default or a localhost profile.
func seccompAnnotations(meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	ok := func(v string) bool {
		return v == corev1.SeccompProfileRuntimeDefault || v == corev1.DeprecatedSeccompProfileDockerDefault ||
			strings.HasPrefix(v, corev1.SeccompLocalhostProfileNamePrefix)
	}
	bad := sets.New[string]()
	if v, found := meta.Annotations[seccompPodAnnotation]; found && !ok(v) {
		bad.Insert(fmt.Sprintf("%s=%q", seccompPodAnnotation, v))
	}
	containers(spec, func(c *corev1.Container) {
		key := seccompContainerAnnotationPrefix + c.Name
		if v, found := meta.Annotations[key]; found && !ok(v) {
			bad.Insert(fmt.Sprintf("%s=%q", key, v))
		}
	})
	if bad.Len() == 0 {
		return allowed
	}
	return Result{
		Reason: "seccompProfile",
		Detail: fmt.Sprintf("forbidden %s %s", plural(bad.Len(), "annotation", "annotations"), strings.Join(sets.List(bad), ", ")),
	}
}

func seccompTypeOK(t corev1.SeccompProfileType) bool {
	return t == corev1.SeccompProfileTypeRuntimeDefault || t == corev1.SeccompProfileTypeLocalhost
}

// seccompExplicit finds the pod and containers that set a profile type
// other than RuntimeDefault or Localhost. podOK reports whether the pod
// sets a good one; unset lists containers that set none.
func seccompExplicit(spec *corev1.PodSpec) (setters []string, values sets.Set[string], podOK bool, unset []string) {
	values = sets.New[string]()
	if sc := spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		if seccompTypeOK(sc.SeccompProfile.Type) {
			podOK = true
		} else {
			setters = append(setters, "pod")
			values.Insert(string(sc.SeccompProfile.Type))
		}
	}
	var bad []string
	containers(spec, func(c *corev1.Container) {
		sc := c.SecurityContext
		if sc == nil || sc.SeccompProfile == nil {
			unset = append(unset, c.Name)
			return
		}
		if !seccompTypeOK(sc.SeccompProfile.Type) {
			bad = append(bad, c.Name)
			values.Insert(string(sc.SeccompProfile.Type))
		}
	})
	if len(bad) > 0 {
		setters = append(setters, namedContainers(bad))
	}
	return setters, values, podOK, unset
}

func seccompBaseline(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	setters, values, _, _ := seccompExplicit(spec)
	if len(setters) == 0 {
		return allowed
	}
	return Result{
		Reason: "seccompProfile",
		Detail: fmt.Sprintf("%s must not set securityContext.seccompProfile.type to %s", strings.Join(setters, " and "), quoted(sets.List(values))),
	}
}

// safeSysctls are the namespaced sysctls baseline allows, as of a minor
// version.
func safeSysctls(minor int) sets.Set[string] {
	s := sets.New("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
		"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")
	if minor >= 27 {
		s.Insert("net.ipv4.ip_local_reserved_ports")
	}
	if minor >= 29 {
		s.Insert("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")
	}
	if minor >= 32 {
		s.Insert("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")
	}
	if minor >= 37 {
		s.Insert("net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat")
	}
	return s
}

func sysctls(safe sets.Set[string]) checkFn {
	return func(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
		if spec.SecurityContext == nil {
			return allowed
		}
		var bad []string
		for _, s := range spec.SecurityContext.Sysctls {
			if !safe.Has(s.Name) {
				bad = append(bad, s.Name)
			}
		}
		if len(bad) == 0 {
			return allowed
		}
		return Result{Reason: "forbidden sysctls", Detail: strings.Join(bad, ", ")}
	}
}

func windowsHostProcess(_ *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	hostProcess := func(sc *corev1.WindowsSecurityContextOptions) bool {
		return sc != nil && sc.HostProcess != nil && *sc.HostProcess
	}
	var bad []string
	containers(spec, func(c *corev1.Container) {
		if c.SecurityContext != nil && hostProcess(c.SecurityContext.WindowsOptions) {
			bad = append(bad, c.Name)
		}
	})
	var setters []string
	if spec.SecurityContext != nil && hostProcess(spec.SecurityContext.WindowsOptions) {
		setters = append(setters, "pod")
	}
	if len(bad) > 0 {
		setters = append(setters, namedContainers(bad))
	}
	if len(setters) == 0 {
		return allowed
	}
	return Result{
		Reason: "hostProcess",
		Detail: strings.Join(setters, " and ") + " must not set securityContext.windowsOptions.hostProcess=true",
	}
}
