package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestNodeAuthorizerAndRestriction checks, with the credentials of node
// a, that a node reaches only what the pods bound to it use and writes
// only what is its own; node b is the other node.
func TestNodeAuthorizerAndRestriction(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	admin := s.Client
	a, b := s.NodeClient(t, "a"), s.NodeClient(t, "b")

	// Each node registers itself, as the agent does.
	nodes := map[string]*corev1.Node{}
	for name, c := range map[string]kubernetes.Interface{"a": a, "b": b} {
		n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{corev1.LabelHostname: name}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("node %s registers itself: %v", name, err)
		}
		nodes[name] = n
	}
	if _, err := a.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("a registers node c: %v, want 403", err)
	}

	ns := "default"
	for _, n := range []string{"sa-a", "sa-b"} {
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"secret-a", "secret-b", "unused"} {
		if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: n},
			StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, node, sa, secret string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			NodeName: node, ServiceAccountName: sa,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "k"}}}}}},
		}}
	}
	podA, err := admin.CoreV1().Pods(ns).Create(ctx, pod("pod-a", "a", "sa-a", "secret-a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podB, err := admin.CoreV1().Pods(ns).Create(ctx, pod("pod-b", "b", "sa-b", "secret-b"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The authorizer's graph follows the pods through informers.
	for node, c := range map[string]kubernetes.Interface{"a": a, "b": b} {
		servertest.Wait(t, "node "+node+" may read its pod's secret", func(ctx context.Context) (bool, error) {
			_, err := c.CoreV1().Secrets(ns).Get(ctx, "secret-"+node, metav1.GetOptions{})
			if apierrors.IsForbidden(err) {
				return false, nil
			}
			return err == nil, err
		})
	}
	if _, err := admin.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("cm")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	token := func(sa string, p *corev1.Pod) error {
		_, err := a.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}}}, metav1.CreateOptions{})
		return err
	}
	patch := func(body map[string]any) []byte {
		out, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	labelNode := func(node, key string) error {
		_, err := a.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType,
			patch(map[string]any{"metadata": map[string]any{"labels": map[string]string{key: "1"}}}), metav1.PatchOptions{})
		return err
	}
	mirror := func(owner *corev1.Node) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "static-a",
			Annotations:     map[string]string{corev1.MirrorPodAnnotationKey: "hash"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: owner.Name, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	tests := []struct {
		name string
		do   func() error
		// want is nil for success, or what the error must be.
		want func(error) bool
		// message is part of the refusal's message, as upstream words it.
		message string
	}{
		{"read a secret of a pod on b", func() error {
			_, err := a.CoreV1().Secrets(ns).Get(ctx, "secret-b", metav1.GetOptions{})
			return err
		}, apierrors.IsForbidden, "no relationship found between node 'a' and this object"},
		{"read a secret of a pod on a", func() error {
			_, err := a.CoreV1().Secrets(ns).Get(ctx, "secret-a", metav1.GetOptions{})
			return err
		}, nil, ""},
		{"read a secret no pod uses", func() error {
			_, err := a.CoreV1().Secrets(ns).Get(ctx, "unused", metav1.GetOptions{})
			return err
		}, apierrors.IsForbidden, ""},
		{"list secrets", func() error {
			_, err := a.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}, apierrors.IsForbidden, ""},
		{"list secrets of all namespaces", func() error {
			_, err := a.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}, apierrors.IsForbidden, ""},
		{"list its secret by name", func() error {
			_, err := a.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=secret-a"})
			return err
		}, nil, ""},
		{"token for the service account of b's pod", func() error { return token("sa-b", podB) }, apierrors.IsForbidden, ""},
		{"token for the service account of a's pod", func() error { return token("sa-a", podA) }, nil, ""},
		{"token for a's service account bound to b's pod", func() error { return token("sa-a", podB) },
			apierrors.IsForbidden, "node requested token bound to a pod scheduled on a different node"},
		{"read b's pod", func() error {
			_, err := a.CoreV1().Pods(ns).Get(ctx, "pod-b", metav1.GetOptions{})
			return err
		}, apierrors.IsForbidden, ""},
		{"list all pods", func() error {
			_, err := a.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			return err
		}, apierrors.IsForbidden, "can only list/watch pods with spec.nodeName field selector"},
		{"list its pods", func() error {
			l, err := a.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=a"})
			if err == nil && (len(l.Items) != 1 || l.Items[0].Name != "pod-a") {
				t.Errorf("a lists pods %v, want pod-a", l.Items)
			}
			return err
		}, nil, ""},
		{"update the status of b's pod", func() error {
			p := podB.DeepCopy()
			p.Status.Phase = corev1.PodFailed
			_, err := a.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}, apierrors.IsForbidden, `node "a" can only update pod status for pods with spec.nodeName set to itself`},
		{"evict b's pod", func() error {
			return a.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-b"}})
		}, apierrors.IsForbidden, "node a can only evict pods with spec.nodeName set to itself"},
		{"read node b", func() error {
			_, err := a.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
			return err
		}, apierrors.IsForbidden, ""},
		{"patch node b", func() error { return labelNode("b", "example.com/x") },
			apierrors.IsForbidden, `node "a" is not allowed to modify node "b"`},
		{"label itself node-restriction.kubernetes.io/x", func() error { return labelNode("a", "node-restriction.kubernetes.io/x") },
			apierrors.IsForbidden, "is not allowed to modify labels: node-restriction.kubernetes.io/x"},
		{"label itself node-role.kubernetes.io/control-plane", func() error { return labelNode("a", "node-role.kubernetes.io/control-plane") },
			apierrors.IsForbidden, "is not allowed to modify labels"},
		{"label itself with its own label", func() error { return labelNode("a", "example.com/x") }, nil, ""},
		{"taint itself", func() error {
			_, err := a.CoreV1().Nodes().Patch(ctx, "a", types.MergePatchType,
				patch(map[string]any{"spec": map[string]any{"taints": []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}}}), metav1.PatchOptions{})
			return err
		}, apierrors.IsForbidden, `node "a" is not allowed to modify taints`},
		{"create a pod that is not a mirror pod", func() error {
			_, err := a.CoreV1().Pods(ns).Create(ctx, pod("rogue", "a", "", "secret-b"), metav1.CreateOptions{})
			return err
		}, apierrors.IsForbidden, `node "a" can only create mirror pods`},
		{"create a mirror pod for b", func() error {
			_, err := a.CoreV1().Pods(ns).Create(ctx, mirror(nodes["b"]), metav1.CreateOptions{})
			return err
		}, apierrors.IsForbidden, `node "a" can only create pods with spec.nodeName set to itself`},
		{"create a mirror pod for a", func() error {
			_, err := a.CoreV1().Pods(ns).Create(ctx, mirror(nodes["a"]), metav1.CreateOptions{})
			return err
		}, nil, ""},
		{"delete b's pod", func() error { return a.CoreV1().Pods(ns).Delete(ctx, "pod-b", metav1.DeleteOptions{}) },
			apierrors.IsForbidden, `node "a" can only delete pods with spec.nodeName set to itself`},
		{"update the controller manager's lease", func() error {
			l, err := admin.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			l.Spec.HolderIdentity = ptr.To("a")
			_, err = a.CoordinationV1().Leases("kube-system").Update(ctx, l, metav1.UpdateOptions{})
			return err
		}, apierrors.IsForbidden, `can only access leases in the "kube-node-lease" system namespace`},
		{"create b's lease", func() error {
			_, err := a.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
			return err
		}, apierrors.IsForbidden, "can only access node lease with the same name as the requesting node"},
		{"create its lease", func() error {
			_, err := a.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
			return err
		}, nil, ""},
		{"bind itself a role", func() error {
			_, err := a.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mine"},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}}, metav1.CreateOptions{})
			return err
		}, apierrors.IsForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("error %v, want success", err)
			case tt.want != nil && !tt.want(err):
				t.Fatalf("error %v, want another", err)
			case tt.message != "" && !strings.Contains(err.Error(), tt.message):
				t.Errorf("error %q, want it to say %q", err, tt.message)
			}
		})
	}

	// Once b's pod is gone, b may no longer read its secret.
	if err := admin.CoreV1().Pods(ns).Delete(ctx, "pod-b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "b may no longer read secret-b", func(ctx context.Context) (bool, error) {
		_, err := b.CoreV1().Secrets(ns).Get(ctx, "secret-b", metav1.GetOptions{})
		if err == nil {
			return false, nil
		}
		return apierrors.IsForbidden(err), nil
	})
}

// TestNodeBindingTightened checks that a cluster an older skiff made,
// whose system:node binding gave every node the system:node role, loses
// that grant when the server restarts.
func TestNodeBindingTightened(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	crb, err := s.Client.RbacV1().ClusterRoleBindings().Get(ctx, "system:node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(crb.Subjects) != 0 {
		t.Fatalf("a new cluster binds system:node to %v", crb.Subjects)
	}
	crb.Subjects = []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:nodes"}}
	if _, err := s.Client.RbacV1().ClusterRoleBindings().Update(ctx, crb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := s.NodeClient(t, "a")
	servertest.Wait(t, "the old binding lets node a list secrets", func(ctx context.Context) (bool, error) {
		_, err := a.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	dir := s.DataDir
	s.Close()
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = dir })
	crb, err = s.Client.RbacV1().ClusterRoleBindings().Get(ctx, "system:node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(crb.Subjects) != 0 {
		t.Errorf("after a restart system:node binds %v, want no one", crb.Subjects)
	}
	a = s.NodeClient(t, "a")
	servertest.Wait(t, "node a may no longer list secrets", func(ctx context.Context) (bool, error) {
		_, err := a.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		return apierrors.IsForbidden(err), nil
	})
}
