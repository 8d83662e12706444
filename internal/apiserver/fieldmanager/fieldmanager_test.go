package fieldmanager

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"skiff/internal/apiserver/openapi"
	"skiff/internal/apiserver/registry"
	"skiff/internal/apiserver/registry/all"
)

// newManagers returns Managers with the built-in schemas, the scheme and
// the built-in resources.
func newManagers(tb testing.TB) (*Managers, *runtime.Scheme, []registry.Resource) {
	tb.Helper()
	// The API server's scheme: every built-in type.
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			tb.Fatal(err)
		}
	}
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	metav1.AddMetaToScheme(scheme)
	resources := all.Resources()
	ptrs := make([]*registry.Resource, len(resources))
	for i := range resources {
		ptrs[i] = &resources[i]
	}
	spec, err := openapi.New(openapi.Config{Scheme: scheme, Resources: ptrs, Version: "v1.37.2"})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := New(Config{TypeConverter: spec.TypeConverter, Scheme: scheme})
	if err != nil {
		tb.Fatal(err)
	}
	return m, scheme, resources
}

// readOnly reports whether r is never written (metrics.k8s.io), so
// never has managedFields.
func readOnly(r *registry.Resource) bool {
	return r.Verbs != nil && !slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "create" || v == "update" || v == "patch" })
}

// kindOf is the Kind of a registry resource, as the API server builds it.
func kindOf(r *registry.Resource) Kind {
	return Kind{GVK: r.GroupVersionKind(), New: r.New, Default: r.Strategy.Default, HasStatus: r.HasSubresource("status")}
}

// newObject returns an empty object of r's kind with its apiVersion and kind.
func newObject(r *registry.Resource) runtime.Object {
	obj := r.New()
	obj.GetObjectKind().SetGroupVersionKind(r.GroupVersionKind())
	return obj
}

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err)
	}
	return m
}

// TestCreateEntriesMatchFieldManager checks the create fast path against
// upstream's field manager: for random objects of every built-in kind, and
// for objects whose lists break their keys, the managedFields it records
// must be the ones the full pipeline computes when it compares the object
// with an empty one.
func TestCreateEntriesMatchFieldManager(t *testing.T) {
	managers, scheme, resources := newManagers(t)
	iterations := 40
	if testing.Short() {
		iterations = 10
	}
	var compared, fallbacks, walked, unwalked int
	check := func(res *registry.Resource, m *Manager, obj runtime.Object, manager, what string) {
		t.Helper()
		// The walk must find what the comparison finds, or leave the
		// object to it.
		var walk, bySMD *fieldpath.Set
		var walkErr, cmpErr error
		walkPanicked := panics(func() { walk, walkErr = m.createdFields(obj.DeepCopyObject()) })
		cmpPanicked := panics(func() { bySMD, cmpErr = m.compareWithEmpty(obj.DeepCopyObject()) })
		switch {
		case walkPanicked && !cmpPanicked:
			t.Fatalf("%s %s: the walk panicked, the comparison did not", res.GroupVersionKind(), what)
		case walkPanicked || walkErr != nil:
			unwalked++
		case cmpPanicked || cmpErr != nil:
			t.Fatalf("%s %s: the walk found %s where the comparison failed (panicked %v): %v", res.GroupVersionKind(), what, walk, cmpPanicked, cmpErr)
		case !walk.Equals(bySMD):
			t.Fatalf("%s %s: the walk found\n%s\nthe comparison\n%s", res.GroupVersionKind(), what, walk, bySMD)
		default:
			walked++
		}

		var fast, slow []metav1.ManagedFieldsEntry
		var ok bool
		// Random bytes in raw JSON fields make the type converter
		// panic. The fast path, which reads such a field only as a
		// leaf, may get through where the full path panics, never
		// the other way round.
		fastPanicked := panics(func() { fast, ok = m.CreateEntries(obj.DeepCopyObject(), manager) })
		if !ok && !fastPanicked {
			fallbacks++
			return
		}
		empty := newObject(res)
		slowPanicked := panics(func() { slow = accessor(m.UpdateNoErrors(empty, obj.DeepCopyObject(), manager)).GetManagedFields() })
		if fastPanicked || slowPanicked {
			if fastPanicked && !slowPanicked {
				t.Fatalf("%s %s: fast path panicked, field manager did not", res.GroupVersionKind(), what)
			}
			return
		}
		if diff := cmp.Diff(withoutTimes(t, slow), withoutTimes(t, fast)); diff != "" {
			t.Fatalf("%s %s: managedFields differ from the field manager's (-full +fast):\n%s", res.GroupVersionKind(), what, diff)
		}
		compared++
	}

	fill := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(1), serializer.NewCodecFactory(scheme)).NilChance(.3).NumElements(0, 3).MaxDepth(12)
	var pods *registry.Resource
	for i := range resources {
		res := &resources[i]
		if res.New == nil || readOnly(res) {
			continue
		}
		if res.GroupVersionKind() == corev1.SchemeGroupVersion.WithKind("Pod") {
			pods = res
		}
		m, err := managers.Get(kindOf(res), "")
		if err != nil {
			t.Fatalf("%s: %v", res.GroupVersionKind(), err)
		}
		for i := range iterations {
			obj := res.New()
			fill.Fill(obj)
			obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
			accessor(obj).SetManagedFields(nil)
			check(res, m, obj, []string{"kubectl-create", "", "skiff-bench"}[i%3], fmt.Sprintf("#%d", i))
		}
	}

	// Lists whose items repeat a key, or lack a key field, are what the
	// validation the fast path skips would look at.
	m, err := managers.Get(kindOf(pods), "")
	if err != nil {
		t.Fatal(err)
	}
	pod := func(containers ...corev1.Container) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{Containers: containers}}
		p.GetObjectKind().SetGroupVersionKind(pods.GroupVersionKind())
		return p
	}
	port := func(n int32, proto corev1.Protocol) corev1.ContainerPort {
		return corev1.ContainerPort{ContainerPort: n, Protocol: proto}
	}
	for what, obj := range map[string]*corev1.Pod{
		"duplicate container names": pod(corev1.Container{Name: "a", Image: "i"}, corev1.Container{Name: "a", Image: "j"}),
		"duplicate ports":           pod(corev1.Container{Name: "a", Ports: []corev1.ContainerPort{port(80, "TCP"), port(80, "TCP")}}),
		"port without protocol":     pod(corev1.Container{Name: "a", Ports: []corev1.ContainerPort{port(80, "")}}),
		"container without name":    pod(corev1.Container{Image: "i"}),
		"duplicate env names":       pod(corev1.Container{Name: "a", Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}}),
	} {
		check(pods, m, obj, "kubectl-create", what)
	}
	t.Logf("%d objects compared, %d left to the full field manager; %d walked, %d left to the comparison", compared, fallbacks, walked, unwalked)
	if walked < unwalked {
		t.Fatalf("the walk handled only %d objects of %d", walked, walked+unwalked)
	}
	if compared == 0 {
		t.Fatal("no object took the fast path")
	}
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}

// withoutTimes drops the entries' times, after checking each has one.
func withoutTimes(t *testing.T, entries []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	t.Helper()
	out := make([]metav1.ManagedFieldsEntry, len(entries))
	for i, e := range entries {
		if e.Time == nil {
			t.Fatalf("entry %d of manager %q has no time", i, e.Manager)
		}
		e.Time = nil
		out[i] = e
	}
	return out
}

// BenchmarkCreateManagedFields compares the managedFields of a create
// computed by upstream's field manager and by the fast path.
func BenchmarkCreateManagedFields(b *testing.B) {
	managers, _, resources := newManagers(b)
	var res *registry.Resource
	for i := range resources {
		if resources[i].GroupVersionResource() == corev1.SchemeGroupVersion.WithResource("configmaps") {
			res = &resources[i]
		}
	}
	m, err := managers.Get(kindOf(res), "")
	if err != nil {
		b.Fatal(err)
	}
	newCM := func() runtime.Object {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-1", Namespace: "bench", UID: "abc", Labels: map[string]string{"bench": "api", "shard": "1"}},
			Data: map[string]string{"key": "value", "index": "1"}}
		cm.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
		return cm
	}
	empty := newObject(res)
	b.Run("field-manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.UpdateNoErrors(empty, newCM(), "bench")
		}
	})
	b.Run("fast-path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := m.CreateEntries(newCM(), "bench"); !ok {
				b.Fatal("fast path refused a ConfigMap")
			}
		}
	})
}
