package storageversionmigrator

import (
	"context"
	"fmt"

	svmv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
)

var crdGVR = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// updateCRD applies change to a fresh read of the CRD serving svm's
// resource, if there is one, and writes its status if change says it
// changed anything, retrying on conflict.
func (c *Controller) updateCRD(ctx context.Context, svm *svmv1.StorageVersionMigration, change func(*apiextensionsv1.CustomResourceDefinition) bool) error {
	name := crdName(svm.Spec.Resource)
	if name == "" {
		return nil
	}
	api := c.dynamic.Resource(crdGVR)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get crd %s: %w", name, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crd); err != nil {
			return fmt.Errorf("decode crd %s: %w", name, err)
		}
		if !change(crd) {
			return nil
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			return fmt.Errorf("encode crd %s: %w", name, err)
		}
		_, err = api.UpdateStatus(ctx, &unstructured.Unstructured{Object: obj}, metav1.UpdateOptions{FieldManager: FieldManager})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// startCRD marks the CRD StorageMigrating, recording its generation: the
// stored versions are trimmed at the end only if it has not changed.
func (c *Controller) startCRD(ctx context.Context, svm *svmv1.StorageVersionMigration) error {
	return c.updateCRD(ctx, svm, func(crd *apiextensionsv1.CustomResourceDefinition) bool {
		apihelpers.SetCRDCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
			Type:               apiextensionsv1.StorageMigrating,
			Status:             apiextensionsv1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(c.clock.Now()),
			Reason:             "MigrationRunning",
			Message:            fmt.Sprintf("Migration %s is running", svm.Name),
			ObservedGeneration: crd.Generation,
		})
		return true
	})
}

// finishCRD ends the CRD's StorageMigrating and, after a success while the
// CRD kept its generation, leaves only the storage version stored.
func (c *Controller) finishCRD(ctx context.Context, svm *svmv1.StorageVersionMigration, success bool) error {
	return c.updateCRD(ctx, svm, func(crd *apiextensionsv1.CustomResourceDefinition) bool {
		cond := apihelpers.FindCRDCondition(crd, apiextensionsv1.StorageMigrating)
		if cond == nil || cond.Status != apiextensionsv1.ConditionTrue {
			return false
		}
		current := cond.ObservedGeneration == crd.Generation
		reason, msg := "MigrationFailed", "The migration has failed"
		if success {
			reason, msg = "MigrationSucceeded", "The migration has succeeded"
			if current {
				msg += " and the stored versions have been updated"
			} else {
				msg += " but the stored versions have not been updated due to a generation mismatch"
			}
		}
		apihelpers.SetCRDCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
			Type:               apiextensionsv1.StorageMigrating,
			Status:             apiextensionsv1.ConditionFalse,
			LastTransitionTime: metav1.NewTime(c.clock.Now()),
			Reason:             reason,
			Message:            msg,
			ObservedGeneration: crd.Generation,
		})
		if success && current {
			for _, v := range crd.Spec.Versions {
				if v.Storage {
					crd.Status.StoredVersions = []string{v.Name}
				}
			}
		}
		return true
	})
}
