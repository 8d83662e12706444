package agent

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ReasonCreateContainerConfigError is upstream's waiting reason for a
// container whose configuration (env, volumes) cannot be built.
const ReasonCreateContainerConfigError = "CreateContainerConfigError"

// configError is a container configuration that cannot be built: a missing
// ConfigMap, Secret or key. It shows as CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// podObjects are the ConfigMaps and Secrets of a pod's namespace that its
// env and volumes refer to, by name; a name absent from the map does not
// exist in the API.
type podObjects struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	// Services are those whose addresses the pod's containers get in
	// their environment (see serviceEnv).
	Services []*corev1.Service
}

func (o podObjects) configMap(name string) (*corev1.ConfigMap, error) {
	if cm := o.ConfigMaps[name]; cm != nil {
		return cm, nil
	}
	// The kubelet's object managers name the resource in the singular.
	return nil, &configError{msg: fmt.Sprintf("configmap %q not found", name)}
}

func (o podObjects) secret(name string) (*corev1.Secret, error) {
	if s := o.Secrets[name]; s != nil {
		return s, nil
	}
	return nil, &configError{msg: fmt.Sprintf("secret %q not found", name)}
}

// envInput is what resolveEnv needs beyond the pod and the container.
type envInput struct {
	Objects podObjects
	// PodIPs and HostIPs feed the status.* field references.
	PodIPs, HostIPs []string
	// Allocatable stands in for limits a container does not set, as
	// upstream's resourceFieldRef does.
	Allocatable corev1.ResourceList
}

// resolveEnv computes a container's environment as upstream's kubelet does:
// envFrom first, then env, each value's $(VAR) references expanded over
// the variables defined before it. It is pure.
func resolveEnv(pod *corev1.Pod, c *corev1.Container, in envInput) ([]corev1.EnvVar, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := in.Objects.configMap(from.ConfigMapRef.Name)
			if err != nil {
				if isOptional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.Data) {
				if validEnvName(from.Prefix + k) {
					set(from.Prefix+k, cm.Data[k])
				}
			}
		case from.SecretRef != nil:
			s, err := in.Objects.secret(from.SecretRef.Name)
			if err != nil {
				if isOptional(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if validEnvName(from.Prefix + k) {
					set(from.Prefix+k, string(s.Data[k]))
				}
			}
		}
	}
	services := serviceEnv(pod, in.Objects.Services)
	lookup := func(name string) (string, bool) {
		if v, ok := vars[name]; ok {
			return v, ok
		}
		v, ok := services[name]
		return v, ok
	}
	for _, e := range c.Env {
		v, ok, err := envValue(pod, c, e, in, lookup)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]corev1.EnvVar, 0, len(order)+len(services))
	for _, k := range order {
		out = append(out, corev1.EnvVar{Name: k, Value: vars[k]})
	}
	// The Services' variables come last, unless the container set one
	// of the same name itself.
	for _, k := range sortedEnvKeys(services) {
		if _, ok := vars[k]; !ok {
			out = append(out, corev1.EnvVar{Name: k, Value: services[k]})
		}
	}
	return out, nil
}

// envValue is one env entry's value; ok is false when an optional source
// is missing and the variable is left out.
func envValue(pod *corev1.Pod, c *corev1.Container, e corev1.EnvVar, in envInput, lookup func(string) (string, bool)) (string, bool, error) {
	src := e.ValueFrom
	if src == nil {
		return expandVars(e.Value, lookup), true, nil
	}
	switch {
	case src.FieldRef != nil:
		v, err := podFieldValue(pod, src.FieldRef.FieldPath, in.PodIPs, in.HostIPs)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := resourceFieldValue(c, src.ResourceFieldRef, in.Allocatable)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := in.Objects.configMap(ref.Name)
		if err != nil {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, &configError{msg: fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return v, true, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := in.Objects.secret(ref.Name)
		if err != nil {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok {
			if isOptional(ref.Optional) {
				return "", false, nil
			}
			return "", false, &configError{msg: fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)}
		}
		return string(v), true, nil
	}
	return "", false, nil
}

// podFieldValue is the value of a downward API field path of the pod.
func podFieldValue(pod *corev1.Pod, path string, podIPs, hostIPs []string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return first(podIPs), nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "status.hostIP":
		return first(hostIPs), nil
	case "status.hostIPs":
		return strings.Join(hostIPs, ","), nil
	}
	return "", &configError{msg: fmt.Sprintf("unsupported fieldPath: %s", path)}
}

// subscript parses prefix['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as the downward API's files do:
// one key="value" line each, sorted by key.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldValue is a container's request or limit in units of the
// divisor, rounded up; unset limits are the node's allocatable.
func resourceFieldValue(c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		// Volumes may name another container; env always means its own.
		return "", &configError{msg: fmt.Sprintf("resourceFieldRef: container %q is not %q", ref.ContainerName, c.Name)}
	}
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", &configError{msg: fmt.Sprintf("unsupported container resource: %s", ref.Resource)}
	}
	var q resource.Quantity
	switch kind {
	case "limits":
		var set bool
		q, set = c.Resources.Limits[corev1.ResourceName(name)]
		if !set {
			q = allocatable[corev1.ResourceName(name)]
		}
	case "requests":
		q = c.Resources.Requests[corev1.ResourceName(name)]
	default:
		return "", &configError{msg: fmt.Sprintf("unsupported container resource: %s", ref.Resource)}
	}
	if name == string(corev1.ResourceCPU) {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// expandCommand expands $(VAR) in a container's command or args over its
// final environment, as upstream does.
func expandCommand(args []string, env []corev1.EnvVar) []string {
	if len(args) == 0 {
		return args
	}
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	lookup := func(n string) (string, bool) {
		v, ok := vars[n]
		return v, ok
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expandVars(a, lookup)
	}
	return out
}

// expandVars replaces $(NAME) by its value when defined and $$ by $; an
// undefined or unterminated reference stays as written, as upstream.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// validEnvName accepts what upstream accepts for an env var name from
// envFrom: printable ASCII without '='.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < ' ' || r > '~' || r == '=' {
			return false
		}
	}
	return true
}

func isOptional(b *bool) bool { return b != nil && *b }

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
