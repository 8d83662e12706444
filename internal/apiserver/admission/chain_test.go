package admission

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeCluster is what the chain reads and writes: namespaces, quotas and
// storage classes, and no admission configuration.
type fakeCluster struct {
	namespaces map[string]*corev1.Namespace
	quotas     map[string]*corev1.ResourceQuota // by namespace/name
	classes    classes
}

func (f *fakeCluster) List(gvr schema.GroupVersionResource, namespace string) []runtime.Object {
	if gvr == storageClassesGVR {
		return f.classes.List(gvr, namespace)
	}
	var out []runtime.Object
	if gvr == resourceQuotasGVR {
		for _, q := range f.quotas {
			if q.Namespace == namespace {
				out = append(out, q)
			}
		}
	}
	return out
}

func (f *fakeCluster) Get(gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, bool) {
	if gvr == storageClassesGVR {
		return f.classes.Get(gvr, namespace, name)
	}
	if gvr == namespacesGVR {
		ns, ok := f.namespaces[name]
		return ns, ok
	}
	if gvr == serviceAccountsGVR && name == "default" {
		if _, ok := f.namespaces[namespace]; ok {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}, true
		}
	}
	return nil, false
}

func (f *fakeCluster) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func (f *fakeCluster) Namespace(_ context.Context, name string) (*corev1.Namespace, error) {
	ns, ok := f.namespaces[name]
	if !ok {
		return nil, apierrors.NewNotFound(namespacesGVR.GroupResource(), name)
	}
	return ns, nil
}

func (f *fakeCluster) UpdateQuota(_ context.Context, namespace, name string, update func(*corev1.ResourceQuota) (*corev1.ResourceQuota, error)) error {
	q, ok := f.quotas[namespace+"/"+name]
	if !ok {
		return nil
	}
	out, err := update(q.DeepCopy())
	if err != nil || out == nil {
		return err
	}
	f.quotas[namespace+"/"+name] = out
	return nil
}

func newCluster() *fakeCluster {
	now := metav1.Now()
	return &fakeCluster{
		namespaces: map[string]*corev1.Namespace{
			"default": {ObjectMeta: metav1.ObjectMeta{Name: "default"}},
			"limited": {ObjectMeta: metav1.ObjectMeta{Name: "limited"}},
			"leaving": {ObjectMeta: metav1.ObjectMeta{Name: "leaving", DeletionTimestamp: &now}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
		},
		quotas: map[string]*corev1.ResourceQuota{
			"limited/q": {ObjectMeta: metav1.ObjectMeta{Namespace: "limited", Name: "q"},
				Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/configmaps": apiresource.MustParse("2")}},
				Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{"count/configmaps": apiresource.MustParse("1")}}},
		},
	}
}

func TestNewOrder(t *testing.T) {
	c := newCluster()
	chain, err := New(Config{Objects: c, Namespaces: c, Quotas: c})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MirrorPod", "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "NodeRestriction", "PodSecurity", "Priority", "RuntimeClass", "DefaultTolerationSeconds",
		"DefaultStorageClass", "StorageObjectInUseProtection", "PersistentVolumeClaimResize", "DefaultIngressClass",
		"MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook", "ValidatingAdmissionPolicy", "ResourceQuota"}
	if diff := cmp.Diff(want, chain.Plugins()); diff != "" {
		t.Errorf("plugins (-want +got):\n%s", diff)
	}
	if _, err := New(Config{Objects: c}); err == nil {
		t.Errorf("New without Namespaces and Quotas: no error")
	}
}

var configMapsGVR = corev1.SchemeGroupVersion.WithResource("configmaps")

func podIn(ns string, mirror bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	if mirror {
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
	}
	return p
}

func configMapIn(ns string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cm"}}
}

// TestBuiltinPlugins runs requests through both phases of the chain and
// checks the answer (the status code, and the message of refusals).
func TestBuiltinPlugins(t *testing.T) {
	tests := []struct {
		name     string
		attrs    Attributes
		wantCode int32
		wantMsg  string
		// wantUsed is the quota's count/configmaps after the request.
		wantUsed string
	}{
		{name: "pod in an active namespace",
			attrs: Attributes{Operation: Create, Resource: podsGVR, Namespace: "default", Object: podIn("default", false)}},
		{name: "pod in a terminating namespace", wantCode: 403,
			wantMsg: `pods "p" is forbidden: unable to create new content in namespace leaving because it is being terminated`,
			attrs:   Attributes{Operation: Create, Resource: podsGVR, Namespace: "leaving", Object: podIn("leaving", false)}},
		{name: "pod in a missing namespace", wantCode: 404, wantMsg: `namespaces "gone" not found`,
			attrs: Attributes{Operation: Create, Resource: podsGVR, Namespace: "gone", Object: podIn("gone", false)}},
		{name: "pod with a missing service account", wantCode: 403,
			wantMsg: `pods "p" is forbidden: error looking up service account default/robot: serviceaccount "robot" not found`,
			attrs: Attributes{Operation: Create, Resource: podsGVR, Namespace: "default", Object: func() *corev1.Pod {
				p := podIn("default", false)
				p.Spec.ServiceAccountName = "robot"
				return p
			}()}},
		{name: "mirror pod refused before its namespace is looked at", wantCode: 403,
			wantMsg: `pods "p" is forbidden: a mirror pod may not reference secrets`,
			attrs:   Attributes{Operation: Create, Resource: podsGVR, Namespace: "leaving", Object: podIn("leaving", true)}},
		{name: "system namespace deleted", wantCode: 403, wantMsg: `namespaces "kube-system" is forbidden: this namespace may not be deleted`,
			attrs: Attributes{Operation: Delete, Resource: namespacesGVR, Name: "kube-system", OldObject: &corev1.Namespace{}}},
		{name: "other namespace deleted",
			attrs: Attributes{Operation: Delete, Resource: namespacesGVR, Name: "leaving", OldObject: &corev1.Namespace{}}},
		{name: "within quota", wantUsed: "2",
			attrs: Attributes{Operation: Create, Resource: configMapsGVR, Namespace: "limited", Object: configMapIn("limited")}},
		{name: "dry run within quota", wantUsed: "1",
			attrs: Attributes{Operation: Create, Resource: configMapsGVR, Namespace: "limited", Object: configMapIn("limited"), DryRun: true}},
		{name: "update not charged", wantUsed: "1",
			attrs: Attributes{Operation: Update, Resource: configMapsGVR, Namespace: "limited", Name: "cm", Object: configMapIn("limited"), OldObject: configMapIn("limited")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster()
			chain, err := New(Config{Objects: c, Namespaces: c, Quotas: c})
			if err != nil {
				t.Fatal(err)
			}
			a := tt.attrs
			err = chain.Admit(context.Background(), &a)
			if err == nil {
				err = chain.Validate(context.Background(), &a)
			}
			var code int32
			var msg string
			if st, ok := err.(apierrors.APIStatus); ok {
				code, msg = st.Status().Code, err.Error()
			} else if err != nil {
				t.Fatalf("not an API error: %v", err)
			}
			if diff := cmp.Diff([]any{tt.wantCode, tt.wantMsg}, []any{code, msg}); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if tt.wantUsed != "" {
				used := c.quotas["limited/q"].Status.Used["count/configmaps"]
				if got := used.String(); got != tt.wantUsed {
					t.Errorf("quota used %s, want %s", got, tt.wantUsed)
				}
			}
		})
	}
}

// TestQuotaExceeded charges creates until the quota refuses one.
func TestQuotaExceeded(t *testing.T) {
	c := newCluster()
	chain, err := New(Config{Objects: c, Namespaces: c, Quotas: c})
	if err != nil {
		t.Fatal(err)
	}
	create := func() error {
		a := &Attributes{Operation: Create, Resource: configMapsGVR, Namespace: "limited", Object: configMapIn("limited")}
		return chain.Validate(context.Background(), a)
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	err = create()
	want := `configmaps "cm" is forbidden: exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2`
	if err == nil || err.Error() != want || !apierrors.IsForbidden(err) {
		t.Errorf("second create past the quota = %v, want %q", err, want)
	}
}

// TestPodMutations checks what the mutating phase does to a new pod.
func TestPodMutations(t *testing.T) {
	c := newCluster()
	chain, err := New(Config{Objects: c, Namespaces: c, Quotas: c})
	if err != nil {
		t.Fatal(err)
	}
	pod := podIn("default", false)
	a := &Attributes{Operation: Create, Resource: podsGVR, Namespace: "default", Object: pod}
	if err := chain.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if a.Object != runtime.Object(pod) {
		t.Errorf("built-in plugins replaced the pod instead of changing it")
	}
	secs := int64(300)
	want := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs},
	}
	if diff := cmp.Diff(want, pod.Spec.Tolerations); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.Volumes) != 1 {
		t.Errorf("service account %q, volumes %v: want default and the API access volume", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
	}
}

// TestQuotaUpdatesAndScopes checks the updates that change usage (a
// Service becoming a NodePort, a claim growing, a pod resized) against
// quotas, and quotas with a scope selector.
func TestQuotaUpdatesAndScopes(t *testing.T) {
	qty := apiresource.MustParse
	quotas := map[string]*corev1.ResourceQuota{
		"limited/ports": {ObjectMeta: metav1.ObjectMeta{Namespace: "limited", Name: "ports"},
			Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceServicesNodePorts: qty("1"), corev1.ResourceRequestsStorage: qty("10Gi")}},
			Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourceServicesNodePorts: qty("0"), corev1.ResourceRequestsStorage: qty("8Gi")}}},
		"limited/high": {ObjectMeta: metav1.ObjectMeta{Namespace: "limited", Name: "high"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: qty("1"), corev1.ResourceRequestsCPU: qty("1")},
				ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
					{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}},
			Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourcePods: qty("1"), corev1.ResourceRequestsCPU: qty("500m")}}},
	}
	svc := func(typ corev1.ServiceType, ports int) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "limited", Name: "s"}, Spec: corev1.ServiceSpec{Type: typ}}
		for i := range ports {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
		}
		return s
	}
	// Bound claims of a class that allows expansion, which
	// PersistentVolumeClaimResize lets grow.
	grow, expand := "grow", true
	pvc := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "limited", Name: "c"},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &grow,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: qty(size)}}},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	}
	pod := func(class, cpu string) *corev1.Pod {
		p := podIn("limited", false)
		p.Spec.PriorityClassName = class
		p.Spec.ServiceAccountName = "default"
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: qty(cpu)}
		return p
	}
	svcs, pvcs := corev1.SchemeGroupVersion.WithResource("services"), corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	tests := []struct {
		name    string
		attrs   Attributes
		wantMsg string
	}{
		{"a ClusterIP Service becomes a NodePort within quota",
			Attributes{Operation: Update, Resource: svcs, Namespace: "limited", Name: "s", Object: svc(corev1.ServiceTypeNodePort, 1), OldObject: svc(corev1.ServiceTypeClusterIP, 1)}, ""},
		{"a ClusterIP Service becomes a NodePort past the quota",
			Attributes{Operation: Update, Resource: svcs, Namespace: "limited", Name: "s", Object: svc(corev1.ServiceTypeNodePort, 2), OldObject: svc(corev1.ServiceTypeClusterIP, 2)},
			`services "s" is forbidden: exceeded quota: ports, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`},
		{"a claim grows past the quota",
			Attributes{Operation: Update, Resource: pvcs, Namespace: "limited", Name: "c", Object: pvc("5Gi"), OldObject: pvc("2Gi")},
			`persistentvolumeclaims "c" is forbidden: exceeded quota: ports, requested: requests.storage=3Gi, used: requests.storage=8Gi, limited: requests.storage=10Gi`},
		{"a claim grows within the quota",
			Attributes{Operation: Update, Resource: pvcs, Namespace: "limited", Name: "c", Object: pvc("4Gi"), OldObject: pvc("2Gi")}, ""},
		{"a high-priority pod past its scoped quota",
			Attributes{Operation: Create, Resource: podsGVR, Namespace: "limited", Object: pod("high", "100m")},
			`pods "p" is forbidden: exceeded quota: high, requested: pods=1, used: pods=1, limited: pods=1`},
		{"a pod of another class is not counted by the scoped quota",
			Attributes{Operation: Create, Resource: podsGVR, Namespace: "limited", Object: pod("low", "100m")}, ""},
		{"a high-priority pod resized past its scoped quota",
			Attributes{Operation: Update, Resource: podsGVR, SubResource: "resize", Namespace: "limited", Name: "p", Object: pod("high", "1500m"), OldObject: pod("high", "500m")},
			`pods "p" is forbidden: exceeded quota: high, requested: requests.cpu=1, used: requests.cpu=500m, limited: requests.cpu=1`},
		{"a pod's other updates are not charged",
			Attributes{Operation: Update, Resource: podsGVR, Namespace: "limited", Name: "p", Object: pod("high", "1500m"), OldObject: pod("high", "500m")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster()
			c.classes = classes{{ObjectMeta: metav1.ObjectMeta{Name: grow}, AllowVolumeExpansion: &expand}}
			c.quotas = map[string]*corev1.ResourceQuota{}
			for k, q := range quotas {
				c.quotas[k] = q.DeepCopy()
			}
			chain, err := New(Config{Objects: c, Namespaces: c, Quotas: c})
			if err != nil {
				t.Fatal(err)
			}
			a := tt.attrs
			err = chain.Validate(context.Background(), &a)
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if msg != tt.wantMsg {
				t.Errorf("got %q, want %q", msg, tt.wantMsg)
			}
		})
	}
}
