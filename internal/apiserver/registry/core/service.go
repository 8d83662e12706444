package core

import (
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// defaultClientIPTimeout is upstream's session affinity timeout (3 hours).
const defaultClientIPTimeout = int32(10800)

func serviceResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "services",
		SingularName: "service",
		Kind:         "Service",
		ShortNames:   []string{"svc"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "proxy"},
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) { DefaultService(obj.(*corev1.Service)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*corev1.Service).Status = corev1.ServiceStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				prepareServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
			},
			NameValidation: apivalidation.NameIsDNS1035Label,
			Validate:       func(obj runtime.Object) field.ErrorList { return validateService(obj.(*corev1.Service)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						return validateLoadBalancerStatus(&obj.(*corev1.Service).Status.LoadBalancer, field.NewPath("status", "loadBalancer"))
					},
				}),
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"], 0),
				registry.Column("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"], 0),
				registry.Column("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"], 0),
				registry.Column("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("Selector", "string", corev1.ServiceSpec{}.SwaggerDoc()["selector"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} { return serviceRow(obj.(*corev1.Service)) },
			Fields: func(obj runtime.Object) fields.Set {
				svc := obj.(*corev1.Service)
				return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
			},
		},
	}
}

// DefaultService sets upstream's service defaults. Cluster IPs, IP
// families and node ports are the allocator's; this only keeps clusterIP
// and clusterIPs in step and sets the single-stack policy.
func DefaultService(svc *corev1.Service) {
	s := &svc.Spec
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	if s.SessionAffinity == "" {
		s.SessionAffinity = corev1.ServiceAffinityNone
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP &&
		(s.SessionAffinityConfig == nil || s.SessionAffinityConfig.ClientIP == nil || s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil) {
		t := defaultClientIPTimeout
		s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &t}}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = defaultIntOrStringPort(p.Port)
		}
	}
	if (s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer) && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.Type != corev1.ServiceTypeExternalName {
		if s.InternalTrafficPolicy == nil {
			p := corev1.ServiceInternalTrafficPolicyCluster
			s.InternalTrafficPolicy = &p
		}
		if s.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			s.IPFamilyPolicy = &p
		}
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.AllocateLoadBalancerNodePorts == nil {
		b := true
		s.AllocateLoadBalancerNodePorts = &b
	}
	if len(s.ClusterIPs) == 0 && s.ClusterIP != "" {
		s.ClusterIPs = []string{s.ClusterIP}
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIP == "" {
		s.ClusterIP = s.ClusterIPs[0]
	}
}

func needsClusterIP(svc *corev1.Service) bool { return svc.Spec.Type != corev1.ServiceTypeExternalName }

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// prepareServiceUpdate keeps status and, like upstream's
// patchAllocatedValues, carries allocated values (cluster IPs, node ports,
// health check port) over when a client sends the object without them, as
// `kubectl replace` of a hand-written manifest does.
func prepareServiceUpdate(svc, old *corev1.Service) {
	svc.Status = old.Status
	if needsClusterIP(old) && needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
			svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = append([]corev1.IPFamily(nil), old.Spec.IPFamilies...)
		}
	}
	if needsNodePorts(old) && needsNodePorts(svc) {
		prev := map[int32]int32{}
		for _, p := range old.Spec.Ports {
			prev[p.Port] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort == 0 {
				svc.Spec.Ports[i].NodePort = prev[svc.Spec.Ports[i].Port]
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == 0 && old.Spec.HealthCheckNodePort != 0 &&
		svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
	dropTypeDependentFields(svc, old)
}

// dropTypeDependentFields clears, as upstream does, what the Service's old
// type needed and its new type forbids, when the update left those fields
// as they were: a user changing ClusterIP to ExternalName sends the cluster
// IPs back unchanged and expects them gone, not a 422.
func dropTypeDependentFields(svc, old *corev1.Service) {
	s, o := &svc.Spec, &old.Spec
	if needsClusterIP(old) && !needsClusterIP(svc) && s.ClusterIP == o.ClusterIP && slices.Equal(s.ClusterIPs, o.ClusterIPs) {
		s.ClusterIP, s.ClusterIPs, s.IPFamilies, s.IPFamilyPolicy = "", nil, nil, nil
	}
	if needsNodePorts(old) && !needsNodePorts(svc) && sameNodePorts(s.Ports, o.Ports) {
		for i := range s.Ports {
			s.Ports[i].NodePort = 0
		}
	}
	lb := func(sp *corev1.ServiceSpec) bool { return sp.Type == corev1.ServiceTypeLoadBalancer }
	if lb(o) && !lb(s) {
		if s.HealthCheckNodePort == o.HealthCheckNodePort {
			s.HealthCheckNodePort = 0
		}
		if ptrEqual(s.AllocateLoadBalancerNodePorts, o.AllocateLoadBalancerNodePorts) {
			s.AllocateLoadBalancerNodePorts = nil
		}
		if ptrEqual(s.LoadBalancerClass, o.LoadBalancerClass) {
			s.LoadBalancerClass = nil
		}
	}
	external := func(sp *corev1.ServiceSpec) bool {
		return sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer
	}
	if external(o) && !external(s) && s.ExternalTrafficPolicy == o.ExternalTrafficPolicy {
		s.ExternalTrafficPolicy = ""
	}
	if needsClusterIP(old) && !needsClusterIP(svc) && ptrEqual(s.InternalTrafficPolicy, o.InternalTrafficPolicy) {
		s.InternalTrafficPolicy = nil
	}
}

// sameNodePorts reports whether two port lists carry the same node ports.
func sameNodePorts(a, b []corev1.ServicePort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].NodePort != b[i].NodePort {
			return false
		}
	}
	return true
}

func ptrEqual[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func validateService(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	s := &svc.Spec
	headless := s.ClusterIP == corev1.ClusterIPNone

	switch s.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
	case "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), s.Type, []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}))
	}

	if s.Type == corev1.ServiceTypeExternalName {
		if len(s.ClusterIPs) > 0 && s.ClusterIPs[0] != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		name := strings.TrimSuffix(s.ExternalName, ".")
		if s.ExternalName == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), s.ExternalName, msg))
			}
		}
	} else if len(s.Ports) == 0 && !headless {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	if headless && (s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", s.Type)))
	}
	for i, ip := range s.ClusterIPs {
		if ip == corev1.ClusterIPNone && i == 0 {
			continue
		}
		if net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(i), ip, "must be empty, 'None', or a valid IP address"))
		}
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIP != s.ClusterIPs[0] {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.ClusterIPs[0], "must match `clusterIP` when `clusterIP` is set"))
	}

	portNames := map[string]bool{}
	type portKey struct {
		Port     int32
		Protocol corev1.Protocol
	}
	seen := map[portKey]bool{}
	for i := range s.Ports {
		p := &s.Ports[i]
		pp := specPath.Child("ports").Index(i)
		if len(s.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if p.Name != "" {
			errs = append(errs, registry.ValidateDNSLabel(p.Name, pp.Child("name"))...)
			if portNames[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			portNames[p.Name] = true
		}
		errs = append(errs, validatePortNum(p.Port, pp.Child("port"))...)
		errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		errs = append(errs, validateIntOrStringPort(p.TargetPort, pp.Child("targetPort"))...)
		if p.NodePort != 0 {
			if s.Type == corev1.ServiceTypeClusterIP {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			} else {
				errs = append(errs, validatePortNum(p.NodePort, pp.Child("nodePort"))...)
			}
		}
		key := portKey{p.Port, p.Protocol}
		if seen[key] {
			errs = append(errs, field.Duplicate(pp, key))
		}
		seen[key] = true
	}

	if s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, validateMapSelector(s.Selector, specPath.Child("selector"))...)
	}
	switch s.SessionAffinity {
	case corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
	case "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), s.SessionAffinity, []string{"ClientIP", "None"}))
	}
	if c := s.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and less than 86400"))
		}
	}
	switch {
	case s.ExternalTrafficPolicy == "":
	case !needsNodePorts(svc):
		errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
	case s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster && s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal:
		errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, []string{"Cluster", "Local"}))
	}
	if p := s.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster && *p != corev1.ServiceInternalTrafficPolicyLocal {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p, []string{"Cluster", "Local"}))
	}
	if p := s.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack:
		default:
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p, []string{"PreferDualStack", "RequireDualStack", "SingleStack"}))
		}
	}
	for i, f := range s.IPFamilies {
		if f != corev1.IPv4Protocol && f != corev1.IPv6Protocol {
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilies").Index(i), f, []string{"IPv4", "IPv6"}))
		}
	}
	for i, ip := range s.ExternalIPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, field.Invalid(specPath.Child("externalIPs").Index(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
		}
	}
	return errs
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	// Cluster IPs are fixed once allocated, unless the type moves to or from
	// ExternalName (which has none).
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	p := field.NewPath("spec", "clusterIPs")
	if len(old.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] != old.Spec.ClusterIPs[0] {
		errs = append(errs, field.Invalid(p.Index(0), svc.Spec.ClusterIPs[0], "may not change once set"))
	}
	if len(old.Spec.ClusterIPs) > 0 && old.Spec.ClusterIPs[0] != "" && len(svc.Spec.ClusterIPs) == 0 {
		errs = append(errs, field.Invalid(p.Index(0), "", "may not change once set"))
	}
	return errs
}

func validateLoadBalancerStatus(st *corev1.LoadBalancerStatus, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, in := range st.Ingress {
		p := fldPath.Child("ingress").Index(i)
		if in.IP != "" && net.ParseIP(in.IP) == nil {
			errs = append(errs, field.Invalid(p.Child("ip"), in.IP, "must be a valid IP address"))
		}
		if in.Hostname != "" {
			errs = append(errs, registry.ValidateDNSSubdomain(in.Hostname, p.Child("hostname"))...)
			if net.ParseIP(in.Hostname) != nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}

func serviceRow(svc *corev1.Service) []interface{} {
	internal := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		internal = svc.Spec.ClusterIPs[0]
	}
	ports := servicePorts(svc.Spec.Ports)
	if ports == "" {
		ports = "<none>"
	}
	return []interface{}{
		string(svc.Spec.Type), internal, serviceExternalIP(svc), ports, registry.Age(svc),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// servicePorts renders ports as kubectl does: 80/TCP, or 80:30080/TCP with a node port.
func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var all []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				all = append(all, in.IP)
			} else if in.Hostname != "" {
				all = append(all, in.Hostname)
			}
		}
		all = append(all, svc.Spec.ExternalIPs...)
		if len(all) > 0 {
			return strings.Join(all, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}
