package networking

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func networkPolicyResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "networkpolicies",
		SingularName: "networkpolicy",
		Kind:         "NetworkPolicy",
		ShortNames:   []string{"netpol"},
		Namespaced:   true,
		New:          func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		NewList:      func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
		Strategy: registry.Strategy{
			Default:         func(obj runtime.Object) { defaultNetworkPolicy(obj.(*networkingv1.NetworkPolicy)) },
			Validate:        validateNetworkPolicy,
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Pod-Selector", "string", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				np := obj.(*networkingv1.NetworkPolicy)
				return []interface{}{metav1.FormatLabelSelector(&np.Spec.PodSelector), registry.Age(obj)}
			},
		},
	}
}

// defaultNetworkPolicy is upstream's SetDefaults_NetworkPolicy and
// SetDefaults_NetworkPolicyPort.
func defaultNetworkPolicy(np *networkingv1.NetworkPolicy) {
	if len(np.Spec.PolicyTypes) == 0 {
		np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(np.Spec.Egress) != 0 {
			np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	defaultPorts := func(ports []networkingv1.NetworkPolicyPort) {
		for i := range ports {
			if ports[i].Protocol == nil {
				tcp := corev1.ProtocolTCP
				ports[i].Protocol = &tcp
			}
		}
	}
	for i := range np.Spec.Ingress {
		defaultPorts(np.Spec.Ingress[i].Ports)
	}
	for i := range np.Spec.Egress {
		defaultPorts(np.Spec.Egress[i].Ports)
	}
}

func validateNetworkPolicy(obj runtime.Object) field.ErrorList {
	np := obj.(*networkingv1.NetworkPolicy)
	p := field.NewPath("spec")
	opts := metav1validation.LabelSelectorValidationOptions{}
	errs := metav1validation.ValidateLabelSelector(&np.Spec.PodSelector, opts, p.Child("podSelector"))
	for i, rule := range np.Spec.Ingress {
		rp := p.Child("ingress").Index(i)
		errs = append(errs, validatePorts(rule.Ports, rp.Child("ports"))...)
		errs = append(errs, validatePeers(rule.From, rp.Child("from"))...)
	}
	for i, rule := range np.Spec.Egress {
		rp := p.Child("egress").Index(i)
		errs = append(errs, validatePorts(rule.Ports, rp.Child("ports"))...)
		errs = append(errs, validatePeers(rule.To, rp.Child("to"))...)
	}
	allowed := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	if len(np.Spec.PolicyTypes) > len(allowed) {
		errs = append(errs, field.Invalid(p.Child("policyTypes"), np.Spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range np.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(p.Child("policyTypes").Index(i), t, allowed))
		}
	}
	return errs
}

func validatePorts(ports []networkingv1.NetworkPolicyPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		pp := fldPath.Index(i)
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				errs = append(errs, field.NotSupported(pp.Child("protocol"), *port.Protocol, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}))
			}
		}
		if port.Port == nil {
			if port.EndPort != nil {
				errs = append(errs, field.Required(pp.Child("port"), "must be specified when endPort is set"))
			}
			continue
		}
		if port.Port.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(int(port.Port.IntVal)) {
				errs = append(errs, field.Invalid(pp.Child("port"), port.Port.IntVal, msg))
			}
			if port.EndPort != nil && *port.EndPort < port.Port.IntVal {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
		} else {
			if port.EndPort != nil {
				errs = append(errs, field.Invalid(pp.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
			}
			for _, msg := range validation.IsValidPortName(port.Port.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("port"), port.Port.StrVal, msg))
			}
		}
	}
	return errs
}

func validatePeers(peers []networkingv1.NetworkPolicyPeer, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	opts := metav1validation.LabelSelectorValidationOptions{}
	for i, peer := range peers {
		pp := fldPath.Index(i)
		n := 0
		if peer.PodSelector != nil {
			n++
			errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts, pp.Child("podSelector"))...)
		}
		if peer.NamespaceSelector != nil {
			n++
			errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, pp.Child("namespaceSelector"))...)
		}
		if peer.IPBlock != nil {
			n++
			errs = append(errs, validateIPBlock(peer.IPBlock, pp.Child("ipBlock"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Required(pp, "must specify a peer"))
		case peer.IPBlock != nil && n > 1:
			errs = append(errs, field.Forbidden(pp, "may not specify more than 1 peer"))
		}
	}
	return errs
}

func validateIPBlock(b *networkingv1.IPBlock, fldPath *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(fldPath.Child("cidr"), "")}
	}
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("cidr"), b.CIDR, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")}
	}
	var errs field.ErrorList
	for i, ex := range b.Except {
		e, err := netip.ParsePrefix(ex)
		if err != nil {
			errs = append(errs, field.Invalid(fldPath.Child("except").Index(i), ex, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
			continue
		}
		if !cidr.Contains(e.Addr()) || e.Bits() < cidr.Bits() {
			errs = append(errs, field.Invalid(fldPath.Child("except").Index(i), ex, "must be a strict subset of `cidr`"))
		}
	}
	return errs
}
