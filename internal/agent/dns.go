package agent

import (
	corev1 "k8s.io/api/core/v1"
)

// podDNS is a pod's resolv.conf per its dnsPolicy and dnsConfig, as
// upstream builds it. clusterDNS empty means the cluster has no DNS yet:
// ClusterFirst then falls back to the node's own resolv.conf (an empty
// config, which runtimes take to mean the host's).
func podDNS(pod *corev1.Pod, clusterDNS []string, clusterDomain string) DNSConfig {
	var cfg DNSConfig
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault // upstream: ClusterFirst on the host network means Default
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(clusterDNS) > 0 {
		cfg.Servers = append(cfg.Servers, clusterDNS...)
		if clusterDomain != "" {
			cfg.Searches = []string{pod.Namespace + ".svc." + clusterDomain, "svc." + clusterDomain, clusterDomain}
		}
		cfg.Options = []string{"ndots:5"}
	}
	if pod.Spec.DNSConfig != nil {
		if policy == corev1.DNSNone {
			cfg = DNSConfig{}
		}
		cfg.Servers = appendNew(cfg.Servers, pod.Spec.DNSConfig.Nameservers...)
		cfg.Searches = appendNew(cfg.Searches, pod.Spec.DNSConfig.Searches...)
		for _, o := range pod.Spec.DNSConfig.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = mergeOption(cfg.Options, o.Name, opt)
		}
	}
	return cfg
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			found = found || l == it
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// mergeOption replaces an option of the same name (ndots:5 -> ndots:2)
// or appends it.
func mergeOption(opts []string, name, opt string) []string {
	for i, o := range opts {
		n := o
		for j := range o {
			if o[j] == ':' {
				n = o[:j]
				break
			}
		}
		if n == name {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}
