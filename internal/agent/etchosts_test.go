package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 60) + "-b.c-" + strings.Repeat("d", 10)
	tests := []struct {
		name               string
		pod                corev1.Pod
		wantHost, wantDom  string
		wantSandbox        string
		wantSandboxErrText string
	}{
		{name: "pod name", pod: pod("web", corev1.PodSpec{}), wantHost: "web", wantSandbox: "web"},
		{name: "spec hostname", pod: pod("web", corev1.PodSpec{Hostname: "h1"}), wantHost: "h1", wantSandbox: "h1"},
		{
			// Cut at 63, then without the '-' and '.' it would end in.
			name: "long name cut", pod: pod(long, corev1.PodSpec{}),
			wantHost: strings.Repeat("a", 60) + "-b", wantSandbox: strings.Repeat("a", 60) + "-b",
		},
		{
			name: "subdomain", pod: pod("web-0", corev1.PodSpec{Hostname: "web-0", Subdomain: "web"}),
			wantHost: "web-0", wantDom: "web.ns.svc.cluster.local", wantSandbox: "web-0",
		},
		{
			name: "FQDN as hostname", pod: pod("web-0", corev1.PodSpec{Subdomain: "web", SetHostnameAsFQDN: ptr.To(true)}),
			wantHost: "web-0", wantDom: "web.ns.svc.cluster.local", wantSandbox: "web-0.web.ns.svc.cluster.local",
		},
		{
			name: "FQDN too long", pod: pod(strings.Repeat("x", 50), corev1.PodSpec{Subdomain: "web", SetHostnameAsFQDN: ptr.To(true)}),
			wantHost: strings.Repeat("x", 50), wantDom: "web.ns.svc.cluster.local", wantSandboxErrText: "is too long (64 characters is the max, 75 characters requested)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, dom := podHostname(&tt.pod, "cluster.local")
			if host != tt.wantHost || dom != tt.wantDom {
				t.Errorf("podHostname = %q, %q; want %q, %q", host, dom, tt.wantHost, tt.wantDom)
			}
			if len(host) > maxHostnameLen {
				t.Errorf("hostname %q is longer than %d", host, maxHostnameLen)
			}
			sb, err := sandboxHostname(&tt.pod, "cluster.local")
			if tt.wantSandboxErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantSandboxErrText) {
					t.Errorf("sandboxHostname error = %v, want one containing %q", err, tt.wantSandboxErrText)
				}
				return
			}
			if err != nil || sb != tt.wantSandbox {
				t.Errorf("sandboxHostname = %q, %v; want %q", sb, err, tt.wantSandbox)
			}
		})
	}
}

func pod(name string, spec corev1.PodSpec) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name[:min(len(name), 8)])}, Spec: spec}
}

func TestHostsMount(t *testing.T) {
	dir := t.TempDir()
	nodeFile := filepath.Join(dir, "node-hosts")
	if err := os.WriteFile(nodeFile, []byte("127.0.0.1 localhost\n10.0.0.5 node1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{RootDir: dir, ClusterDomain: "cluster.local", NodeHostsFile: nodeFile}}
	aliases := []corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"foo.local", "bar.local"}}}
	tests := []struct {
		name      string
		pod       corev1.Pod
		container corev1.Container
		podIPs    []string
		want      string // "" means no mount
	}{
		{
			name: "pod network", pod: pod("web", corev1.PodSpec{HostAliases: aliases}), podIPs: []string{"10.42.0.7"},
			want: "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
				"10.42.0.7\tweb\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n",
		},
		{
			name: "subdomain", pod: pod("web-0", corev1.PodSpec{Subdomain: "web"}), podIPs: []string{"10.42.0.8"},
			want: "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
				"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
				"10.42.0.8\tweb-0.web.ns.svc.cluster.local\tweb-0\n",
		},
		{
			name: "host network", pod: pod("hn", corev1.PodSpec{HostNetwork: true}), podIPs: []string{"10.0.0.5"},
			want: "127.0.0.1 localhost\n10.0.0.5 node1\n",
		},
		{
			name: "container mounts its own", pod: pod("own", corev1.PodSpec{}), podIPs: []string{"10.42.0.9"},
			container: corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/etc/hosts/"}}},
		},
		{name: "no address yet", pod: pod("noip", corev1.PodSpec{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mounts, err := a.hostsMount(&tt.pod, &tt.container, tt.podIPs)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(mounts) != 0 {
					t.Fatalf("mounts = %v, want none", mounts)
				}
				return
			}
			if len(mounts) != 1 || mounts[0].ContainerPath != "/etc/hosts" {
				t.Fatalf("mounts = %v, want one at /etc/hosts", mounts)
			}
			got, err := os.ReadFile(mounts[0].HostPath)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("hosts file (-want +got):\n%s", diff)
			}
		})
	}
}
