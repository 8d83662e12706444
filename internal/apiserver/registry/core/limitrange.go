package core

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func limitRangeResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "limitranges",
		SingularName: "limitrange",
		Kind:         "LimitRange",
		ShortNames:   []string{"limits"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.LimitRange{} },
		NewList:      func() runtime.Object { return &corev1.LimitRangeList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				lr := obj.(*corev1.LimitRange)
				for i := range lr.Spec.Limits {
					defaultLimitRangeItem(&lr.Spec.Limits[i])
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateLimitRange(obj.(*corev1.LimitRange)) },
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Created At", "date", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{obj.(*corev1.LimitRange).CreationTimestamp.UTC().Format(time.RFC3339)}
			},
		},
	}
}

// defaultLimitRangeItem fills a container item's default limit from max,
// and its default request from the default limit, then from min.
func defaultLimitRangeItem(it *corev1.LimitRangeItem) {
	for _, l := range []corev1.ResourceList{it.Max, it.Min, it.Default, it.DefaultRequest, it.MaxLimitRequestRatio} {
		roundResourceList(l)
	}
	if it.Type != corev1.LimitTypeContainer {
		return
	}
	if it.Default == nil {
		it.Default = corev1.ResourceList{}
	}
	if it.DefaultRequest == nil {
		it.DefaultRequest = corev1.ResourceList{}
	}
	for k, v := range it.Max {
		if _, ok := it.Default[k]; !ok {
			it.Default[k] = v.DeepCopy()
		}
	}
	for k, v := range it.Default {
		if _, ok := it.DefaultRequest[k]; !ok {
			it.DefaultRequest[k] = v.DeepCopy()
		}
	}
	for k, v := range it.Min {
		if _, ok := it.DefaultRequest[k]; !ok {
			it.DefaultRequest[k] = v.DeepCopy()
		}
	}
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		p := field.NewPath("spec", "limits").Index(i)
		switch it.Type {
		case corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim:
		case "":
			errs = append(errs, field.Required(p.Child("type"), ""))
		default:
			errs = append(errs, field.NotSupported(p.Child("type"), it.Type, []string{"Container", "PersistentVolumeClaim", "Pod"}))
		}
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", it.Max}, {"min", it.Min}, {"default", it.Default}, {"defaultRequest", it.DefaultRequest}, {"maxLimitRequestRatio", it.MaxLimitRequestRatio}} {
			errs = append(errs, validateResourceList(l.list, p.Child(l.name), validateResourceName)...)
		}
		if it.Type == corev1.LimitTypePod {
			if len(it.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(it.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		for _, k := range sortedResourceNames(mergedList(it)) {
			min, hasMin := it.Min[k]
			max, hasMax := it.Max[k]
			def, hasDef := it.Default[k]
			defReq, hasDefReq := it.DefaultRequest[k]
			key := string(k)
			if hasMin && hasMax && min.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(p.Child("min").Key(key), min, fmt.Sprintf("min value %s is greater than max value %s", min.String(), max.String())))
			}
			if hasDefReq && hasMin && min.Cmp(defReq) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("min value %s is greater than default request value %s", min.String(), defReq.String())))
			}
			if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), max.String())))
			}
			if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), defReq, fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
			}
			if hasDef && hasMin && min.Cmp(def) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(key), def, fmt.Sprintf("min value %s is greater than default value %s", min.String(), def.String())))
			}
			if hasDef && hasMax && def.Cmp(max) > 0 {
				errs = append(errs, field.Invalid(p.Child("default").Key(key), def, fmt.Sprintf("default value %s is greater than max value %s", def.String(), max.String())))
			}
		}
	}
	return errs
}

func mergedList(it *corev1.LimitRangeItem) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, l := range []corev1.ResourceList{it.Max, it.Min, it.Default, it.DefaultRequest} {
		for k, v := range l {
			out[k] = v
		}
	}
	return out
}
