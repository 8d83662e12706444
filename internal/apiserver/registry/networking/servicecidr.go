package networking

import (
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func serviceCIDRResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "servicecidrs",
		SingularName: "servicecidr",
		Kind:         "ServiceCIDR",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &networkingv1.ServiceCIDR{} },
		NewList:      func() runtime.Object { return &networkingv1.ServiceCIDRList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{ResetMetadata: true})},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*networkingv1.ServiceCIDR).Status = networkingv1.ServiceCIDRStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*networkingv1.ServiceCIDR).Status = old.(*networkingv1.ServiceCIDR).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateCIDRs(obj.(*networkingv1.ServiceCIDR).Spec.CIDRs, field.NewPath("spec", "cidrs"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				cidrs, oldCIDRs := obj.(*networkingv1.ServiceCIDR).Spec.CIDRs, old.(*networkingv1.ServiceCIDR).Spec.CIDRs
				// A single-stack range may become dual-stack by adding the
				// other family; nothing else may change.
				if len(oldCIDRs) == 1 && len(cidrs) == 2 && cidrs[0] == oldCIDRs[0] {
					return nil
				}
				return apivalidation.ValidateImmutableField(cidrs, oldCIDRs, field.NewPath("spec", "cidrs"))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("CIDRs", "string", networkingv1.ServiceCIDRSpec{}.SwaggerDoc()["cidrs"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{strings.Join(obj.(*networkingv1.ServiceCIDR).Spec.CIDRs, ","), registry.Age(obj)}
			},
		},
	}
}

func validateCIDRs(cidrs []string, fldPath *field.Path) field.ErrorList {
	switch {
	case len(cidrs) == 0:
		return field.ErrorList{field.Required(fldPath, "at least one CIDR required")}
	case len(cidrs) > 2:
		return field.ErrorList{field.Invalid(fldPath, cidrs, "may only hold up to 2 values")}
	}
	var errs field.ErrorList
	var prefixes []netip.Prefix
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			errs = append(errs, field.Invalid(fldPath.Index(i), c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
			continue
		}
		if p.Masked() != p {
			errs = append(errs, field.Invalid(fldPath.Index(i), c, "must be a valid network address, (e.g. "+p.Masked().String()+")"))
		}
		prefixes = append(prefixes, p)
	}
	if len(prefixes) == 2 && prefixes[0].Addr().Is4() == prefixes[1].Addr().Is4() {
		errs = append(errs, field.Invalid(fldPath, cidrs, "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"))
	}
	return errs
}
