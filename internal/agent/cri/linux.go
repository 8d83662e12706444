package cri

import (
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent"
)

// namespaceOptions maps the pod's namespace sharing to the CRI's: the
// pod's own network and IPC namespaces unless it shares the node's, and a
// PID namespace per container unless the pod shares one (or the node's).
func namespaceOptions(ns agent.Namespaces) *runtimeapi.NamespaceOption {
	o := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if ns.HostNetwork {
		o.Network = runtimeapi.NamespaceMode_NODE
	}
	if ns.HostIPC {
		o.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case ns.HostPID:
		o.Pid = runtimeapi.NamespaceMode_NODE
	case ns.SharePID:
		o.Pid = runtimeapi.NamespaceMode_POD
	}
	return o
}

func int64Value(v *int64) *runtimeapi.Int64Value {
	if v == nil {
		return nil
	}
	return &runtimeapi.Int64Value{Value: *v}
}

// securityProfile maps a seccomp profile to the CRI's.
func securityProfile(p agent.SeccompProfile) *runtimeapi.SecurityProfile {
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case corev1.SeccompProfileTypeLocalhost:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: p.LocalhostPath}
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
}

// sandboxSecurityContext is the CRI's form of a sandbox's security.
func sandboxSecurityContext(s agent.SandboxSecurity) *runtimeapi.LinuxSandboxSecurityContext {
	return &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions:   namespaceOptions(s.Namespaces),
		RunAsUser:          int64Value(s.RunAsUser),
		RunAsGroup:         int64Value(s.RunAsGroup),
		SupplementalGroups: s.SupplementalGroups,
		Privileged:         s.Privileged,
		Seccomp:            securityProfile(s.Seccomp),
	}
}

// containerSecurityContext is the CRI's form of a container's security.
func containerSecurityContext(s agent.ContainerSecurity) *runtimeapi.LinuxContainerSecurityContext {
	sc := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions:   namespaceOptions(s.Namespaces),
		RunAsUser:          int64Value(s.RunAsUser),
		RunAsGroup:         int64Value(s.RunAsGroup),
		RunAsUsername:      s.RunAsUsername,
		SupplementalGroups: s.SupplementalGroups,
		Privileged:         s.Privileged,
		ReadonlyRootfs:     s.ReadOnlyRootFS,
		NoNewPrivs:         s.NoNewPrivs,
		Seccomp:            securityProfile(s.Seccomp),
		MaskedPaths:        s.MaskedPaths,
		ReadonlyPaths:      s.ReadonlyPaths,
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		sc.Capabilities = &runtimeapi.Capability{AddCapabilities: s.CapAdd, DropCapabilities: s.CapDrop}
	}
	return sc
}

// containerResources is the CRI's form of a container's resources. With
// no swap allowed (cgroup v1), the memory+swap limit equals the memory
// limit, as upstream sets it.
func containerResources(r agent.ContainerResources) *runtimeapi.LinuxContainerResources {
	return &runtimeapi.LinuxContainerResources{
		CpuShares:              r.CPUShares,
		CpuQuota:               r.CPUQuota,
		CpuPeriod:              r.CPUPeriod,
		MemoryLimitInBytes:     r.MemoryLimit,
		MemorySwapLimitInBytes: r.MemoryLimit,
		OomScoreAdj:            r.OOMScoreAdj,
	}
}

// reportedResources is the agent's form of the resources a runtime
// reports in a container's status; nil when it reports none.
func reportedResources(r *runtimeapi.ContainerResources) *agent.ContainerResources {
	if r == nil || r.Linux == nil {
		return nil
	}
	l := r.Linux
	return &agent.ContainerResources{CPUShares: l.CpuShares, CPUQuota: l.CpuQuota, CPUPeriod: l.CpuPeriod, MemoryLimit: l.MemoryLimitInBytes, OOMScoreAdj: l.OomScoreAdj}
}
