package discovery

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Limits upstream enforces on a slice.
const (
	maxEndpoints = 1000
	maxPorts     = 20000
	maxAddresses = 100
)

// Resources returns the discovery.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{endpointSliceResource()}
}

func endpointSliceResource() registry.Resource {
	return registry.Resource{
		GroupVersion: discoveryv1.SchemeGroupVersion,
		Resource:     "endpointslices",
		SingularName: "endpointslice",
		Kind:         "EndpointSlice",
		Namespaced:   true,
		New:          func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:      func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy: registry.Strategy{
			Default:  func(obj runtime.Object) { defaultEndpointSlice(obj.(*discoveryv1.EndpointSlice)) },
			Validate: validateEndpointSlice,
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*discoveryv1.EndpointSlice).AddressType, old.(*discoveryv1.EndpointSlice).AddressType, field.NewPath("addressType"))
			},
			// Upstream sets generation 1 on create and bumps it on any change.
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("AddressType", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"], 0),
				registry.Column("Ports", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"], 0),
				registry.Column("Endpoints", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				es := obj.(*discoveryv1.EndpointSlice)
				return []interface{}{string(es.AddressType), formatPorts(es.Ports), formatEndpoints(es.Endpoints), registry.Age(obj)}
			},
		},
	}
}

// defaultEndpointSlice is upstream's SetDefaults_EndpointPort.
func defaultEndpointSlice(es *discoveryv1.EndpointSlice) {
	for i := range es.Ports {
		p := &es.Ports[i]
		if p.Name == nil {
			empty := ""
			p.Name = &empty
		}
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
	}
}

func validateEndpointSlice(obj runtime.Object) field.ErrorList {
	es := obj.(*discoveryv1.EndpointSlice)
	var errs field.ErrorList
	supported := []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}
	switch es.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	case "":
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), es.AddressType, supported))
	}

	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxEndpoints {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxEndpoints))
	}
	for i, e := range es.Endpoints {
		p := ep.Index(i)
		ap := p.Child("addresses")
		switch {
		case len(e.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(e.Addresses) > maxAddresses:
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxAddresses))
		}
		for j, addr := range e.Addresses {
			errs = append(errs, validateAddress(es.AddressType, addr, ap.Index(j))...)
		}
		if e.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*e.NodeName, false) {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *e.NodeName, msg))
			}
		}
		if e.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*e.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), *e.Hostname, msg))
			}
		}
	}

	pp := field.NewPath("ports")
	if len(es.Ports) > maxPorts {
		errs = append(errs, field.TooMany(pp, len(es.Ports), maxPorts))
	}
	names := map[string]bool{}
	for i, port := range es.Ports {
		p := pp.Index(i)
		if port.Name != nil && *port.Name != "" {
			for _, msg := range validation.IsValidPortName(*port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), *port.Name, msg))
			}
			if names[*port.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), *port.Name))
			}
			names[*port.Name] = true
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else if pr := *port.Protocol; pr != corev1.ProtocolTCP && pr != corev1.ProtocolUDP && pr != corev1.ProtocolSCTP {
			errs = append(errs, field.NotSupported(p.Child("protocol"), pr, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}))
		}
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				errs = append(errs, field.Invalid(p.Child("port"), *port.Port, msg))
			}
		}
	}
	return errs
}

func validateAddress(t discoveryv1.AddressType, addr string, fldPath *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		ip, err := netip.ParseAddr(addr)
		switch {
		case err != nil:
			return field.ErrorList{field.Invalid(fldPath, addr, "must be a valid IP address")}
		case t == discoveryv1.AddressTypeIPv4 && !ip.Is4():
			return field.ErrorList{field.Invalid(fldPath, addr, "must be an IPv4 address")}
		case t == discoveryv1.AddressTypeIPv6 && !ip.Is6():
			return field.ErrorList{field.Invalid(fldPath, addr, "must be an IPv6 address")}
		}
	case discoveryv1.AddressTypeFQDN:
		var errs field.ErrorList
		for _, msg := range validation.IsFullyQualifiedDomainName(fldPath, addr) {
			errs = append(errs, msg)
		}
		return errs
	}
	return nil
}

// formatPorts and formatEndpoints show the first three entries and count
// the rest, as kubectl's EndpointSlice printer does.
func formatPorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, p := range ports {
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return withMore(list)
}

func formatEndpoints(endpoints []discoveryv1.Endpoint) string {
	var list []string
	for _, e := range endpoints {
		list = append(list, e.Addresses...)
	}
	return withMore(list)
}

func withMore(list []string) string {
	const max = 3
	if len(list) == 0 {
		return "<unset>"
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ","), len(list)-max)
	}
	return strings.Join(list, ",")
}
