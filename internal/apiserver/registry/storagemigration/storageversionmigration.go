package storagemigration

import (
	"strings"

	svmv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the storagemigration.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{storageVersionMigrationResource()}
}

func storageVersionMigrationResource() registry.Resource {
	return registry.Resource{
		GroupVersion: svmv1.SchemeGroupVersion,
		Resource:     "storageversionmigrations",
		SingularName: "storageversionmigration",
		Kind:         "StorageVersionMigration",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &svmv1.StorageVersionMigration{} },
		NewList:      func() runtime.Object { return &svmv1.StorageVersionMigrationList{} },
		Strategy: registry.Strategy{
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*svmv1.StorageVersionMigration).Status = svmv1.StorageVersionMigrationStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*svmv1.StorageVersionMigration).Status = old.(*svmv1.StorageVersionMigration).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateSpec(&obj.(*svmv1.StorageVersionMigration).Spec)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*svmv1.StorageVersionMigration).Spec,
					old.(*svmv1.StorageVersionMigration).Spec, field.NewPath("spec"))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{
				ResetMetadata: true,
				Validate: func(obj, old runtime.Object) field.ErrorList {
					return validateStatusUpdate(obj.(*svmv1.StorageVersionMigration), old.(*svmv1.StorageVersionMigration))
				},
			})},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Resource", "string", "GroupResource to migrate", 0),
				registry.Column("Status", "string", "Status of the migration", 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				svm := obj.(*svmv1.StorageVersionMigration)
				return []interface{}{svm.Spec.Resource.String(), migrationStatus(svm)}
			},
		},
	}
}

// migrationStatus is kubectl's Status column: the last of the Running,
// Succeeded and Failed conditions that is True, else Unknown.
func migrationStatus(svm *svmv1.StorageVersionMigration) string {
	status := "Unknown"
	for _, c := range svm.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			continue
		}
		switch svmv1.MigrationConditionType(c.Type) {
		case svmv1.MigrationRunning, svmv1.MigrationSucceeded, svmv1.MigrationFailed:
			status = c.Type
		}
	}
	return status
}

func validateSpec(spec *svmv1.StorageVersionMigrationSpec) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "resource")
	if spec.Resource.Resource == "" {
		errs = append(errs, field.Required(p.Child("resource"), "resource is required to be set"))
	} else if msgs := utilvalidation.IsDNS1035Label(spec.Resource.Resource); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("resource"), spec.Resource.Resource, strings.Join(msgs, ",")))
	}
	if spec.Resource.Group != "" {
		if msgs := utilvalidation.IsDNS1123Subdomain(spec.Resource.Group); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("group"), spec.Resource.Group, strings.Join(msgs, ",")))
		}
	}
	return errs
}

func validateStatusUpdate(svm, old *svmv1.StorageVersionMigration) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status")
	if rv := svm.Status.ResourceVersion; rv != "" {
		if _, err := resourceversion.CompareResourceVersion(rv, rv); err != nil {
			errs = append(errs, field.Invalid(p.Child("resourceVersion"), rv, err.Error()))
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(svm.Status.Conditions, p.Child("conditions"))...)
	if old.Status.ResourceVersion != "" && old.Status.ResourceVersion != svm.Status.ResourceVersion {
		errs = append(errs, field.Invalid(p.Child("resourceVersion"), svm.Status.ResourceVersion, "field is immutable"))
	}
	succeeded, failed := isTrue(svm, svmv1.MigrationSucceeded), isTrue(svm, svmv1.MigrationFailed)
	if succeeded && failed {
		errs = append(errs, field.Invalid(p.Child("conditions"), svm.Status.Conditions, "Both success and failed conditions cannot be true at the same time"))
	}
	if isTrue(old, svmv1.MigrationSucceeded) && !succeeded {
		errs = append(errs, field.Invalid(p.Child("conditions"), svm.Status.Conditions, "Success condition cannot be set to false once it is true"))
	}
	if isTrue(old, svmv1.MigrationFailed) && !failed {
		errs = append(errs, field.Invalid(p.Child("conditions"), svm.Status.Conditions, "Failed condition cannot be set to false once it is true"))
	}
	return errs
}

func isTrue(svm *svmv1.StorageVersionMigration, t svmv1.MigrationConditionType) bool {
	return meta.IsStatusConditionTrue(svm.Status.Conditions, string(t))
}
