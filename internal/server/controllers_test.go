package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// controlPlane is an in-process API server with the controllers these
// tests are about running against it.
type controlPlane struct {
	client  kubernetes.Interface
	config  *rest.Config
	dataDir string
}

// startControllers starts a control plane that runs only the controllers
// these tests are about: the others (podgc, node lifecycle, ...) would act
// on the fake kubelet's node, which has no Node object or heartbeat.
func startControllers(tb testing.TB) *controlPlane {
	tb.Helper()
	tested := []string{"replicaset", "replicationcontroller", "deployment", "garbagecollector", "namespace",
		"serviceaccount", "root-ca-cert-publisher", "endpoints", "endpointslice", "endpointslicemirroring"}
	s := servertest.Start(tb, func(cfg *server.Config) {
		cfg.Disable = []string{"scheduler"}
		for _, name := range server.ControllerNames() {
			if !slices.Contains(tested, name) {
				cfg.Disable = append(cfg.Disable, name)
			}
		}
	})
	return &controlPlane{client: s.Client, config: s.Config, dataDir: s.DataDir}
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func createNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: image,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

// rolloutDone asks kubectl's own rollout status logic whether it would
// stop waiting on d, and what it would print otherwise.
func rolloutDone(d *appsv1.Deployment) (bool, string, error) {
	viewer, err := polymorphichelpers.StatusViewerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"})
	if err != nil {
		return false, "", err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return false, "", err
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: m}, 0)
	return done, msg, err
}

func waitRollout(t *testing.T, c kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	servertest.Wait(t, "rollout of "+name, func(context.Context) (bool, error) {
		var err error
		d, err = c.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ok, msg, err := rolloutDone(d)
		if err != nil {
			// kubectl rollout status fails here (deadline exceeded).
			t.Fatalf("kubectl rollout status: %v", err)
		}
		return ok, fmt.Errorf("%s", msg)
	})
	return d
}

func TestDeploymentRollingUpdateAndUndo(t *testing.T) {
	cp := startControllers(t)
	startFakeKubelet(t, cp.client, "node-1", 2)
	ctx := context.Background()
	const ns = "roll"
	createNamespace(t, cp.client, ns)
	three := int32(3)
	surge, unavail := intstr.FromInt32(1), intstr.FromInt32(0)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &three,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: podTemplate("web", "nginx:1"),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
		},
	}
	if _, err := cp.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d = waitRollout(t, cp.client, ns, "web")
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "1" {
		t.Errorf("revision after create = %q, want 1", got)
	}

	// Track the number of ready, non-terminating pods through the update.
	minReady := watchMinReady(t, cp.client, ns)
	setImage(t, cp.client, ns, "web", "nginx:2")
	d = waitRollout(t, cp.client, ns, "web")
	if got := minReady(); got < 3 {
		t.Errorf("ready pods dropped to %d during a maxUnavailable=0 rollout, want >= 3", got)
	}
	want := appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: d.Generation}
	got := d.Status
	got.Conditions, got.CollisionCount = nil, nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status after update (-want +got):\n%s", diff)
	}
	conds := map[appsv1.DeploymentConditionType]string{}
	for _, c := range d.Status.Conditions {
		conds[c.Type] = string(c.Status) + "/" + c.Reason
	}
	wantConds := map[appsv1.DeploymentConditionType]string{
		appsv1.DeploymentAvailable:   "True/MinimumReplicasAvailable",
		appsv1.DeploymentProgressing: "True/NewReplicaSetAvailable",
	}
	if diff := cmp.Diff(wantConds, conds); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "2" {
		t.Errorf("revision after update = %q, want 2", got)
	}

	// kubectl rollout undo, with kubectl's own rollbacker.
	rb, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, cp.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Rollback(d, nil, 0, cmdutil.DryRunNone); err != nil {
		t.Fatalf("rollout undo: %v", err)
	}
	rss, err := cp.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rev1 *appsv1.ReplicaSet
	for i := range rss.Items {
		if rss.Items[i].Spec.Template.Spec.Containers[0].Image == "nginx:1" {
			rev1 = &rss.Items[i]
		}
	}
	if rev1 == nil {
		t.Fatalf("no ReplicaSet for the first template among %d", len(rss.Items))
	}
	d = waitRollout(t, cp.client, ns, "web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "nginx:1" {
		t.Errorf("image after undo = %q, want nginx:1", got)
	}
	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "3" {
		t.Errorf("revision after undo = %q, want 3", got)
	}
	back, err := cp.client.AppsV1().ReplicaSets(ns).Get(ctx, rev1.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gotAnn := map[string]string{
		"revision": back.Annotations["deployment.kubernetes.io/revision"],
		"history":  back.Annotations["deployment.kubernetes.io/revision-history"],
	}
	if diff := cmp.Diff(map[string]string{"revision": "3", "history": "1"}, gotAnn); diff != "" {
		t.Errorf("restored ReplicaSet annotations (-want +got):\n%s", diff)
	}
	if back.Spec.Replicas == nil || *back.Spec.Replicas != 3 {
		t.Errorf("restored ReplicaSet replicas = %v, want 3", back.Spec.Replicas)
	}
}

// watchMinReady records the lowest number of ready, non-terminating pods
// in ns from now on; the returned function reads it.
func watchMinReady(t *testing.T, c kubernetes.Interface, ns string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{}
	for _, p := range list.Items {
		ready[p.Name] = isReady(&p) && p.DeletionTimestamp == nil
	}
	count := func() int {
		n := 0
		for _, r := range ready {
			if r {
				n++
			}
		}
		return n
	}
	var mu sync.Mutex
	lowest := count()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			ready[p.Name] = ev.Type != "DELETED" && isReady(p) && p.DeletionTimestamp == nil
			lowest = min(lowest, count())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return lowest
	}
}

func TestReplicaSetAdoptsAndReleases(t *testing.T) {
	cp := startControllers(t)
	ctx := context.Background()
	const ns = "adopt"
	createNamespace(t, cp.client, ns)
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns, Labels: map[string]string{"app": "a"}},
		Spec:       podTemplate("a", "busybox").Spec,
	}
	if _, err := cp.client.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	two := int32(2)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: podTemplate("a", "busybox"),
		},
	}
	rs, err := cp.client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned := func() (map[string]bool, int, error) {
		pods, err := cp.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, 0, err
		}
		out := map[string]bool{}
		for _, p := range pods.Items {
			if metav1.IsControlledBy(&p, rs) {
				out[p.Name] = true
			}
		}
		return out, len(pods.Items), nil
	}
	servertest.Wait(t, "adoption of the orphan", func(context.Context) (bool, error) {
		o, total, err := owned()
		return err == nil && o["orphan"] && len(o) == 2 && total == 2, fmt.Errorf("owned %v of %d", o, total)
	})
	// Relabel the orphan: the ReplicaSet releases it and makes a new pod.
	patch := []byte(`{"metadata":{"labels":{"app":"b"}}}`)
	if _, err := cp.client.CoreV1().Pods(ns).Patch(ctx, "orphan", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "release and replacement", func(context.Context) (bool, error) {
		o, total, err := owned()
		if err != nil {
			return false, err
		}
		p, err := cp.client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return len(p.OwnerReferences) == 0 && len(o) == 2 && !o["orphan"] && total == 3, fmt.Errorf("owned %v of %d, orphan refs %v", o, total, p.OwnerReferences)
	})
	servertest.Wait(t, "ReplicaSet status", func(context.Context) (bool, error) {
		got, err := cp.client.AppsV1().ReplicaSets(ns).Get(ctx, "rs", metav1.GetOptions{})
		return err == nil && got.Status.Replicas == 2 && got.Status.FullyLabeledReplicas == 2 && got.Status.ObservedGeneration == got.Generation, err
	})
}

func configMap(ns, name string, owner *corev1.ConfigMap, finalizers ...string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Finalizers: finalizers}}
	if owner != nil {
		t := true
		cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: &t}}
	}
	return cm
}

func TestGarbageCollector(t *testing.T) {
	cp := startControllers(t)
	ctx := context.Background()
	const ns = "gc"
	createNamespace(t, cp.client, ns)
	cms := cp.client.CoreV1().ConfigMaps(ns)
	create := func(cm *corev1.ConfigMap) *corev1.ConfigMap {
		t.Helper()
		got, err := cms.Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	exists := func(name string) (bool, *corev1.ConfigMap) {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		return err == nil, cm
	}

	t.Run("foreground", func(t *testing.T) {
		owner := create(configMap(ns, "fg-owner", nil))
		held := create(configMap(ns, "fg-held", owner, "test.skiff.dev/hold"))
		create(configMap(ns, "fg-free", owner))
		fg := metav1.DeletePropagationForeground
		if err := cms.Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "dependents deleted while the owner waits", func(context.Context) (bool, error) {
			freeExists, _ := exists("fg-free")
			_, h := exists("fg-held")
			ownerExists, _ := exists("fg-owner")
			return !freeExists && h != nil && h.DeletionTimestamp != nil && ownerExists, nil
		})
		held.Finalizers = nil
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := cms.Patch(ctx, held.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "owner deleted after its last dependent", func(context.Context) (bool, error) {
			ok, _ := exists("fg-owner")
			return !ok, nil
		})
	})

	t.Run("orphan", func(t *testing.T) {
		owner := create(configMap(ns, "or-owner", nil))
		create(configMap(ns, "or-dep", owner))
		orphan := metav1.DeletePropagationOrphan
		if err := cms.Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "owner gone", func(context.Context) (bool, error) {
			ok, _ := exists("or-owner")
			return !ok, nil
		})
		ok, dep := exists("or-dep")
		if !ok || len(dep.OwnerReferences) != 0 {
			t.Fatalf("orphaned dependent: exists=%v, ownerReferences=%v; want it kept without owners", ok, dep)
		}
	})

	t.Run("background and dangling", func(t *testing.T) {
		owner := create(configMap(ns, "bg-owner", nil))
		create(configMap(ns, "bg-dep", owner))
		create(configMap(ns, "dangling", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "never", UID: "00000000-0000-0000-0000-000000000001"}}))
		if err := cms.Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "dependents of a deleted and a missing owner deleted", func(context.Context) (bool, error) {
			a, _ := exists("bg-dep")
			b, _ := exists("dangling")
			return !a && !b, nil
		})
	})
}

func TestNamespaceLifecycle(t *testing.T) {
	cp := startControllers(t)
	startFakeKubelet(t, cp.client, "node-1", 1)
	ctx := context.Background()
	const ns = "life"
	createNamespace(t, cp.client, ns)
	caPEM, err := os.ReadFile(filepath.Join(cp.dataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "default ServiceAccount and kube-root-ca.crt", func(context.Context) (bool, error) {
		if _, err := cp.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, err
		}
		cm, err := cp.client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cm.Data["ca.crt"] == string(caPEM), fmt.Errorf("ca.crt differs from the cluster CA")
	})
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, Template: podTemplate("x", "busybox")},
	}
	if _, err := cp.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cp.client, ns, "app")
	if err := cp.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "namespace removed", func(context.Context) (bool, error) {
		_, err := cp.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	pods, err := cp.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods left in deleted namespace: %v, %v", len(pods.Items), err)
	}
}

// endpointsView is what a user reads from Endpoints and EndpointSlices.
type endpointsView struct {
	Ready, NotReady []string
	Ports           []int32
}

func TestEndpointsFollowReadiness(t *testing.T) {
	cp := startControllers(t)
	startFakeKubelet(t, cp.client, "node-1", 1)
	ctx := context.Background()
	const ns = "ep"
	createNamespace(t, cp.client, ns)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cp.client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}}, Spec: podTemplate("web", "nginx").Spec}
		if _, err := cp.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	view := func() (endpointsView, endpointsView, error) {
		var ep, sl endpointsView
		e, err := cp.client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return ep, sl, err
		}
		for _, ss := range e.Subsets {
			for _, a := range ss.Addresses {
				ep.Ready = append(ep.Ready, a.TargetRef.Name)
			}
			for _, a := range ss.NotReadyAddresses {
				ep.NotReady = append(ep.NotReady, a.TargetRef.Name)
			}
			for _, p := range ss.Ports {
				ep.Ports = append(ep.Ports, p.Port)
			}
		}
		slices, err := cp.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web,endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io"})
		if err != nil {
			return ep, sl, err
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if *e.Conditions.Ready {
					sl.Ready = append(sl.Ready, e.TargetRef.Name)
				} else {
					sl.NotReady = append(sl.NotReady, e.TargetRef.Name)
				}
			}
			for _, p := range s.Ports {
				sl.Ports = append(sl.Ports, *p.Port)
			}
		}
		return ep, sl, nil
	}
	expect := func(what string, want endpointsView) {
		t.Helper()
		servertest.Wait(t, what, func(context.Context) (bool, error) {
			ep, sl, err := view()
			if err != nil {
				return false, err
			}
			d1, d2 := cmp.Diff(want, ep), cmp.Diff(want, sl)
			return d1 == "" && d2 == "", fmt.Errorf("endpoints (-want +got): %s\nslices (-want +got): %s", d1, d2)
		})
	}
	expect("both pods ready", endpointsView{Ready: []string{"a", "b"}, Ports: []int32{8080}})
	patch := []byte(`{"metadata":{"labels":{"` + notReadyLabel + `":"true"}}}`)
	if _, err := cp.client.CoreV1().Pods(ns).Patch(ctx, "b", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("b not ready", endpointsView{Ready: []string{"a"}, NotReady: []string{"b"}, Ports: []int32{8080}})

	// A Service without a selector: its custom Endpoints are mirrored.
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "db", Port: 5432}}}}
	if _, err := cp.client.CoreV1().Services(ns).Create(ctx, ext, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	custom := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: ns},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.7"}}, Ports: []corev1.EndpointPort{{Name: "db", Port: 5432}}}}}
	if _, err := cp.client.CoreV1().Endpoints(ns).Create(ctx, custom, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "mirrored slice", func(context.Context) (bool, error) {
		l, err := cp.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=ext,endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io"})
		if err != nil || len(l.Items) != 1 {
			return false, err
		}
		s := l.Items[0]
		return s.AddressType == discoveryv1.AddressTypeIPv4 && len(s.Endpoints) == 1 && s.Endpoints[0].Addresses[0] == "192.0.2.7" && len(s.Ports) == 1 && *s.Ports[0].Port == 5432, fmt.Errorf("slice %+v", s)
	})
}

// setImage changes the Deployment's container image as kubectl set image does.
func setImage(t *testing.T, c kubernetes.Interface, ns, name, image string) {
	t.Helper()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"` + image + `"}]}}}}`)
	if _, err := c.AppsV1().Deployments(ns).Patch(context.Background(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}
