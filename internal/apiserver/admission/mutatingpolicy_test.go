package admission

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	arv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// policyObjects serves mutating policies and bindings.
type policyObjects struct {
	objects map[schema.GroupVersionResource][]runtime.Object
}

func (p policyObjects) List(gvr schema.GroupVersionResource, _ string) []runtime.Object {
	return p.objects[gvr]
}

func (p policyObjects) Get(schema.GroupVersionResource, string, string) (runtime.Object, bool) {
	return nil, false
}

func (p policyObjects) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func TestMutatingAdmissionPolicy(t *testing.T) {
	deployments := arv1.NamedRuleWithOperations{RuleWithOperations: arv1.RuleWithOperations{
		Operations: []arv1.OperationType{arv1.Create},
		Rule:       arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
	}}
	policy := func(name string, muts ...arv1.Mutation) *arv1.MutatingAdmissionPolicy {
		return &arv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: arv1.MutatingAdmissionPolicySpec{
			FailurePolicy:    ptr.To(arv1.Fail),
			MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{deployments}},
			Mutations:        muts,
		}}
	}
	apply := func(expr string) arv1.Mutation {
		return arv1.Mutation{PatchType: arv1.PatchTypeApplyConfiguration, ApplyConfiguration: &arv1.ApplyConfiguration{Expression: expr}}
	}
	jsonPatch := func(expr string) arv1.Mutation {
		return arv1.Mutation{PatchType: arv1.PatchTypeJSONPatch, JSONPatch: &arv1.JSONPatch{Expression: expr}}
	}
	binding := func(policy string) *arv1.MutatingAdmissionPolicyBinding {
		return &arv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy + "-binding"}, Spec: arv1.MutatingAdmissionPolicyBindingSpec{PolicyName: policy}}
	}
	tests := []struct {
		name     string
		policies []*arv1.MutatingAdmissionPolicy
		unbound  bool
		want     func(*appsv1.Deployment)
		wantErr  string
	}{
		{
			name: "apply configuration sets replicas and an annotation, keeping the rest",
			policies: []*arv1.MutatingAdmissionPolicy{policy("a",
				apply(`Object{spec: Object.spec{replicas: 1337}}`),
				apply(`Object{metadata: Object.metadata{annotations: {"mutated-by": "admission-policy"}}}`))},
			want: func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptr.To(int32(1337))
				d.Annotations = map[string]string{"keep": "me", "mutated-by": "admission-policy"}
			},
		},
		{
			name:     "a JSON patch sees the object the previous policy left",
			policies: []*arv1.MutatingAdmissionPolicy{policy("a", apply(`Object{spec: Object.spec{replicas: 2}}`)), policy("b", jsonPatch(`[JSONPatch{op: "add", path: "/metadata/labels", value: {"replicas": string(object.spec.replicas)}}]`))},
			want: func(d *appsv1.Deployment) {
				d.Spec.Replicas = ptr.To(int32(2))
				d.Labels = map[string]string{"replicas": "2"}
			},
		},
		{
			name:     "a policy without a binding does nothing",
			policies: []*arv1.MutatingAdmissionPolicy{policy("a", apply(`Object{spec: Object.spec{replicas: 2}}`))},
			unbound:  true,
			want:     func(*appsv1.Deployment) {},
		},
		{
			name:     "a failing expression refuses the request",
			policies: []*arv1.MutatingAdmissionPolicy{policy("a", apply(`Object{spec: Object.spec{replicas: object.missing}}`))},
			wantErr:  `deployments.apps "web" is forbidden: policy 'a' with binding 'a-binding' denied request: expression 'Object{spec: Object.spec{replicas: object.missing}}' resulted in error: no such key: missing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := policyObjects{objects: map[schema.GroupVersionResource][]runtime.Object{}}
			for _, p := range tt.policies {
				objs.objects[mutatingPoliciesGVR] = append(objs.objects[mutatingPoliciesGVR], p)
				if !tt.unbound {
					objs.objects[mutatingBindingsGVR] = append(objs.objects[mutatingBindingsGVR], binding(p.Name))
				}
			}
			env, err := newCELPrograms()
			if err != nil {
				t.Fatal(err)
			}
			plugin := mutatingAdmissionPolicy{p: &policies{objects: objs, cel: env}}
			d := &appsv1.Deployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{"keep": "me"}},
				Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(1))},
			}
			a := &Attributes{Kind: appsv1.SchemeGroupVersion.WithKind("Deployment"), Resource: appsv1.SchemeGroupVersion.WithResource("deployments"),
				Namespace: "default", Name: "web", Operation: Create, Object: d.DeepCopy()}
			err = plugin.Admit(context.Background(), a)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := d.DeepCopy()
			tt.want(want)
			if diff := cmp.Diff(want, a.Object); diff != "" {
				t.Errorf("object (-want +got):\n%s", diff)
			}
		})
	}
}
