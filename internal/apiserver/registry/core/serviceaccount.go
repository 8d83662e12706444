package core

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func serviceAccountResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "serviceaccounts",
		SingularName: "serviceaccount",
		Kind:         "ServiceAccount",
		ShortNames:   []string{"sa"},
		Namespaced:   true,
		Subresources: []string{"token"},
		New:          func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:      func() runtime.Object { return &corev1.ServiceAccountList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList {
				sa := obj.(*corev1.ServiceAccount)
				var errs field.ErrorList
				for i, s := range sa.Secrets {
					if s.Name != "" {
						errs = append(errs, registry.ValidateDNSSubdomain(s.Name, field.NewPath("secrets").Index(i).Child("name"))...)
					}
				}
				for i, s := range sa.ImagePullSecrets {
					if s.Name == "" {
						errs = append(errs, field.Required(field.NewPath("imagePullSecrets").Index(i).Child("name"), ""))
					}
				}
				return errs
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				return []interface{}{int64(len(obj.(*corev1.ServiceAccount).Secrets)), registry.Age(obj)}
			},
		},
	}
}
