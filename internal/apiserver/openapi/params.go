package openapi

import (
	"reflect"
	"strings"

	"k8s.io/kube-openapi/pkg/common"
)

// param is one operation parameter; it implements common.Parameter so the
// kube-openapi builders can render it for v2 and v3 alike.
type param struct {
	name     string
	desc     string
	kind     common.ParameterKind
	dataType string
	required bool
}

var _ common.Parameter = param{}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.desc }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.dataType }
func (p param) AllowMultiple() bool        { return false }

func pathParam(name, desc string) param {
	return param{name: name, desc: desc, kind: common.PathParameterKind, dataType: "string", required: true}
}

func bodyParam(required bool) param {
	return param{name: "body", kind: common.BodyParameterKind, dataType: "object", required: required}
}

// prettyParam is accepted by every operation, as upstream does.
var prettyParam = param{
	name:     "pretty",
	desc:     "If 'true', the response is indented for reading by people.",
	kind:     common.QueryParameterKind,
	dataType: "string",
}

// documented is implemented by the API option types: their field
// documentation becomes the parameter descriptions, as upstream derives them.
type documented interface {
	SwaggerDoc() map[string]string
}

// queryParams lists the query parameters an options struct (metav1.ListOptions,
// corev1.PodLogOptions, ...) accepts: one per JSON field of a simple type.
// Fields of struct type (TypeMeta, Preconditions) are not query parameters.
// skip names fields the operation does not take.
func queryParams(options any, skip ...string) []param {
	var docs map[string]string
	if d, ok := options.(documented); ok {
		docs = d.SwaggerDoc()
	}
	t := reflect.TypeOf(options)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []param
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || f.Anonymous {
			continue
		}
		if contains(skip, name) {
			continue
		}
		dataType := simpleType(f.Type)
		if dataType == "" {
			continue
		}
		out = append(out, param{
			name:     name,
			desc:     docs[name],
			kind:     common.QueryParameterKind,
			dataType: dataType,
		})
	}
	return out
}

// simpleType maps a Go field type to the OpenAPI type of a query parameter;
// "" means the field cannot be a query parameter.
func simpleType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Slice:
		// Repeated string parameters (dryRun, command, ports) are
		// declared with their element type, as upstream does.
		return simpleType(t.Elem())
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
