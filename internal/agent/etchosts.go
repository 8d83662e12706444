package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// maxHostnameLen is the longest hostname the kernel accepts
// (sethostname fails with EINVAL past it).
const maxHostnameLen = 63

// etcHostsPath is where a container finds its hosts file.
const etcHostsPath = "/etc/hosts"

// podHostname returns the hostname a pod's sandbox gets and the domain
// its hosts file names it in, as upstream's kubelet: spec.hostname or
// else the pod's name, cut to 63 characters without a trailing '-' or
// '.'; the domain is <subdomain>.<namespace>.svc.<cluster domain> when
// the pod has a subdomain.
func podHostname(pod *corev1.Pod, clusterDomain string) (hostname, domain string) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > maxHostnameLen {
		hostname = strings.TrimRight(hostname[:maxHostnameLen], "-.")
	}
	if pod.Spec.Subdomain != "" && clusterDomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

// sandboxHostname is the hostname set in the pod's UTS namespace: the
// short hostname, or with setHostnameAsFQDN the fully qualified one,
// which must fit the kernel's limit.
func sandboxHostname(pod *corev1.Pod, clusterDomain string) (string, error) {
	hostname, domain := podHostname(pod, clusterDomain)
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || domain == "" {
		return hostname, nil
	}
	fqdn := hostname + "." + domain
	if len(fqdn) > maxHostnameLen+1 {
		return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, maxHostnameLen+1, len(fqdn))
	}
	return fqdn, nil
}

// managedHosts is the hosts file of a pod on the pod network: the
// loopback names, the pod's own addresses and its host aliases.
func managedHosts(podIPs []string, hostname, domain string, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	writeHostAliases(&b, aliases)
	return b.Bytes()
}

// nodeHosts is the hosts file of a pod on the host network: the node's
// own, plus the pod's host aliases.
func nodeHosts(node []byte, aliases []corev1.HostAlias) []byte {
	var b bytes.Buffer
	b.Write(node)
	writeHostAliases(&b, aliases)
	return b.Bytes()
}

func writeHostAliases(b *bytes.Buffer, aliases []corev1.HostAlias) {
	if len(aliases) == 0 {
		return
	}
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
}

// mountsPath reports whether a container mounts something at path itself.
func mountsPath(c *corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == path {
			return true
		}
	}
	return false
}

// hostsMount writes the pod's hosts file and returns its mount, or
// nothing when the agent keeps no pod folders (simulated nodes), the pod
// has no address yet, or the container mounts its own /etc/hosts.
func (a *Agent) hostsMount(pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]Mount, error) {
	if a.cfg.RootDir == "" || len(podIPs) == 0 || mountsPath(c, etcHostsPath) {
		return nil, nil
	}
	var content []byte
	if pod.Spec.HostNetwork {
		node, err := os.ReadFile(a.nodeHostsFile())
		if err != nil {
			return nil, fmt.Errorf("read the node's hosts file: %w", err)
		}
		content = nodeHosts(node, pod.Spec.HostAliases)
	} else {
		hostname, domain := podHostname(pod, a.cfg.ClusterDomain)
		content = managedHosts(podIPs, hostname, domain, pod.Spec.HostAliases)
	}
	dir := a.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "etc-hosts")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		return nil, fmt.Errorf("write the pod's hosts file: %w", err)
	}
	return []Mount{{HostPath: file, ContainerPath: etcHostsPath}}, nil
}

// nodeHostsFile is the node's own hosts file.
func (a *Agent) nodeHostsFile() string {
	if a.cfg.NodeHostsFile != "" {
		return a.cfg.NodeHostsFile
	}
	return etcHostsPath
}
