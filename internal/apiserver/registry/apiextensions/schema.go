package apiextensions

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// Schema is one version's structural schema, ready to prune, default and
// validate objects. Build it once per CRD version with NewSchema.
type Schema struct {
	props     *apiextensionsv1.JSONSchemaProps
	validator *validate.SchemaValidator
	// rules is nil when the schema has no x-kubernetes-validations.
	rules *celRules
}

// NewSchema converts a CRD version's openAPIV3Schema.
func NewSchema(props *apiextensionsv1.JSONSchemaProps) (*Schema, error) {
	if props == nil {
		props = &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}
	}
	s, err := toSpecSchema(props)
	if err != nil {
		return nil, err
	}
	out := &Schema{props: props, validator: validate.NewSchemaValidator(s, nil, "", strfmt.Default)}
	if hasRules(props) {
		if out.rules, err = newCELRules(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func ptrTrue() *bool { t := true; return &t }

// toSpecSchema converts JSONSchemaProps to the kube-openapi schema the
// validator reads; the two share their JSON form.
func toSpecSchema(props *apiextensionsv1.JSONSchemaProps) (*spec.Schema, error) {
	data, err := json.Marshal(props)
	if err != nil {
		return nil, fmt.Errorf("convert schema: %w", err)
	}
	s := &spec.Schema{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("convert schema: %w", err)
	}
	return s, nil
}

// SpecSchema returns the schema in kube-openapi form (for OpenAPI documents
// and the managedFields type converter).
func (s *Schema) SpecSchema() (*spec.Schema, error) { return toSpecSchema(s.props) }

// Props returns the schema as the CRD holds it.
func (s *Schema) Props() *apiextensionsv1.JSONSchemaProps { return s.props }

// Prune drops every field the schema does not know, except where
// x-kubernetes-preserve-unknown-fields keeps them. apiVersion, kind and
// metadata at the root (and in embedded resources) always stay.
func (s *Schema) Prune(obj map[string]interface{}) {
	pruneObject(obj, s.props, true, "", nil)
}

// UnknownFields returns the paths of the fields Prune would drop from obj
// ("spec.foo", "spec.items[0].bar"), sorted, without changing obj.
func (s *Schema) UnknownFields(obj map[string]interface{}) []string {
	var out []string
	pruneObject(runtime.DeepCopyJSON(obj), s.props, true, "", &out)
	sort.Strings(out)
	return out
}

func pruneValue(v interface{}, s *apiextensionsv1.JSONSchemaProps, path string, pruned *[]string) {
	if s == nil {
		return
	}
	switch x := v.(type) {
	case map[string]interface{}:
		pruneObject(x, s, s.XEmbeddedResource, path, pruned)
	case []interface{}:
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range x {
				pruneValue(it, s.Items.Schema, fmt.Sprintf("%s[%d]", path, i), pruned)
			}
		}
	}
}

func pruneObject(obj map[string]interface{}, s *apiextensionsv1.JSONSchemaProps, root bool, path string, pruned *[]string) {
	preserve := s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields
	for k, v := range obj {
		if root && (k == "apiVersion" || k == "kind" || k == "metadata") {
			continue
		}
		kp := k
		if path != "" {
			kp = path + "." + k
		}
		if p, ok := s.Properties[k]; ok {
			pruneValue(v, &p, kp, pruned)
			continue
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			pruneValue(v, s.AdditionalProperties.Schema, kp, pruned)
			continue
		}
		if preserve || (s.AdditionalProperties != nil && s.AdditionalProperties.Allows) {
			continue
		}
		if pruned != nil {
			*pruned = append(*pruned, kp)
		}
		delete(obj, k)
	}
}

// HasDefaults reports whether any field of the schema has a default.
func (s *Schema) HasDefaults() bool {
	return hasDefaults(s.props)
}

func hasDefaults(s *apiextensionsv1.JSONSchemaProps) bool {
	if s == nil {
		return false
	}
	if s.Default != nil {
		return true
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if hasDefaults(&p) {
			return true
		}
	}
	if s.AdditionalProperties != nil && hasDefaults(s.AdditionalProperties.Schema) {
		return true
	}
	return s.Items != nil && hasDefaults(s.Items.Schema)
}

// Default sets every absent field that has a default in the schema, from
// the outside in, as upstream does.
func (s *Schema) Default(obj map[string]interface{}) {
	defaultValue(obj, s.props)
}

func defaultValue(v interface{}, s *apiextensionsv1.JSONSchemaProps) {
	if s == nil {
		return
	}
	switch x := v.(type) {
	case map[string]interface{}:
		for k, p := range s.Properties {
			if _, ok := x[k]; !ok && p.Default != nil {
				var d interface{}
				// apimachinery's decoder keeps integers int64, as in
				// every unstructured object.
				if err := utiljson.Unmarshal(p.Default.Raw, &d); err == nil {
					x[k] = d
				}
			}
			if cur, ok := x[k]; ok {
				defaultValue(cur, &p)
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			for k, cur := range x {
				if _, known := s.Properties[k]; !known {
					defaultValue(cur, s.AdditionalProperties.Schema)
				}
			}
		}
	case []interface{}:
		if s.Items != nil && s.Items.Schema != nil {
			for _, it := range x {
				defaultValue(it, s.Items.Schema)
			}
		}
	}
}

// Validate checks obj against the schema: the OpenAPI keywords through
// kube-openapi's validator, and the Kubernetes extensions (int-or-string,
// list types) here. metadata is validated by the store.
func (s *Schema) Validate(obj map[string]interface{}) field.ErrorList {
	view := withoutMetadata(obj)
	var errs field.ErrorList
	res := s.validator.Validate(view)
	for _, e := range res.Errors {
		errs = append(errs, toFieldErrors(e)...)
	}
	errs = append(errs, validateExtensions(view, s.props, nil)...)
	if s.rules != nil && len(errs) == 0 {
		// Rules assume a value of the declared shape, as upstream's do.
		errs = append(errs, s.rules.walk(view, nil, false, false, s.props, nil)...)
	}
	return errs
}

// ValidateTransitions evaluates the x-kubernetes-validations rules that
// use oldSelf, where old has a value at the same field path.
func (s *Schema) ValidateTransitions(obj, old map[string]interface{}) field.ErrorList {
	if s.rules == nil {
		return nil
	}
	return s.rules.walk(withoutMetadata(obj), withoutMetadata(old), true, true, s.props, nil)
}

func withoutMetadata(obj map[string]interface{}) map[string]interface{} {
	view := make(map[string]interface{}, len(obj))
	for k, v := range obj {
		if k != "metadata" {
			view[k] = v
		}
	}
	return view
}

func toFieldErrors(err error) field.ErrorList {
	switch e := err.(type) {
	case *openapierrors.CompositeError:
		var out field.ErrorList
		for _, inner := range e.Errors {
			out = append(out, toFieldErrors(inner)...)
		}
		return out
	case *openapierrors.Validation:
		p := parsePath(e.Name)
		switch e.Code() {
		case openapierrors.RequiredFailCode:
			return field.ErrorList{field.Required(p, "")}
		case openapierrors.EnumFailCode:
			var valid []string
			for _, v := range e.Values {
				valid = append(valid, fmt.Sprint(v))
			}
			return field.ErrorList{field.NotSupported(p, e.Value, valid)}
		}
		msg := e.Error()
		return field.ErrorList{field.Invalid(p, e.Value, msg)}
	}
	return field.ErrorList{field.Invalid(field.NewPath(""), nil, err.Error())}
}

// parsePath turns the validator's "spec.items[0].name" into a field path.
func parsePath(name string) *field.Path {
	var p *field.Path
	for _, seg := range strings.Split(name, ".") {
		if seg == "" {
			continue
		}
		base, rest, _ := strings.Cut(seg, "[")
		if p == nil {
			p = field.NewPath(base)
		} else {
			p = p.Child(base)
		}
		for rest != "" {
			idx, tail, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(idx); err == nil {
				p = p.Index(n)
			} else {
				p = p.Key(idx)
			}
			rest = strings.TrimPrefix(tail, "[")
		}
	}
	if p == nil {
		return field.NewPath("<root>")
	}
	return p
}

func child(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

func validateExtensions(v interface{}, s *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	if s == nil || v == nil {
		return nil
	}
	var errs field.ErrorList
	if s.XIntOrString {
		switch v.(type) {
		case string, int64, int, int32, float64:
			if f, ok := v.(float64); ok && f != float64(int64(f)) {
				errs = append(errs, field.Invalid(p, v, "must be an integer or a string"))
			}
		default:
			errs = append(errs, field.Invalid(p, v, "must be an integer or a string"))
		}
	}
	switch x := v.(type) {
	case map[string]interface{}:
		for k, cur := range x {
			if prop, ok := s.Properties[k]; ok {
				errs = append(errs, validateExtensions(cur, &prop, child(p, k))...)
			} else if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
				var kp *field.Path
				if p == nil {
					kp = field.NewPath(k)
				} else {
					kp = p.Key(k)
				}
				errs = append(errs, validateExtensions(cur, s.AdditionalProperties.Schema, kp)...)
			}
		}
	case []interface{}:
		errs = append(errs, validateListType(x, s, p)...)
		if s.Items != nil && s.Items.Schema != nil {
			for i, it := range x {
				errs = append(errs, validateExtensions(it, s.Items.Schema, indexOf(p, i))...)
			}
		}
	}
	return errs
}

func indexOf(p *field.Path, i int) *field.Path {
	if p == nil {
		return field.NewPath("").Index(i)
	}
	return p.Index(i)
}

func validateListType(list []interface{}, s *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	if s.XListType == nil {
		return nil
	}
	var errs field.ErrorList
	switch *s.XListType {
	case "set":
		for i := range list {
			for j := 0; j < i; j++ {
				if reflect.DeepEqual(list[i], list[j]) {
					errs = append(errs, field.Duplicate(indexOf(p, i), list[i]))
					break
				}
			}
		}
	case "map":
		seen := map[string]bool{}
		for i, it := range list {
			m, ok := it.(map[string]interface{})
			if !ok {
				continue
			}
			var parts []string
			for _, k := range s.XListMapKeys {
				b, _ := json.Marshal(m[k])
				parts = append(parts, k+"="+string(b))
			}
			key := strings.Join(parts, ",")
			if seen[key] {
				errs = append(errs, field.Duplicate(indexOf(p, i), fmt.Sprintf("map[%s]", key)))
			}
			seen[key] = true
		}
	}
	return errs
}

// unstructuredContent returns obj's JSON map; every custom object is
// *unstructured.Unstructured.
func unstructuredContent(obj runtime.Object) map[string]interface{} {
	if u, ok := obj.(runtime.Unstructured); ok {
		return u.UnstructuredContent()
	}
	return nil
}
