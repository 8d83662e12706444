package networking

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// loadBalancerWidth is where kubectl clips the ADDRESS cell.
const loadBalancerWidth = 16

func ingressResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "ingresses",
		SingularName: "ingress",
		Kind:         "Ingress",
		ShortNames:   []string{"ing"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &networkingv1.Ingress{} },
		NewList:      func() runtime.Object { return &networkingv1.IngressList{} },
		Strategy: registry.Strategy{
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*networkingv1.Ingress).Status = networkingv1.IngressStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*networkingv1.Ingress).Status = old.(*networkingv1.Ingress).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateIngressSpec(&obj.(*networkingv1.Ingress).Spec, field.NewPath("spec"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						var errs field.ErrorList
						p := field.NewPath("status", "loadBalancer", "ingress")
						for i, ing := range obj.(*networkingv1.Ingress).Status.LoadBalancer.Ingress {
							if ing.IP != "" {
								if _, err := netip.ParseAddr(ing.IP); err != nil {
									errs = append(errs, field.Invalid(p.Index(i).Child("ip"), ing.IP, "must be a valid IP address"))
								}
							}
						}
						return errs
					},
				}),
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration", 0),
				registry.Column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule", 0),
				registry.Column("Address", "string", "Address is a list containing ingress points for the load-balancer", 0),
				registry.Column("Ports", "string", "Ports of TLS configurations that open", 0),
				ageColumn(),
			},
			TableRow: ingressRow,
		},
	}
}

func ingressRow(obj runtime.Object) []interface{} {
	ing := obj.(*networkingv1.Ingress)
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []interface{}{class, formatHosts(ing.Spec.Rules), formatAddress(ing.Status.LoadBalancer), ports, registry.Age(obj)}
}

func formatHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var list []string
	more := false
	for _, r := range rules {
		if len(list) == max {
			more = true
		}
		if !more && r.Host != "" {
			list = append(list, r.Host)
		}
	}
	if len(list) == 0 {
		return "*"
	}
	if more {
		return fmt.Sprintf("%s + %d more...", strings.Join(list, ","), len(rules)-max)
	}
	return strings.Join(list, ",")
}

// formatAddress lists the load balancer's distinct IPs or hostnames, sorted
// and clipped the way the server-side printer clips them (it is not wide).
func formatAddress(s networkingv1.IngressLoadBalancerStatus) string {
	seen := map[string]bool{}
	var list []string
	for _, i := range s.Ingress {
		v := i.IP
		if v == "" {
			v = i.Hostname
		}
		if v != "" && !seen[v] {
			seen[v] = true
			list = append(list, v)
		}
	}
	sort.Strings(list)
	r := strings.Join(list, ",")
	if len(r) > loadBalancerWidth {
		r = r[:loadBalancerWidth-3] + "..."
	}
	return r
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.DefaultBackend == nil && len(spec.Rules) == 0 {
		errs = append(errs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i, r := range spec.Rules {
		p := fldPath.Child("rules").Index(i)
		if r.Host != "" {
			errs = append(errs, validateHost(r.Host, p.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := p.Child("http", "paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(hp, ""))
		}
		for j := range r.HTTP.Paths {
			errs = append(errs, validatePath(&r.HTTP.Paths[j], hp.Index(j))...)
		}
	}
	for i, tls := range spec.TLS {
		for j, h := range tls.Hosts {
			errs = append(errs, validateHost(h, fldPath.Child("tls").Index(i).Child("hosts").Index(j))...)
		}
	}
	if spec.IngressClassName != nil {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*spec.IngressClassName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("ingressClassName"), *spec.IngressClassName, msg))
		}
	}
	return errs
}

func validateHost(host string, fldPath *field.Path) field.ErrorList {
	if _, err := netip.ParseAddr(host); err == nil {
		return field.ErrorList{field.Invalid(fldPath, host, "must be a DNS name, not an IP address")}
	}
	var msgs []string
	if strings.HasPrefix(host, "*.") {
		msgs = validation.IsWildcardDNS1123Subdomain(host)
	} else {
		msgs = validation.IsDNS1123Subdomain(host)
	}
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fldPath, host, msg))
	}
	return errs
}

func validatePath(path *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	supported := []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}
	if path.PathType == nil {
		return append(errs, field.Required(fldPath.Child("pathType"), "pathType must be specified"))
	}
	switch *path.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(path.Path, "/") {
			errs = append(errs, field.Invalid(fldPath.Child("path"), path.Path, "must be an absolute path"))
		}
		for _, bad := range []string{"//", "/./", "/../", "%2f", "%2F"} {
			if strings.Contains(path.Path, bad) {
				errs = append(errs, field.Invalid(fldPath.Child("path"), path.Path, fmt.Sprintf("must not contain '%s'", bad)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
			errs = append(errs, field.Invalid(fldPath.Child("path"), path.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("pathType"), *path.PathType, supported))
	}
	return append(errs, validateBackend(&path.Backend, fldPath.Child("backend"))...)
}

func validateBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		errs = append(errs, field.Invalid(fldPath, "", "cannot set both resource and service backends"))
	case b.Resource != nil:
		if b.Resource.Kind == "" {
			errs = append(errs, field.Required(fldPath.Child("resource", "kind"), ""))
		}
		if b.Resource.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("resource", "name"), ""))
		}
	case b.Service != nil:
		sp := fldPath.Child("service")
		if b.Service.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		} else {
			for _, msg := range apivalidation.NameIsDNS1035Label(b.Service.Name, false) {
				errs = append(errs, field.Invalid(sp.Child("name"), b.Service.Name, msg))
			}
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			errs = append(errs, field.Invalid(sp.Child("port"), port, "cannot set both port name & port number"))
		case port.Name != "":
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(sp.Child("port", "name"), port.Name, msg))
			}
		case port.Number != 0:
			for _, msg := range validation.IsValidPortNum(int(port.Number)) {
				errs = append(errs, field.Invalid(sp.Child("port", "number"), port.Number, msg))
			}
		default:
			errs = append(errs, field.Required(sp.Child("port"), "port name or number is required"))
		}
	default:
		errs = append(errs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	return errs
}
