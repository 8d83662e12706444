package cri

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
)

func TestContainerSecurityContext(t *testing.T) {
	in := agent.ContainerSecurity{
		Namespaces: agent.Namespaces{SharePID: true},
		RunAsUser:  ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)), SupplementalGroups: []int64{2000},
		ReadOnlyRootFS: true, NoNewPrivs: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"},
		Seccomp:     agent.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostPath: "/seccomp/p.json"},
		MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"},
	}
	want := &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_POD, Ipc: runtimeapi.NamespaceMode_POD},
		RunAsUser:        &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 3000}, SupplementalGroups: []int64{2000},
		ReadonlyRootfs: true, NoNewPrivs: true,
		Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}},
		Seccomp:      &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "/seccomp/p.json"},
		MaskedPaths:  []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"},
	}
	if diff := cmp.Diff(want, containerSecurityContext(in), protocmp.Transform()); diff != "" {
		t.Errorf("containerSecurityContext (-want +got):\n%s", diff)
	}
}

func TestNamespaceOptions(t *testing.T) {
	tests := []struct {
		name string
		in   agent.Namespaces
		want *runtimeapi.NamespaceOption
	}{
		{"own PID namespace per container by default", agent.Namespaces{},
			&runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}},
		{"node namespaces", agent.Namespaces{HostNetwork: true, HostPID: true, HostIPC: true, SharePID: true},
			&runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, namespaceOptions(tt.in), protocmp.Transform()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestContainerResourcesNoSwap(t *testing.T) {
	got := containerResources(agent.ContainerResources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20, OOMScoreAdj: 0})
	want := &runtimeapi.LinuxContainerResources{CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20, MemorySwapLimitInBytes: 64 << 20}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("containerResources (-want +got):\n%s", diff)
	}
}
