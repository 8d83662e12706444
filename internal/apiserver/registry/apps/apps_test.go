package apps

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

func res(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func fieldErrs(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+string(e.Type))
	}
	return out
}

var appLabels = map[string]string{"app": "web"}

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}, {Name: "side", Image: "busybox"}}},
	}
}

func deployment(mut func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: template(),
		},
	}
	if mut != nil {
		mut(d)
	}
	return d
}

func TestDiscovery(t *testing.T) {
	type info struct {
		Short, Cats, Subs string
	}
	got := map[string]info{}
	for _, r := range Resources() {
		got[r.Resource] = info{strings.Join(r.ShortNames, ","), strings.Join(r.Categories, ","), strings.Join(r.Subresources, ",")}
		if !r.Namespaced {
			t.Errorf("%s: not namespaced", r.Resource)
		}
	}
	want := map[string]info{
		"deployments":         {"deploy", "all", "status,scale"},
		"replicasets":         {"rs", "all", "status,scale"},
		"statefulsets":        {"sts", "all", "status,scale"},
		"daemonsets":          {"ds", "all", "status"},
		"controllerrevisions": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
}

func TestDeploymentDefaults(t *testing.T) {
	d := deployment(nil)
	res(t, "deployments").Strategy.Default(d)
	quarter := intstr.FromString("25%")
	want := appsv1.DeploymentSpec{
		Replicas: int32Ptr(1),
		Strategy: appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &quarter, MaxSurge: &quarter},
		},
		RevisionHistoryLimit:    int32Ptr(10),
		ProgressDeadlineSeconds: int32Ptr(600),
	}
	got := d.Spec
	got.Selector, got.Template = nil, corev1.PodTemplateSpec{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("pod template not defaulted: restartPolicy %q", d.Spec.Template.Spec.RestartPolicy)
	}
}

func TestDeploymentValidate(t *testing.T) {
	zero := intstr.FromInt32(0)
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want []string
	}{
		{name: "valid", d: deployment(nil)},
		{
			name: "selector does not match",
			d: deployment(func(d *appsv1.Deployment) {
				d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
			}),
			want: []string{"spec.template.metadata.labels: FieldValueInvalid"},
		},
		{
			name: "no selector",
			d:    deployment(func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			want: []string{"spec.selector: FieldValueRequired"},
		},
		{
			name: "empty selector",
			d:    deployment(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }),
			want: []string{"spec.selector: FieldValueInvalid"},
		},
		{
			name: "negative replicas",
			d:    deployment(func(d *appsv1.Deployment) { d.Spec.Replicas = int32Ptr(-1) }),
			want: []string{"spec.replicas: FieldValueInvalid"},
		},
		{
			name: "surge and unavailable both zero",
			d: deployment(func(d *appsv1.Deployment) {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
			}),
			want: []string{"spec.strategy.rollingUpdate.maxUnavailable: FieldValueInvalid"},
		},
		{
			name: "restartPolicy Never",
			d:    deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			want: []string{"spec.template.spec.restartPolicy: FieldValueNotSupported"},
		},
		{
			name: "recreate with rollingUpdate",
			d: deployment(func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
			}),
			want: []string{"spec.strategy.rollingUpdate: FieldValueForbidden"},
		},
	}
	s := res(t, "deployments").Strategy
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Default(tt.d)
			if diff := cmp.Diff(tt.want, fieldErrs(s.Validate(tt.d))); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectorMismatchMessage(t *testing.T) {
	d := deployment(func(d *appsv1.Deployment) {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	})
	s := res(t, "deployments").Strategy
	s.Default(d)
	errs := s.Validate(d)
	want := "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("got %v, want %q", errs, want)
	}
}

func TestSelectorImmutable(t *testing.T) {
	for _, name := range []string{"deployments", "replicasets", "daemonsets"} {
		t.Run(name, func(t *testing.T) {
			r := res(t, name)
			old, upd := r.New(), r.New()
			setSelector(old, map[string]string{"app": "web"})
			setSelector(upd, map[string]string{"app": "web", "tier": "front"})
			errs := r.Strategy.ValidateUpdate(upd, old)
			if diff := cmp.Diff([]string{"spec.selector: FieldValueInvalid"}, fieldErrs(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(errs) == 1 && errs[0].Detail != "field is immutable" {
				t.Errorf("detail %q", errs[0].Detail)
			}
		})
	}
}

func setSelector(obj runtime.Object, l map[string]string) {
	sel := &metav1.LabelSelector{MatchLabels: l}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Selector = sel
	case *appsv1.ReplicaSet:
		o.Spec.Selector = sel
	case *appsv1.DaemonSet:
		o.Spec.Selector = sel
	}
}

func TestStatusResetAndKept(t *testing.T) {
	s := res(t, "deployments").Strategy
	d := deployment(func(d *appsv1.Deployment) { d.Status.Replicas = 5 })
	s.PrepareForCreate(d)
	if d.Status.Replicas != 0 {
		t.Errorf("create kept status %+v", d.Status)
	}
	old := deployment(func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 2 })
	upd := deployment(func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 9 })
	s.PrepareForUpdate(upd, old)
	if upd.Status.ReadyReplicas != 2 {
		t.Errorf("update changed status: %+v", upd.Status)
	}
	if !s.TrackGeneration {
		t.Errorf("deployments must track generation")
	}
}

func TestStatefulSet(t *testing.T) {
	r := res(t, "statefulsets")
	sts := &appsv1.StatefulSet{
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: appLabels},
			Template:    template(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	r.Strategy.Default(sts)
	if sts.Spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement || *sts.Spec.UpdateStrategy.RollingUpdate.Partition != 0 ||
		*sts.Spec.Replicas != 1 || *sts.Spec.RevisionHistoryLimit != 10 ||
		sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("defaults: %+v", sts.Spec)
	}
	if errs := r.Strategy.Validate(sts); len(errs) != 0 {
		t.Fatalf("valid statefulset rejected: %v", errs)
	}
	// Containers mount a claim template by its name, as upstream allows.
	mounts := sts.DeepCopy()
	mounts.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if errs := r.Strategy.Validate(mounts); len(errs) != 0 {
		t.Errorf("mount of a claim template rejected: %v", errs)
	}
	mounts.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name = "nothing"
	if len(r.Strategy.Validate(mounts)) == 0 {
		t.Error("mount of an unknown volume accepted")
	}

	bad := sts.DeepCopy()
	bad.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil
	bad.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil
	want := []string{
		"spec.volumeClaimTemplates[0].spec.accessModes: FieldValueRequired",
		"spec.volumeClaimTemplates[0].spec.resources[storage]: FieldValueRequired",
	}
	if diff := cmp.Diff(want, fieldErrs(r.Strategy.Validate(bad))); diff != "" {
		t.Errorf("claim template errors (-want +got):\n%s", diff)
	}

	scaled := sts.DeepCopy()
	scaled.Spec.Replicas = int32Ptr(3)
	if errs := r.Strategy.ValidateUpdate(scaled, sts); len(errs) != 0 {
		t.Errorf("scaling rejected: %v", errs)
	}
	renamed := sts.DeepCopy()
	renamed.Spec.ServiceName = "other"
	if diff := cmp.Diff([]string{"spec: FieldValueForbidden"}, fieldErrs(r.Strategy.ValidateUpdate(renamed, sts))); diff != "" {
		t.Errorf("serviceName change (-want +got):\n%s", diff)
	}
}

func TestDaemonSetDefaultsAndValidate(t *testing.T) {
	r := res(t, "daemonsets")
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template()}}
	r.Strategy.Default(ds)
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru.MaxUnavailable.IntVal != 1 || ru.MaxSurge.IntVal != 0 || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("defaults: %+v", ds.Spec.UpdateStrategy)
	}
	if errs := r.Strategy.Validate(ds); len(errs) != 0 {
		t.Errorf("valid daemonset rejected: %v", errs)
	}
	zero := intstr.FromInt32(0)
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &zero
	if diff := cmp.Diff([]string{"spec.updateStrategy.rollingUpdate.maxUnavailable: FieldValueInvalid"}, fieldErrs(r.Strategy.Validate(ds))); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestTables(t *testing.T) {
	d := deployment(func(d *appsv1.Deployment) {
		d.Spec.Replicas = int32Ptr(3)
		d.Status = appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	})
	rs := &appsv1.ReplicaSet{
		Spec:   appsv1.ReplicaSetSpec{Replicas: int32Ptr(3), Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template()},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
	}
	sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: int32Ptr(2), Template: template()}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 2}}
	ds := &appsv1.DaemonSet{
		Spec:   appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template()},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1, UpdatedNumberScheduled: 2, NumberAvailable: 1},
	}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: boolPtr(true)}}},
		Revision:   2,
	}
	tests := []struct {
		resource string
		obj      runtime.Object
		want     []interface{}
	}{
		{"deployments", d, []interface{}{"2/3", int64(3), int64(2), "<unknown>", "nginx,side", "nginx:1.27,busybox", "app=web"}},
		{"replicasets", rs, []interface{}{int64(3), int64(3), int64(1), "<unknown>", "nginx,side", "nginx:1.27,busybox", "app=web"}},
		{"statefulsets", sts, []interface{}{"2/2", "<unknown>", "nginx,side", "nginx:1.27,busybox"}},
		{"daemonsets", ds, []interface{}{int64(2), int64(2), int64(1), int64(2), int64(1), "kubernetes.io/os=linux", "<unknown>", "nginx,side", "nginx:1.27,busybox", "app=web"}},
		{"controllerrevisions", cr, []interface{}{"statefulset.apps/web", int64(2), "<unknown>"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			s := res(t, tt.resource).Strategy
			got := s.TableRow(tt.obj)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("row (-want +got):\n%s", diff)
			}
			if len(got) != len(s.TableColumns) {
				t.Errorf("%d cells for %d columns", len(got), len(s.TableColumns))
			}
		})
	}
}

func boolPtr(b bool) *bool { return &b }

func TestScaleAndFields(t *testing.T) {
	d := deployment(func(d *appsv1.Deployment) {
		d.Spec.Replicas = int32Ptr(3)
		d.Status.Replicas = 2
	})
	s := res(t, "deployments").Strategy.Scale
	sc := s.Get(d)
	if sc.Spec.Replicas != 3 || sc.Status.Replicas != 2 || sc.Status.Selector != "app=web" || sc.Name != "web" {
		t.Errorf("scale: %+v", sc)
	}
	s.SetReplicas(d, 5)
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas not set: %d", *d.Spec.Replicas)
	}
	rs := &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 4}}
	if got := res(t, "replicasets").Strategy.Fields(rs)["status.replicas"]; got != "4" {
		t.Errorf("status.replicas field = %q", got)
	}
}
