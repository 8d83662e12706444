package reconcile

import (
	"encoding/json"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RevisionData is the patch a ControllerRevision stores for a pod
// template, shaped as upstream's: {"spec":{"template":{...,"$patch":"replace"}}}.
func RevisionData(tmpl *corev1.PodTemplateSpec) ([]byte, error) {
	b, err := json.Marshal(tmpl)
	if err != nil {
		return nil, fmt.Errorf("encode pod template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode pod template: %w", err)
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// RevisionTemplate decodes the pod template a ControllerRevision stores.
func RevisionTemplate(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &d); err != nil {
		return nil, fmt.Errorf("decode revision %s: %w", rev.Name, err)
	}
	return &d.Spec.Template, nil
}

// NewRevision builds a ControllerRevision for tmpl owned by owner, named
// <owner>-<hash> and labelled with the owner's selector labels plus
// controller-revision-hash.
func NewRevision(owner metav1.Object, ownerRef metav1.OwnerReference, selectorLabels map[string]string, tmpl *corev1.PodTemplateSpec, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	data, err := RevisionData(tmpl)
	if err != nil {
		return nil, err
	}
	hash := HashObject(tmpl, collisionCount)
	labels := map[string]string{}
	for k, v := range selectorLabels {
		labels[k] = v
	}
	labels[appsv1.ControllerRevisionHashLabelKey] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: owner.GetName() + "-" + hash, Namespace: owner.GetNamespace(), Labels: labels,
			OwnerReferences: []metav1.OwnerReference{ownerRef},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}, nil
}

// SortRevisions orders revisions by revision number, then name.
func SortRevisions(revs []*appsv1.ControllerRevision) {
	sort.Slice(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		return revs[i].Name < revs[j].Name
	})
}

// EqualRevision reports whether rev stores tmpl. It compares decoded
// templates: the API server may re-encode the stored JSON.
func EqualRevision(rev *appsv1.ControllerRevision, tmpl *corev1.PodTemplateSpec) bool {
	t, err := RevisionTemplate(rev)
	return err == nil && equality.Semantic.DeepEqual(t, tmpl)
}
