// Package apiregistration holds the strategy of apiregistration.k8s.io/v1
// apiservices: the registrations of API group versions, each served
// locally or by an extension API server behind a Service. The API server
// checks, proxies to and lists the latter (apiserver's apiservices.go).
package apiregistration

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"skiff/internal/apiserver/registry"
)

// Resources returns the apiregistration.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{apiServiceResource()}
}

func apiServiceResource() registry.Resource {
	return registry.Resource{
		GroupVersion: apiregistrationv1.SchemeGroupVersion,
		Resource:     "apiservices",
		SingularName: "apiservice",
		Kind:         "APIService",
		Categories:   []string{"api-extensions"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &apiregistrationv1.APIService{} },
		NewList:      func() runtime.Object { return &apiregistrationv1.APIServiceList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{})},
			Default: func(obj runtime.Object) {
				if s := obj.(*apiregistrationv1.APIService).Spec.Service; s != nil && s.Port == nil {
					port := int32(443)
					s.Port = &port
				}
			},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*apiregistrationv1.APIService).Status = apiregistrationv1.APIServiceStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*apiregistrationv1.APIService).Status = old.(*apiregistrationv1.APIService).Status
			},
			NameValidation: func(name string, prefix bool) []string {
				return path.ValidatePathSegmentName(name, prefix)
			},
			Validate:        Validate,
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Service", "string", "The reference to the service that hosts this API endpoint.", 0),
				registry.Column("Available", "string", "Whether this service is available.", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				a := obj.(*apiregistrationv1.APIService)
				service := "Local"
				if s := a.Spec.Service; s != nil {
					service = s.Namespace + "/" + s.Name
				}
				available := "Unknown"
				for _, c := range a.Status.Conditions {
					if c.Type == apiregistrationv1.Available {
						available = string(c.Status)
						if c.Status != apiregistrationv1.ConditionTrue && c.Reason != "" {
							available += " (" + c.Reason + ")"
						}
					}
				}
				return []interface{}{service, available, registry.Age(obj)}
			},
		},
	}
}

// Validate checks an APIService as upstream's aggregator does: its name is
// "<version>.<group>", and a remote one names a Service and trusts it
// either through a CA bundle or explicitly without verification.
func Validate(obj runtime.Object) field.ErrorList {
	a := obj.(*apiregistrationv1.APIService)
	spec := a.Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	version, group, found := strings.Cut(a.Name, ".")
	if !found {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), a.Name, "must be in the form: version.group"))
	} else {
		if version != spec.Version {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), a.Name, fmt.Sprintf("must be spec.version+\".\"+spec.group: %q", spec.Version+"."+spec.Group)))
		}
		if group != spec.Group {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), a.Name, fmt.Sprintf("must be spec.version+\".\"+spec.group: %q", spec.Version+"."+spec.Group)))
		}
	}
	if spec.Group == "" && spec.Version != "v1" {
		errs = append(errs, field.Required(p.Child("group"), "only v1 may have an empty group and it better be legacy kube"))
	}
	if spec.Group != "" {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(spec.Group) {
			errs = append(errs, field.Invalid(p.Child("group"), spec.Group, msg))
		}
	}
	for _, msg := range utilvalidation.IsDNS1035Label(spec.Version) {
		errs = append(errs, field.Invalid(p.Child("version"), spec.Version, msg))
	}
	if spec.GroupPriorityMinimum <= 0 || spec.GroupPriorityMinimum > 20000 {
		errs = append(errs, field.Invalid(p.Child("groupPriorityMinimum"), spec.GroupPriorityMinimum, "must be positive and less than 20000"))
	}
	if spec.VersionPriority <= 0 || spec.VersionPriority > 1000 {
		errs = append(errs, field.Invalid(p.Child("versionPriority"), spec.VersionPriority, "must be positive and less than 1000"))
	}
	if spec.Service == nil {
		if len(spec.CABundle) != 0 {
			errs = append(errs, field.Invalid(p.Child("caBundle"), fmt.Sprintf("%d bytes", len(spec.CABundle)), "local APIServices may not have a caBundle"))
		}
		if spec.InsecureSkipTLSVerify {
			errs = append(errs, field.Invalid(p.Child("insecureSkipTLSVerify"), spec.InsecureSkipTLSVerify, "local APIServices may not have insecureSkipTLSVerify"))
		}
		return errs
	}
	sp := p.Child("service")
	if spec.Service.Namespace == "" {
		errs = append(errs, field.Required(sp.Child("namespace"), ""))
	}
	if spec.Service.Name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	}
	if port := spec.Service.Port; port != nil {
		for _, msg := range utilvalidation.IsValidPortNum(int(*port)) {
			errs = append(errs, field.Invalid(sp.Child("port"), *port, msg))
		}
	}
	if spec.InsecureSkipTLSVerify && len(spec.CABundle) > 0 {
		errs = append(errs, field.Invalid(p.Child("insecureSkipTLSVerify"), spec.InsecureSkipTLSVerify, "may not be true if caBundle is present"))
	}
	return errs
}
