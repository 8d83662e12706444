package admissionregistration

import (
	"fmt"

	arv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

var groupVersion = arv1.SchemeGroupVersion

// Resources returns the admissionregistration.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{
		mutatingAdmissionPolicyResource(),
		mutatingAdmissionPolicyBindingResource(),
		mutatingWebhookConfigurationResource(),
		validatingAdmissionPolicyResource(),
		validatingAdmissionPolicyBindingResource(),
		validatingWebhookConfigurationResource(),
	}
}

var (
	ageColumn      = registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0)
	webhooksColumn = registry.Column("Webhooks", "integer", "Webhooks indicates the number of webhooks.", 0)
)

func mutatingWebhookConfigurationResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "mutatingwebhookconfigurations",
		SingularName: "mutatingwebhookconfiguration",
		Kind:         "MutatingWebhookConfiguration",
		Categories:   []string{"api-extensions"},
		New:          func() runtime.Object { return &arv1.MutatingWebhookConfiguration{} },
		NewList:      func() runtime.Object { return &arv1.MutatingWebhookConfigurationList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				c := obj.(*arv1.MutatingWebhookConfiguration)
				for i := range c.Webhooks {
					defaultMutatingWebhook(&c.Webhooks[i])
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateMutatingWebhookConfiguration(obj.(*arv1.MutatingWebhookConfiguration))
			},
			TrackGeneration: true,
			TableColumns:    []metav1.TableColumnDefinition{webhooksColumn, ageColumn},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{int64(len(obj.(*arv1.MutatingWebhookConfiguration).Webhooks)), registry.Age(obj)}
			},
		},
	}
}

func validatingWebhookConfigurationResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "validatingwebhookconfigurations",
		SingularName: "validatingwebhookconfiguration",
		Kind:         "ValidatingWebhookConfiguration",
		Categories:   []string{"api-extensions"},
		New:          func() runtime.Object { return &arv1.ValidatingWebhookConfiguration{} },
		NewList:      func() runtime.Object { return &arv1.ValidatingWebhookConfigurationList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				c := obj.(*arv1.ValidatingWebhookConfiguration)
				for i := range c.Webhooks {
					defaultValidatingWebhook(&c.Webhooks[i])
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateValidatingWebhookConfiguration(obj.(*arv1.ValidatingWebhookConfiguration))
			},
			TrackGeneration: true,
			TableColumns:    []metav1.TableColumnDefinition{webhooksColumn, ageColumn},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{int64(len(obj.(*arv1.ValidatingWebhookConfiguration).Webhooks)), registry.Age(obj)}
			},
		},
	}
}

func validatingAdmissionPolicyResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "validatingadmissionpolicies",
		SingularName: "validatingadmissionpolicy",
		Kind:         "ValidatingAdmissionPolicy",
		Categories:   []string{"api-extensions"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &arv1.ValidatingAdmissionPolicy{} },
		NewList:      func() runtime.Object { return &arv1.ValidatingAdmissionPolicyList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{ResetMetadata: true})},
			Default: func(obj runtime.Object) {
				defaultPolicySpec(&obj.(*arv1.ValidatingAdmissionPolicy).Spec)
			},
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*arv1.ValidatingAdmissionPolicy).Status = arv1.ValidatingAdmissionPolicyStatus{}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validatePolicy(obj.(*arv1.ValidatingAdmissionPolicy))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Validations", "integer", "Validations indicates the number of validation expressions", 0),
				registry.Column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy", 0),
				ageColumn,
			},
			TableRow: func(obj runtime.Object) []interface{} {
				p := obj.(*arv1.ValidatingAdmissionPolicy)
				kind := "<unset>"
				if pk := p.Spec.ParamKind; pk != nil {
					kind = pk.APIVersion + "/" + pk.Kind
				}
				return []interface{}{int64(len(p.Spec.Validations)), kind, registry.Age(obj)}
			},
		},
	}
}

func validatingAdmissionPolicyBindingResource() registry.Resource {
	return registry.Resource{
		GroupVersion: groupVersion,
		Resource:     "validatingadmissionpolicybindings",
		SingularName: "validatingadmissionpolicybinding",
		Kind:         "ValidatingAdmissionPolicyBinding",
		Categories:   []string{"api-extensions"},
		New:          func() runtime.Object { return &arv1.ValidatingAdmissionPolicyBinding{} },
		NewList:      func() runtime.Object { return &arv1.ValidatingAdmissionPolicyBindingList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				if mr := obj.(*arv1.ValidatingAdmissionPolicyBinding).Spec.MatchResources; mr != nil {
					defaultMatchResources(mr)
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateBinding(obj.(*arv1.ValidatingAdmissionPolicyBinding))
			},
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to", 0),
				registry.Column("ParamRef", "string", "ParamRef indicates the param resource which sets the configration param", 0),
				ageColumn,
			},
			TableRow: func(obj runtime.Object) []interface{} {
				b := obj.(*arv1.ValidatingAdmissionPolicyBinding)
				return []interface{}{b.Spec.PolicyName, paramRefCell(b.Spec.ParamRef), registry.Age(obj)}
			},
		},
	}
}

// paramRefCell renders a binding's paramRef as kubectl shows it.
func paramRefCell(pr *arv1.ParamRef) string {
	switch {
	case pr == nil:
		return "<unset>"
	case pr.Name != "" && pr.Namespace != "":
		return pr.Namespace + "/" + pr.Name
	case pr.Name != "":
		return "*/" + pr.Name
	case pr.Selector != nil:
		if s, err := metav1.LabelSelectorAsSelector(pr.Selector); err == nil {
			return s.String()
		}
		return fmt.Sprint(pr.Selector)
	}
	return "<unset>"
}
