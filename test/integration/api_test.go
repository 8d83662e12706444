package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"skiff/internal/server/servertest"
)

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"k": "v"}}
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox"}}},
			},
		},
	}
}

func TestAPI(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.Client
	ctx := context.Background()

	t.Run("system namespaces and the kubernetes service exist", func(t *testing.T) {
		for _, n := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			got, err := c.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace %s: %v", n, err)
			}
			if got.Status.Phase != corev1.NamespaceActive {
				t.Errorf("namespace %s phase %q, want Active", n, got.Status.Phase)
			}
		}
		svc, err := c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != "10.43.0.1" {
			t.Errorf("kubernetes service clusterIP %q, want 10.43.0.1", svc.Spec.ClusterIP)
		}
	})

	t.Run("create get update conflict delete", func(t *testing.T) {
		if _, err := c.CoreV1().Namespaces().Create(ctx, ns("crud"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cm, err := c.CoreV1().ConfigMaps("crud").Create(ctx, configMap("one", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.UID == "" || cm.ResourceVersion == "" || cm.CreationTimestamp.IsZero() {
			t.Fatalf("system fields not set: %+v", cm.ObjectMeta)
		}
		if len(cm.ManagedFields) != 1 || cm.ManagedFields[0].Operation != metav1.ManagedFieldsOperationUpdate {
			t.Errorf("managedFields = %+v, want one Update entry", cm.ManagedFields)
		}
		_, err = c.CoreV1().ConfigMaps("crud").Create(ctx, configMap("one", nil), metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("second create: %v, want AlreadyExists", err)
		}
		stale := cm.DeepCopy()
		cm.Data["k"] = "v2"
		cm2, err := c.CoreV1().ConfigMaps("crud").Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm2.ResourceVersion == cm.ResourceVersion {
			t.Error("update did not change resourceVersion")
		}
		stale.Data["k"] = "v3"
		_, err = c.CoreV1().ConfigMaps("crud").Update(ctx, stale, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			t.Fatalf("stale update: %v, want Conflict", err)
		}
		if err := c.CoreV1().ConfigMaps("crud").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = c.CoreV1().ConfigMaps("crud").Get(ctx, "one", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("get after delete: %v, want NotFound", err)
		}
	})

	t.Run("generateName and dryRun", func(t *testing.T) {
		cm := configMap("", nil)
		cm.GenerateName = "gen-"
		got, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 {
			t.Errorf("generated name %q", got.Name)
		}
		dry, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap("dry", nil), metav1.CreateOptions{DryRun: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if dry.Name != "dry" {
			t.Errorf("dry-run create returned %q", dry.Name)
		}
		if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("dry-run object was stored: %v", err)
		}
	})

	t.Run("label and field selectors and paging", func(t *testing.T) {
		if _, err := c.CoreV1().Namespaces().Create(ctx, ns("sel"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 7; i++ {
			tier := "web"
			if i%2 == 1 {
				tier = "db"
			}
			if _, err := c.CoreV1().ConfigMaps("sel").Create(ctx, configMap(fmt.Sprintf("cm-%d", i), map[string]string{"tier": tier, "idx": fmt.Sprint(i)}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		names := func(l *corev1.ConfigMapList) []string {
			var out []string
			for _, it := range l.Items {
				out = append(out, it.Name)
			}
			return out
		}
		l, err := c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{LabelSelector: "tier=db"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cm-1", "cm-3", "cm-5"}, names(l)); diff != "" {
			t.Errorf("tier=db (-want +got):\n%s", diff)
		}
		l, err = c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{LabelSelector: "idx in (0,6),tier!=db"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cm-0", "cm-6"}, names(l)); diff != "" {
			t.Errorf("set-based (-want +got):\n%s", diff)
		}
		l, err = c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=cm-4"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cm-4"}, names(l)); diff != "" {
			t.Errorf("field selector (-want +got):\n%s", diff)
		}
		_, err = c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{FieldSelector: "spec.nothing=x"})
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: spec.nothing") {
			t.Errorf("unsupported field selector: %v", err)
		}
		_, err = c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{LabelSelector: "tier in (a"})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("bad label selector: %v, want BadRequest", err)
		}
		var all []string
		opts := metav1.ListOptions{Limit: 3}
		pages := 0
		for {
			l, err := c.CoreV1().ConfigMaps("sel").List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			all = append(all, names(l)...)
			if l.Continue == "" {
				break
			}
			if l.RemainingItemCount == nil {
				t.Error("paged list without remainingItemCount")
			}
			opts.Continue = l.Continue
		}
		if pages != 3 {
			t.Errorf("pages = %d, want 3", pages)
		}
		if diff := cmp.Diff([]string{"cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6"}, all); diff != "" {
			t.Errorf("paged (-want +got):\n%s", diff)
		}
		err = c.CoreV1().ConfigMaps("sel").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "tier=web"})
		if err != nil {
			t.Fatal(err)
		}
		l, err = c.CoreV1().ConfigMaps("sel").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"cm-1", "cm-3", "cm-5"}, names(l)); diff != "" {
			t.Errorf("after deletecollection (-want +got):\n%s", diff)
		}
	})

	t.Run("patch types", func(t *testing.T) {
		d, err := c.AppsV1().Deployments("default").Create(ctx, deployment("patchme", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Generation != 1 {
			t.Errorf("generation after create = %d, want 1", d.Generation)
		}
		d, err = c.AppsV1().Deployments("default").Patch(ctx, "patchme", types.MergePatchType, []byte(`{"metadata":{"labels":{"a":"b"}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["a"] != "b" || d.Generation != 1 {
			t.Errorf("merge patch: labels %v generation %d (metadata changes keep generation)", d.Labels, d.Generation)
		}
		d, err = c.AppsV1().Deployments("default").Patch(ctx, "patchme", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"busybox:2"},{"name":"side","image":"nginx"}]}}}}`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 2 || cs[0].Image != "busybox:2" && cs[1].Image != "busybox:2" {
			t.Errorf("strategic merge patch: containers %+v", cs)
		}
		if d.Generation != 2 {
			t.Errorf("generation after spec change = %d, want 2", d.Generation)
		}
		d, err = c.AppsV1().Deployments("default").Patch(ctx, "patchme", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/replicas","value":4}]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 4 {
			t.Errorf("json patch: replicas %d", *d.Spec.Replicas)
		}
		_, err = c.AppsV1().Deployments("default").Patch(ctx, "patchme", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":9}]`), metav1.PatchOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("failing json patch test op: %v, want 422", err)
		}
		_, err = c.AppsV1().Deployments("default").Patch(ctx, "patchme", types.JSONPatchType, []byte(`not json`), metav1.PatchOptions{})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("malformed json patch: %v, want 400", err)
		}
		_, err = c.AppsV1().Deployments("default").Patch(ctx, "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("patch of missing object: %v, want NotFound", err)
		}
	})

	t.Run("scale and status subresources", func(t *testing.T) {
		if _, err := c.AppsV1().Deployments("default").Create(ctx, deployment("scaled", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		sc, err := c.AppsV1().Deployments("default").GetScale(ctx, "scaled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=scaled" {
			t.Errorf("scale = %+v", sc)
		}
		sc.Spec.Replicas = 5
		if _, err := c.AppsV1().Deployments("default").UpdateScale(ctx, "scaled", sc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		d, err := c.AppsV1().Deployments("default").Get(ctx, "scaled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 5 {
			t.Errorf("replicas after scale = %d", *d.Spec.Replicas)
		}
		// Status written through the main resource is ignored.
		d.Status.Replicas = 42
		d, err = c.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.Replicas != 0 {
			t.Errorf("status changed through main resource: %d", d.Status.Replicas)
		}
		d.Status.Replicas = 3
		*d.Spec.Replicas = 9
		d, err = c.AppsV1().Deployments("default").UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.Replicas != 3 || *d.Spec.Replicas != 5 {
			t.Errorf("status update: status.replicas %d spec.replicas %d, want 3 and 5", d.Status.Replicas, *d.Spec.Replicas)
		}
	})

	t.Run("validation answers 422 with causes", func(t *testing.T) {
		d := deployment("bad", 1)
		d.Spec.Template.Labels = map[string]string{"app": "other"}
		_, err := c.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("selector mismatch: %v, want Invalid", err)
		}
		st := err.(apierrors.APIStatus).Status()
		if st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "spec.template.metadata.labels" {
			t.Errorf("causes = %+v", st.Details)
		}
		_, err = c.CoreV1().ConfigMaps("default").Create(ctx, configMap("Not_A_Name", nil), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Errorf("bad name: %v, want Invalid", err)
		}
		_, err = c.CoreV1().ConfigMaps("nowhere").Create(ctx, configMap("x", nil), metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("create in missing namespace: %v, want NotFound", err)
		}
	})

	t.Run("services get cluster IPs and node ports", func(t *testing.T) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		}}
		got, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Spec.ClusterIP, "10.43.") || got.Spec.Ports[0].NodePort < 30000 || got.Spec.Ports[0].NodePort > 32767 {
			t.Fatalf("allocated clusterIP %q nodePort %d", got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
		}
		taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web2"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: got.Spec.ClusterIP,
			Ports: []corev1.ServicePort{{Port: 80, NodePort: got.Spec.Ports[0].NodePort}},
		}}
		_, err = c.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
			t.Errorf("taken clusterIP: %v, want 422 already allocated", err)
		}
		taken.Spec.ClusterIP = ""
		_, err = c.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.ports[0].nodePort") {
			t.Errorf("taken nodePort: %v, want 422 on spec.ports[0].nodePort", err)
		}
		taken.Spec.Ports[0].NodePort = 80
		_, err = c.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "valid range") {
			t.Errorf("out-of-range nodePort: %v", err)
		}
		if err := c.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// Released on delete: the same IP and port can be asked for again.
		again := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web3"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: got.Spec.ClusterIP,
			Ports: []corev1.ServicePort{{Port: 80, NodePort: got.Spec.Ports[0].NodePort}},
		}}
		if _, err := c.CoreV1().Services("default").Create(ctx, again, metav1.CreateOptions{}); err != nil {
			t.Errorf("reuse after delete: %v", err)
		}
	})

	t.Run("finalizers hold deletion", func(t *testing.T) {
		cm := configMap("held", nil)
		cm.Finalizers = []string{"example.com/hold"}
		if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CoreV1().ConfigMaps("default").Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.CoreV1().ConfigMaps("default").Get(ctx, "held", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("object with finalizer gone: %v", err)
		}
		if got.DeletionTimestamp == nil {
			t.Fatal("deletionTimestamp not set")
		}
		got.Finalizers = nil
		if _, err := c.CoreV1().ConfigMaps("default").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after last finalizer: %v, want NotFound", err)
		}
		// Orphan propagation is recorded as the orphan finalizer.
		if _, err := c.AppsV1().Deployments("default").Create(ctx, deployment("orphaned", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		orphan := metav1.DeletePropagationOrphan
		if err := c.AppsV1().Deployments("default").Delete(ctx, "orphaned", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		d, err := c.AppsV1().Deployments("default").Get(ctx, "orphaned", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"orphan"}, d.Finalizers); diff != "" {
			t.Errorf("finalizers (-want +got):\n%s", diff)
		}
	})

	t.Run("terminating namespace refuses new content", func(t *testing.T) {
		if _, err := c.CoreV1().Namespaces().Create(ctx, ns("doomed"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := c.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != corev1.NamespaceTerminating {
			t.Errorf("phase %q, want Terminating", got.Status.Phase)
		}
		_, err = c.CoreV1().ConfigMaps("doomed").Create(ctx, configMap("late", nil), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("create in terminating namespace: %v, want Forbidden", err)
		}
		if err := c.CoreV1().Namespaces().Delete(ctx, "kube-system", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete kube-system: %v, want Forbidden", err)
		}
	})

	t.Run("binding and graceful pod deletion", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		got, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != corev1.PodPending || got.Status.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("new pod status: phase %q qos %q", got.Status.Phase, got.Status.QOSClass)
		}
		if got.Spec.RestartPolicy != corev1.RestartPolicyAlways || got.Spec.SchedulerName != "default-scheduler" {
			t.Errorf("pod defaults: %+v", got.Spec)
		}
		var tolerated []string
		for _, tol := range got.Spec.Tolerations {
			if tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 && tol.Effect == corev1.TaintEffectNoExecute {
				tolerated = append(tolerated, tol.Key)
			}
		}
		if diff := cmp.Diff([]string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}, tolerated); diff != "" {
			t.Errorf("default tolerations (-want +got):\n%s", diff)
		}
		binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
		if err := c.CoreV1().Pods("default").Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err = c.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		scheduled := false
		for _, cond := range got.Status.Conditions {
			scheduled = scheduled || (cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionTrue)
		}
		if got.Spec.NodeName != "node-1" || !scheduled {
			t.Errorf("after binding: nodeName %q conditions %+v", got.Spec.NodeName, got.Status.Conditions)
		}
		if err := c.CoreV1().Pods("default").Bind(ctx, binding, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
			t.Errorf("second binding: %v, want Conflict", err)
		}
		// A pod on a node is deleted gracefully: marked, then removed when
		// its node confirms with a zero grace period.
		if err := c.CoreV1().Pods("default").Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err = c.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod gone before its grace period: %v", err)
		}
		if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 30 {
			t.Errorf("graceful deletion fields: %v %v", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
		}
		zero := int64(0)
		if err := c.CoreV1().Pods("default").Delete(ctx, "bound", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Pods("default").Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after zero-grace delete: %v, want NotFound", err)
		}
	})

	t.Run("protobuf client", func(t *testing.T) {
		pc := ts.ClientFor(t, protobuf)
		got, err := pc.CoreV1().ConfigMaps("default").Create(ctx, configMap("proto", map[string]string{"via": "pb"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["k"] != "v" {
			t.Errorf("protobuf round trip: %+v", got)
		}
		l, err := pc.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: "via=pb"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 {
			t.Errorf("protobuf list: %d items", len(l.Items))
		}
		w, err := pc.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: got.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := pc.CoreV1().ConfigMaps("default").Delete(ctx, "proto", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != "DELETED" {
				t.Errorf("protobuf watch event %s", ev.Type)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no protobuf watch event")
		}
	})

	t.Run("dynamic client and server-side apply", func(t *testing.T) {
		dc := ts.Dynamic(t)
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		obj := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]interface{}{"name": "applied"},
			"spec": map[string]interface{}{
				"replicas": int64(2),
				"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": "applied"}},
				"template": map[string]interface{}{
					"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": "applied"}},
					"spec": map[string]interface{}{"containers": []interface{}{
						map[string]interface{}{"name": "web", "image": "busybox"}}},
				},
			},
		}}
		got, err := dc.Resource(gvr).Namespace("default").Apply(ctx, "applied", obj, metav1.ApplyOptions{FieldManager: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 2 {
			t.Errorf("applied replicas %d", r)
		}
		unstructured.SetNestedField(obj.Object, int64(3), "spec", "replicas")
		_, err = dc.Resource(gvr).Namespace("default").Apply(ctx, "applied", obj, metav1.ApplyOptions{FieldManager: "bob"})
		if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "alice") {
			t.Fatalf("second manager: %v, want a conflict naming alice", err)
		}
		got, err = dc.Resource(gvr).Namespace("default").Apply(ctx, "applied", obj, metav1.ApplyOptions{FieldManager: "bob", Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if r, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); r != 3 {
			t.Errorf("forced apply replicas %d", r)
		}
	})
}

// rawClient is an HTTPS client that trusts the server's CA, with or without
// the admin credentials.
func rawClient(t *testing.T, cfg *rest.Config, anonymous bool) *http.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	if anonymous {
		c.TLSClientConfig.CertFile, c.TLSClientConfig.KeyFile = "", ""
		c.TLSClientConfig.CertData, c.TLSClientConfig.KeyData = nil, nil
	}
	tr, err := rest.TransportFor(c)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestBadInput(t *testing.T) {
	ts := servertest.Start(t, nil)
	admin := rawClient(t, ts.Config, false)
	anon := rawClient(t, ts.Config, true)
	base := ts.URL()
	do := func(c *http.Client, method, path, ctype string, body []byte) (int, metav1.Status) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		_ = json.Unmarshal(data, &st)
		return resp.StatusCode, st
	}
	tests := []struct {
		name       string
		client     *http.Client
		method     string
		path       string
		ctype      string
		body       []byte
		wantCode   int
		wantReason metav1.StatusReason
	}{
		{"anonymous list", anon, "GET", "/api/v1/pods", "", nil, 401, metav1.StatusReasonUnauthorized},
		{"malformed json", admin, "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":`), 400, metav1.StatusReasonBadRequest},
		{"malformed yaml", admin, "POST", "/api/v1/namespaces/default/configmaps", "application/yaml", []byte("a: [b"), 400, metav1.StatusReasonBadRequest},
		{"wrong kind", admin, "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`), 400, metav1.StatusReasonBadRequest},
		{"unknown version", admin, "GET", "/apis/apps/v9/deployments", "", nil, 404, metav1.StatusReasonNotFound},
		{"unknown resource", admin, "GET", "/api/v1/widgets", "", nil, 404, metav1.StatusReasonNotFound},
		{"bad name", admin, "POST", "/api/v1/namespaces", "application/json", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"Bad_Name"}}`), 422, metav1.StatusReasonInvalid},
		{"too large", admin, "POST", "/api/v1/namespaces/default/configmaps", "application/json", bytes.Repeat([]byte(" "), 3*1024*1024+10), 413, metav1.StatusReasonRequestEntityTooLarge},
		{"bad selector", admin, "GET", "/api/v1/pods?labelSelector=a%20in%20(b", "", nil, 400, metav1.StatusReasonBadRequest},
		{"bad patch", admin, "PATCH", "/api/v1/namespaces/default", "application/merge-patch+json", []byte(`[1,2]`), 400, metav1.StatusReasonBadRequest},
		{"unsupported media", admin, "POST", "/api/v1/namespaces", "text/plain", []byte(`x`), 415, metav1.StatusReasonUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st := do(tt.client, tt.method, tt.path, tt.ctype, tt.body)
			if code != tt.wantCode || st.Reason != tt.wantReason || st.Kind != "Status" {
				t.Errorf("got %d %q (%s), want %d %q", code, st.Reason, st.Message, tt.wantCode, tt.wantReason)
			}
		})
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		resp, err := anon.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("anonymous %s: %d, want 200", p, resp.StatusCode)
		}
	}
	// The server still answers after all that.
	if _, err := ts.Client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("server unhealthy after bad input: %v", err)
	}
}
