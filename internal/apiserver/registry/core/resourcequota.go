package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func resourceQuotaResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "resourcequotas",
		SingularName: "resourcequota",
		Kind:         "ResourceQuota",
		ShortNames:   []string{"quota"},
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.ResourceQuota{} },
		NewList:      func() runtime.Object { return &corev1.ResourceQuotaList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				q := obj.(*corev1.ResourceQuota)
				roundResourceList(q.Spec.Hard)
				roundResourceList(q.Status.Hard)
				roundResourceList(q.Status.Used)
			},
			PrepareForCreate: func(obj runtime.Object) { obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{} },
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*corev1.ResourceQuota).Status = old.(*corev1.ResourceQuota).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateResourceQuota(obj.(*corev1.ResourceQuota)) },
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList {
						q := obj.(*corev1.ResourceQuota)
						p := field.NewPath("status")
						errs := validateResourceList(q.Status.Hard, p.Child("hard"), validateResourceName)
						return append(errs, validateResourceList(q.Status.Used, p.Child("used"), validateResourceName)...)
					},
				}),
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume.", 0),
				registry.Column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.", 0),
			},
			TableRow: func(obj runtime.Object) []interface{} { return quotaRow(obj.(*corev1.ResourceQuota)) },
		},
	}
}

var supportedQuotaScopes = []string{"BestEffort", "CrossNamespacePodAffinity", "NotBestEffort", "NotTerminating", "PriorityClass", "Terminating", "VolumeAttributesClass"}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	specPath := field.NewPath("spec")
	errs := validateResourceList(q.Spec.Hard, specPath.Child("hard"), validateResourceName)
	for i, s := range q.Spec.Scopes {
		ok := false
		for _, v := range supportedQuotaScopes {
			if string(s) == v {
				ok = true
			}
		}
		if !ok {
			errs = append(errs, field.NotSupported(specPath.Child("scopes").Index(i), s, supportedQuotaScopes))
		}
	}
	return errs
}

// quotaRow shows "used/hard" per resource, limits.* under Limit and the rest under Request.
func quotaRow(q *corev1.ResourceQuota) []interface{} {
	var req, lim []string
	for _, name := range sortedResourceNames(q.Spec.Hard) {
		used, hard := q.Status.Used[name], q.Status.Hard[name]
		cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if parts := strings.Split(string(name), "."); len(parts) > 1 && parts[0] == "limits" {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return []interface{}{registry.Age(q), strings.Join(req, ", "), strings.Join(lim, ", ")}
}
