package agent

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// masterService is the Service every container learns the address of,
// whatever its pod's enableServiceLinks says: the API server's.
const masterService = "kubernetes"

// serviceEnv is the environment upstream's kubelet gives every container
// for the Services it may reach by name: the API server's (from the
// default namespace) always, and those of the pod's namespace unless the
// pod turned enableServiceLinks off. Each yields <NAME>_SERVICE_HOST,
// <NAME>_SERVICE_PORT (the first port), <NAME>_SERVICE_PORT_<PORTNAME>
// for named ports, and the Docker link variables (<NAME>_PORT,
// <NAME>_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}). Services without a
// cluster IP (headless, ExternalName) yield nothing. It is pure.
func serviceEnv(pod *corev1.Pod, services []*corev1.Service) map[string]string {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	byName := map[string]*corev1.Service{}
	for _, svc := range services {
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		switch {
		case svc.Namespace == metav1.NamespaceDefault && svc.Name == masterService:
			if _, ok := byName[svc.Name]; !ok {
				byName[svc.Name] = svc
			}
		case svc.Namespace == pod.Namespace && links:
			byName[svc.Name] = svc
		}
	}
	env := map[string]string{}
	for _, svc := range byName {
		prefix := envName(svc.Name)
		ip := svc.Spec.ClusterIP
		env[prefix+"_SERVICE_HOST"] = ip
		env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		for i, p := range svc.Spec.Ports {
			port := strconv.Itoa(int(p.Port))
			if p.Name != "" {
				env[prefix+"_SERVICE_PORT_"+envName(p.Name)] = port
			}
			proto := string(p.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			url := fmt.Sprintf("%s://%s", strings.ToLower(proto), net.JoinHostPort(ip, port))
			if i == 0 {
				env[prefix+"_PORT"] = url
			}
			pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
			env[pp] = url
			env[pp+"_PROTO"] = strings.ToLower(proto)
			env[pp+"_PORT"] = port
			env[pp+"_ADDR"] = ip
		}
	}
	return env
}

// envName turns a Service or port name into a variable name part.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// sortedEnvKeys are the keys of m in order.
func sortedEnvKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
