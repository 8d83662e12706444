package apiserver

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	etcdstore "skiff/internal/storage/etcd"
)

// newFieldsServer builds (without running) an API server that tracks
// managedFields with the built-in schemas.
func newFieldsServer(tb testing.TB) *Server {
	tb.Helper()
	scheme, resources, spec := builtinSpec(tb)
	s, err := New(Config{Store: etcdstore.New(nil, etcdstore.Config{}), Scheme: scheme, Resources: resources, TypeConverter: spec.TypeConverter})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestCreateEntriesMatchFieldManager checks the create fast path against
// upstream's field manager: for random objects of every built-in kind, and
// for objects whose lists break their keys, the managedFields it records
// must be the ones the full pipeline computes when it compares the object
// with an empty one.
func TestCreateEntriesMatchFieldManager(t *testing.T) {
	s := newFieldsServer(t)
	iterations := 40
	if testing.Short() {
		iterations = 10
	}
	var compared, fallbacks, walked, unwalked int
	check := func(res *resource, m *fieldManager, obj runtime.Object, manager, what string) {
		t.Helper()
		// The walk must find what the comparison finds, or leave the
		// object to it.
		var walk, bySMD *fieldpath.Set
		var walkErr, cmpErr error
		walkPanicked := panics(func() { walk, walkErr = m.createdFields(obj.DeepCopyObject()) })
		cmpPanicked := panics(func() { bySMD, cmpErr = m.compareWithEmpty(obj.DeepCopyObject()) })
		switch {
		case walkPanicked && !cmpPanicked:
			t.Fatalf("%s %s: the walk panicked, the comparison did not", res.gvk, what)
		case walkPanicked || walkErr != nil:
			unwalked++
		case cmpPanicked || cmpErr != nil:
			t.Fatalf("%s %s: the walk found %s where the comparison failed (panicked %v): %v", res.gvk, what, walk, cmpPanicked, cmpErr)
		case !walk.Equals(bySMD):
			t.Fatalf("%s %s: the walk found\n%s\nthe comparison\n%s", res.gvk, what, walk, bySMD)
		default:
			walked++
		}

		var fast, slow []metav1.ManagedFieldsEntry
		var ok bool
		// Random bytes in raw JSON fields make the type converter
		// panic. The fast path, which reads such a field only as a
		// leaf, may get through where the full path panics, never
		// the other way round.
		fastPanicked := panics(func() { fast, ok = m.createEntries(obj.DeepCopyObject(), manager) })
		if !ok && !fastPanicked {
			fallbacks++
			return
		}
		empty := res.New()
		setGVK(empty, res.gvk)
		slowPanicked := panics(func() { slow = accessor(m.fm.UpdateNoErrors(empty, obj.DeepCopyObject(), manager)).GetManagedFields() })
		if fastPanicked || slowPanicked {
			if fastPanicked && !slowPanicked {
				t.Fatalf("%s %s: fast path panicked, field manager did not", res.gvk, what)
			}
			return
		}
		if diff := cmp.Diff(withoutTimes(t, slow), withoutTimes(t, fast)); diff != "" {
			t.Fatalf("%s %s: managedFields differ from the field manager's (-full +fast):\n%s", res.gvk, what, diff)
		}
		compared++
	}

	fill := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(1), serializer.NewCodecFactory(s.cfg.Scheme)).NilChance(.3).NumElements(0, 3).MaxDepth(12)
	var pods *resource
	for _, res := range s.builtin {
		if res.New == nil {
			continue
		}
		if res.gvk == corev1.SchemeGroupVersion.WithKind("Pod") {
			pods = res
		}
		m, err := s.fields.lookup(res, "")
		if err != nil {
			t.Fatalf("%s: %v", res.gvk, err)
		}
		for i := range iterations {
			obj := res.New()
			fill.Fill(obj)
			setGVK(obj, res.gvk)
			accessor(obj).SetManagedFields(nil)
			check(res, m, obj, []string{"kubectl-create", "", "skiff-bench"}[i%3], fmt.Sprintf("#%d", i))
		}
	}

	// Lists whose items repeat a key, or lack a key field, are what the
	// validation the fast path skips would look at.
	m, err := s.fields.lookup(pods, "")
	if err != nil {
		t.Fatal(err)
	}
	pod := func(containers ...corev1.Container) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "x"}}, Spec: corev1.PodSpec{Containers: containers}}
		setGVK(p, pods.gvk)
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
	s := newFieldsServer(b)
	res, _ := s.lookup("", "v1", "configmaps")
	m, err := s.fields.lookup(res, "")
	if err != nil {
		b.Fatal(err)
	}
	newCM := func() runtime.Object {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-1", Namespace: "bench", UID: "abc", Labels: map[string]string{"bench": "api", "shard": "1"}},
			Data: map[string]string{"key": "value", "index": "1"}}
		setGVK(cm, res.gvk)
		return cm
	}
	empty := res.New()
	setGVK(empty, res.gvk)
	b.Run("field-manager", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.fm.UpdateNoErrors(empty, newCM(), "bench")
		}
	})
	b.Run("fast-path", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := m.createEntries(newCM(), "bench"); !ok {
				b.Fatal("fast path refused a ConfigMap")
			}
		}
	})
}
