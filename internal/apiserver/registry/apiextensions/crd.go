package apiextensions

import (
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the apiextensions.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{crdResource()}
}

func crdResource() registry.Resource {
	return registry.Resource{
		GroupVersion: apiextensionsv1.SchemeGroupVersion,
		Resource:     "customresourcedefinitions",
		SingularName: "customresourcedefinition",
		Kind:         "CustomResourceDefinition",
		ShortNames:   []string{"crd", "crds"},
		Categories:   []string{"api-extensions"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} },
		NewList:      func() runtime.Object { return &apiextensionsv1.CustomResourceDefinitionList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(obj.(*apiextensionsv1.CustomResourceDefinition))
			},
			PrepareForCreate: func(obj runtime.Object) {
				crd := obj.(*apiextensionsv1.CustomResourceDefinition)
				crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{StoredVersions: []string{}}
				if v := StorageVersion(crd); v != "" {
					crd.Status.StoredVersions = []string{v}
				}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				crd, o := obj.(*apiextensionsv1.CustomResourceDefinition), old.(*apiextensionsv1.CustomResourceDefinition)
				crd.Status = o.Status
				if !equality.Semantic.DeepEqual(crd.Spec, o.Spec) {
					crd.Generation = o.Generation + 1
				}
				// A new storage version is recorded as stored, as upstream does.
				if v := StorageVersion(crd); v != "" && !contains(crd.Status.StoredVersions, v) {
					crd.Status.StoredVersions = append(append([]string(nil), crd.Status.StoredVersions...), v)
				}
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Prepare: func(obj, old runtime.Object) {
						crd, o := obj.(*apiextensionsv1.CustomResourceDefinition), old.(*apiextensionsv1.CustomResourceDefinition)
						crd.Spec = o.Spec
					},
				}),
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return ValidateCRD(obj.(*apiextensionsv1.CustomResourceDefinition))
			},
			ValidateUpdate:  validateCRDUpdate,
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
			},
			TableRow: func(obj runtime.Object) []interface{} {
				crd := obj.(*apiextensionsv1.CustomResourceDefinition)
				return []interface{}{crd.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z")}
			},
		},
	}
}

// StorageVersion returns the name of the version marked storage, or "".
func StorageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ValidateCRD checks what upstream checks of a CRD's names, group, scope,
// versions and schemas (without the full structural-schema rules).
func ValidateCRD(crd *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	var errs field.ErrorList
	spec := crd.Spec
	sp := field.NewPath("spec")
	if want := spec.Names.Plural + "." + spec.Group; crd.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), crd.Name, `must be spec.names.plural+"."+spec.group`))
	}
	switch {
	case spec.Group == "":
		errs = append(errs, field.Required(sp.Child("group"), ""))
	case len(strings.Split(spec.Group, ".")) < 2:
		errs = append(errs, field.Invalid(sp.Child("group"), spec.Group, "should be a domain with at least one dot"))
	default:
		for _, msg := range utilvalidation.IsDNS1123Subdomain(spec.Group) {
			errs = append(errs, field.Invalid(sp.Child("group"), spec.Group, msg))
		}
	}
	switch spec.Scope {
	case apiextensionsv1.ClusterScoped, apiextensionsv1.NamespaceScoped:
	case "":
		errs = append(errs, field.Required(sp.Child("scope"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("scope"), spec.Scope, []string{string(apiextensionsv1.ClusterScoped), string(apiextensionsv1.NamespaceScoped)}))
	}
	errs = append(errs, validateNames(spec.Names, sp.Child("names"))...)
	vp := sp.Child("versions")
	if len(spec.Versions) == 0 {
		errs = append(errs, field.Required(vp, "must have exactly one version marked as storage version"))
	}
	storage, seen := 0, map[string]bool{}
	for i, v := range spec.Versions {
		p := vp.Index(i)
		if v.Storage {
			storage++
		}
		if seen[v.Name] {
			errs = append(errs, field.Invalid(p.Child("name"), v.Name, "must be unique"))
		}
		seen[v.Name] = true
		for _, msg := range utilvalidation.IsDNS1035Label(v.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), v.Name, msg))
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			errs = append(errs, field.Required(p.Child("schema", "openAPIV3Schema"), "schemas are required"))
		} else if s := v.Schema.OpenAPIV3Schema; s.Type != "object" {
			errs = append(errs, field.Invalid(p.Child("schema", "openAPIV3Schema", "type"), s.Type, "must be object at the root"))
		} else if hasRules(s) {
			rules, err := newCELRules()
			if err != nil {
				errs = append(errs, field.InternalError(p.Child("schema"), err))
			} else {
				errs = append(errs, rules.compileAll(s, p.Child("schema", "openAPIV3Schema"))...)
			}
		}
		if sr := v.Subresources; sr != nil && sr.Scale != nil {
			sc := p.Child("subresources", "scale")
			if !strings.HasPrefix(sr.Scale.SpecReplicasPath, ".spec.") {
				errs = append(errs, field.Invalid(sc.Child("specReplicasPath"), sr.Scale.SpecReplicasPath, "should be a json path under .spec"))
			}
			if !strings.HasPrefix(sr.Scale.StatusReplicasPath, ".status.") {
				errs = append(errs, field.Invalid(sc.Child("statusReplicasPath"), sr.Scale.StatusReplicasPath, "should be a json path under .status"))
			}
		}
		for j, c := range v.AdditionalPrinterColumns {
			cp := p.Child("additionalPrinterColumns").Index(j)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			}
			if c.JSONPath == "" {
				errs = append(errs, field.Required(cp.Child("jsonPath"), ""))
			}
			switch c.Type {
			case "integer", "number", "string", "boolean", "date":
			default:
				errs = append(errs, field.NotSupported(cp.Child("type"), c.Type, []string{"boolean", "date", "integer", "number", "string"}))
			}
		}
	}
	if len(spec.Versions) > 0 && storage != 1 {
		errs = append(errs, field.Invalid(vp, spec.Versions, "must have exactly one version marked as storage version"))
	}
	if c := spec.Conversion; c != nil && c.Strategy != apiextensionsv1.NoneConverter && c.Strategy != apiextensionsv1.WebhookConverter {
		errs = append(errs, field.NotSupported(sp.Child("conversion", "strategy"), c.Strategy, []string{string(apiextensionsv1.NoneConverter), string(apiextensionsv1.WebhookConverter)}))
	}
	return errs
}

func validateNames(n apiextensionsv1.CustomResourceDefinitionNames, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, c := range []struct {
		name, value string
	}{{"plural", n.Plural}, {"singular", n.Singular}} {
		if c.value == "" {
			errs = append(errs, field.Required(p.Child(c.name), ""))
			continue
		}
		for _, msg := range utilvalidation.IsDNS1035Label(c.value) {
			errs = append(errs, field.Invalid(p.Child(c.name), c.value, msg))
		}
	}
	if n.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	}
	if n.ListKind == "" {
		errs = append(errs, field.Required(p.Child("listKind"), ""))
	} else if n.ListKind == n.Kind {
		errs = append(errs, field.Invalid(p.Child("listKind"), n.ListKind, "kind and listKind may not be the same"))
	}
	for i, s := range n.ShortNames {
		for _, msg := range utilvalidation.IsDNS1035Label(s) {
			errs = append(errs, field.Invalid(p.Child("shortNames").Index(i), s, msg))
		}
	}
	return errs
}

func validateCRDUpdate(obj, old runtime.Object) field.ErrorList {
	crd, o := obj.(*apiextensionsv1.CustomResourceDefinition), old.(*apiextensionsv1.CustomResourceDefinition)
	var errs field.ErrorList
	if crd.Spec.Group != o.Spec.Group {
		errs = append(errs, field.Invalid(field.NewPath("spec", "group"), crd.Spec.Group, "field is immutable"))
	}
	if crd.Spec.Names.Plural != o.Spec.Names.Plural {
		errs = append(errs, field.Invalid(field.NewPath("spec", "names", "plural"), crd.Spec.Names.Plural, "field is immutable"))
	}
	if crd.Spec.Scope != o.Spec.Scope {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scope"), crd.Spec.Scope, "field is immutable"))
	}
	return errs
}
