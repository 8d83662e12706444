package networking

import (
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func ipAddressResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "ipaddresses",
		SingularName: "ipaddress",
		Kind:         "IPAddress",
		ShortNames:   []string{"ip"},
		New:          func() runtime.Object { return &networkingv1.IPAddress{} },
		NewList:      func() runtime.Object { return &networkingv1.IPAddressList{} },
		Strategy: registry.Strategy{
			NameValidation: ipAddressName,
			Validate: func(obj runtime.Object) field.ErrorList {
				ref := obj.(*networkingv1.IPAddress).Spec.ParentRef
				p := field.NewPath("spec", "parentRef")
				if ref == nil {
					return field.ErrorList{field.Required(p, "")}
				}
				var errs field.ErrorList
				if ref.Resource == "" {
					errs = append(errs, field.Required(p.Child("resource"), ""))
				}
				if ref.Name == "" {
					errs = append(errs, field.Required(p.Child("name"), ""))
				}
				if ref.Namespace != "" {
					for _, msg := range apivalidation.NameIsDNSLabel(ref.Namespace, false) {
						errs = append(errs, field.Invalid(p.Child("namespace"), ref.Namespace, msg))
					}
				}
				return errs
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*networkingv1.IPAddress).Spec.ParentRef, old.(*networkingv1.IPAddress).Spec.ParentRef, field.NewPath("spec", "parentRef"))
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("ParentRef", "string", networkingv1.IPAddressSpec{}.SwaggerDoc()["parentRef"], 0),
				ageColumn(),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				ref := obj.(*networkingv1.IPAddress).Spec.ParentRef
				parent := "<none>"
				if ref != nil {
					parent = strings.ToLower(schema.GroupResource{Group: ref.Group, Resource: ref.Resource}.String())
					if ref.Namespace != "" {
						parent += "/" + ref.Namespace
					}
					parent += "/" + ref.Name
				}
				return []interface{}{parent, registry.Age(obj)}
			},
		},
	}
}

// ipAddressName requires the name to be an IP address in canonical form,
// so that one address has exactly one object.
func ipAddressName(name string, prefix bool) []string {
	if prefix {
		return []string{"generateName is not supported"}
	}
	ip, err := netip.ParseAddr(name)
	if err != nil || ip.Zone() != "" {
		return []string{"must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"}
	}
	if ip.String() != name {
		return []string{"must be in canonical form (\"" + ip.String() + "\")"}
	}
	return nil
}
