package openapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"skiff/internal/apiserver/registry"
)

func testDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "nginx", Image: "nginx:1.27",
					Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				}}},
			},
		},
	}
}

func TestTypeConverter(t *testing.T) {
	s := newTestSpec(t)
	tc, err := s.TypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		obj  k8sruntime.Object
	}{
		{"pod", &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: "busybox",
				Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
			}}},
		}},
		{"deployment", testDeployment()},
		{"service", &corev1.Service{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			Spec:     corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv, err := tc.ObjectToTyped(tt.obj)
			if err != nil {
				t.Fatalf("ObjectToTyped: %v", err)
			}
			if _, err := tv.ToFieldSet(); err != nil {
				t.Fatalf("ToFieldSet: %v", err)
			}
		})
	}
}

// TestFieldManager runs what the API server does on update and on
// server-side apply, and checks the managedFields that result.
func TestFieldManager(t *testing.T) {
	s := newTestSpec(t)
	tc, err := s.TypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	scheme := testScheme(t)
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	fm, err := managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		t.Fatal(err)
	}

	// An update (kubectl create) by one manager.
	live := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}}
	created, err := fm.Update(live, testDeployment(), "kubectl-create")
	if err != nil {
		t.Fatalf("Update: %v", err)
	}

	// A server-side apply by another, changing replicas.
	var applied unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
`), &applied.Object); err != nil {
		t.Fatal(err)
	}
	out, err := fm.Apply(created, &applied, "kubectl", true)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	acc, err := metaAccessor(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range acc.GetManagedFields() {
		got = append(got, fmt.Sprintf("%s/%s", e.Manager, e.Operation))
	}
	want := []string{"kubectl/Apply", "kubectl-create/Update"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("managedFields (-want +got):\n%s", diff)
	}
	if r := out.(*appsv1.Deployment).Spec.Replicas; r == nil || *r != 3 {
		t.Errorf("replicas after apply = %v, want 3", r)
	}
}

func metaAccessor(obj k8sruntime.Object) (metav1.Object, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return o, nil
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkRetainedHeap reports what a Spec keeps on the heap once its
// TypeConverter is built and once every document has been served, the
// state of a server after kubectl apply and kubectl explain.
//
//	go test -run '^$' -bench RetainedHeap -benchtime 1x ./internal/apiserver/openapi/
func BenchmarkRetainedHeap(b *testing.B) {
	for i := 0; i < b.N; i++ {
		scheme := testScheme(b)
		resources := servedResources(scheme)
		before := heapInUse()
		s, err := New(Config{Scheme: scheme, Resources: resources})
		if err != nil {
			b.Fatal(err)
		}
		afterNew := heapInUse()
		if _, err := s.TypeConverter(); err != nil {
			b.Fatal(err)
		}
		afterTC := heapInUse()
		srv := httptest.NewServer(s.Handler())
		for _, p := range []string{"/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1"} {
			resp, err := http.Get(srv.URL + p)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		afterV3 := heapInUse()
		resp, err := http.Get(srv.URL + "/openapi/v2")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		afterV2 := heapInUse()
		srv.Close()
		b.ReportMetric(float64(afterNew-before)/(1<<20), "MiB-new")
		b.ReportMetric(float64(afterTC-afterNew)/(1<<20), "MiB-typeconverter")
		b.ReportMetric(float64(afterV3-afterTC)/(1<<20), "MiB-v3")
		b.ReportMetric(float64(afterV2-afterV3)/(1<<20), "MiB-v2")
		b.ReportMetric(float64(len(resources)), "resources")
		runtime.KeepAlive(s)
	}
}

// servedResources is every kind with a list kind in the group versions
// skiff serves: the size of the real API surface, for the benchmark.
func servedResources(scheme *k8sruntime.Scheme) []*registry.Resource {
	served := []schema.GroupVersion{
		{Version: "v1"}, {Group: "apps", Version: "v1"}, {Group: "batch", Version: "v1"},
		{Group: "autoscaling", Version: "v1"}, {Group: "autoscaling", Version: "v2"},
		{Group: "policy", Version: "v1"}, {Group: "networking.k8s.io", Version: "v1"},
		{Group: "discovery.k8s.io", Version: "v1"}, {Group: "rbac.authorization.k8s.io", Version: "v1"},
		{Group: "coordination.k8s.io", Version: "v1"}, {Group: "storage.k8s.io", Version: "v1"},
		{Group: "scheduling.k8s.io", Version: "v1"}, {Group: "events.k8s.io", Version: "v1"},
		{Group: "node.k8s.io", Version: "v1"}, {Group: "certificates.k8s.io", Version: "v1"},
		{Group: "admissionregistration.k8s.io", Version: "v1"},
	}
	var out []*registry.Resource
	for _, gv := range served {
		kinds := scheme.KnownTypes(gv)
		for kind := range kinds {
			if _, ok := kinds[kind+"List"]; !ok {
				continue
			}
			gvk, listGVK := gv.WithKind(kind), gv.WithKind(kind+"List")
			out = append(out, &registry.Resource{
				GroupVersion: gv, Resource: strings.ToLower(kind) + "s", Kind: kind, Namespaced: true,
				Subresources: []string{"status"},
				New:          func() k8sruntime.Object { o, _ := scheme.New(gvk); return o },
				NewList:      func() k8sruntime.Object { o, _ := scheme.New(listGVK); return o },
			})
		}
	}
	return out
}
