package core

import (
	"encoding/json"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// maxDataSize is upstream's limit on a secret's or config map's data (1 MiB).
const maxDataSize = 1 * 1024 * 1024

const immutableMsg = "field is immutable when `immutable` is set"

func configMapResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "configmaps",
		SingularName: "configmap",
		Kind:         "ConfigMap",
		ShortNames:   []string{"cm"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:      func() runtime.Object { return &corev1.ConfigMapList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList { return validateConfigMap(obj.(*corev1.ConfigMap)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				n, o := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
				return validateImmutableData(n.Immutable, o.Immutable, []dataField{
					{"data", n.Data, o.Data}, {"binaryData", n.BinaryData, o.BinaryData},
				})
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				cm := obj.(*corev1.ConfigMap)
				return []interface{}{int64(len(cm.Data) + len(cm.BinaryData)), registry.Age(cm)}
			},
			Fields: func(runtime.Object) fields.Set { return fields.Set{} },
		},
	}
}

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		errs = append(errs, validateConfigMapKey(k, field.NewPath("data").Key(k))...)
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		p := field.NewPath("binaryData").Key(k)
		errs = append(errs, validateConfigMapKey(k, p)...)
		if _, dup := cm.Data[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in data"))
		}
		size += len(cm.BinaryData[k])
	}
	if size > maxDataSize {
		// "" as the value keeps the whole payload out of the message.
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataSize))
	}
	return errs
}

// dataField is one map an `immutable: true` object may no longer change.
type dataField struct {
	name     string
	new, old interface{}
}

func validateImmutableData(newImm, oldImm *bool, data []dataField) field.ErrorList {
	if oldImm == nil || !*oldImm {
		return nil
	}
	var errs field.ErrorList
	if newImm == nil || !*newImm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
	}
	for _, d := range data {
		if !reflect.DeepEqual(d.new, d.old) {
			errs = append(errs, field.Forbidden(field.NewPath(d.name), immutableMsg))
		}
	}
	return errs
}

// validJSON reports whether b parses as JSON.
func validJSON(b []byte) bool {
	var v interface{}
	return json.Unmarshal(b, &v) == nil
}
