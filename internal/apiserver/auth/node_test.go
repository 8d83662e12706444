package auth

import (
	"context"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

func TestNodeIdentity(t *testing.T) {
	tests := []struct {
		name     string
		user     *User
		wantName string
		wantNode bool
	}{
		{"node", &User{Name: "system:node:a", Groups: []string{GroupNodes, GroupAuthenticated}}, "a", true},
		{"not in the group", &User{Name: "system:node:a", Groups: []string{GroupAuthenticated}}, "", false},
		{"not a node's name", &User{Name: "alice", Groups: []string{GroupNodes}}, "", false},
		{"no node named", &User{Name: "system:node:", Groups: []string{GroupNodes}}, "", true},
		{"nobody", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, isNode := NodeIdentity(tt.user)
			if name != tt.wantName || isNode != tt.wantNode {
				t.Errorf("NodeIdentity = %q, %v; want %q, %v", name, isNode, tt.wantName, tt.wantNode)
			}
		})
	}
}

func podOn(node, ns, name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestNodeAuthorizer(t *testing.T) {
	g := NewNodeGraph()
	g.SetPod(podOn("a", "ns", "web", func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "web-sa"
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
		p.Spec.Volumes = []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "projected-cm"}}}}}}},
		}
		p.Spec.InitContainers = []corev1.Container{{Name: "i", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-env"}}}}}}
		p.Spec.Containers = []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}, Key: "k"}}}}}}
	}))
	g.SetPod(podOn("b", "ns", "db", func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "db-sa"
		p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-secret"}}}}
	}))
	// Both nodes run a pod that reads "shared"; once b's goes, only a may.
	g.SetPod(podOn("a", "ns", "s1", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "shared"}} }))
	g.SetPod(podOn("b", "ns", "s2", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "shared"}} }))
	g.DeletePod("ns", "s2")
	// A pod moved by a recreate: its old references are gone.
	g.SetPod(podOn("a", "ns", "moved", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "old"}} }))
	g.SetPod(podOn("b", "ns", "moved", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "new"}} }))
	// A mirror pod's references give its node nothing.
	g.SetPod(podOn("a", "ns", "static", func(p *corev1.Pod) {
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mirror-secret"}}
	}))
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-data"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: "data"},
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "d",
			NodePublishSecretRef:       &corev1.SecretReference{Namespace: "csi", Name: "publish"},
			ControllerPublishSecretRef: &corev1.SecretReference{Namespace: "csi", Name: "controller"}}}}})
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-other"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: "other"}}})
	g.SetVolumeAttachment("va-a", "a")
	g.SetResourceSlice("slice-b", "b")
	g.SetPodCertificateRequest(&certificatesv1.PodCertificateRequest{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pcr"},
		Spec: certificatesv1.PodCertificateRequestSpec{NodeName: "a"}})

	z := NewNode(g)
	nodeA := &User{Name: "system:node:a", Groups: []string{GroupNodes, GroupAuthenticated}}
	req := func(verb, ns, group, resource, sub, name string) Attributes {
		return Attributes{User: nodeA, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	withLabels := func(a Attributes, sel string) Attributes {
		r, _ := labels.ParseToRequirements(sel)
		a.Labels = r
		return a
	}
	withFields := func(a Attributes, sel string) Attributes {
		a.Fields = fields.ParseSelectorOrDie(sel).Requirements()
		return a
	}
	tests := []struct {
		name string
		a    Attributes
		want bool
	}{
		{"secret of a volume", req("get", "ns", "", "secrets", "", "vol-secret"), true},
		{"secret of an env var", req("get", "ns", "", "secrets", "", "env"), true},
		{"secret of an init container's envFrom", req("get", "ns", "", "secrets", "", "init-env"), true},
		{"image pull secret", req("get", "ns", "", "secrets", "", "pull"), true},
		{"secret of another node's pod", req("get", "ns", "", "secrets", "", "db-secret"), false},
		{"secret once shared, now only a's", req("get", "ns", "", "secrets", "", "shared"), true},
		{"secret of a pod before it moved", req("get", "ns", "", "secrets", "", "old"), false},
		{"secret of a mirror pod", req("get", "ns", "", "secrets", "", "mirror-secret"), false},
		{"same name, other namespace", req("get", "other", "", "secrets", "", "vol-secret"), false},
		{"watch one secret by name", req("watch", "ns", "", "secrets", "", "vol-secret"), true},
		{"list secrets", req("list", "ns", "", "secrets", "", ""), false},
		{"update a pod's secret", req("update", "ns", "", "secrets", "", "vol-secret"), false},
		{"configmap volume", req("get", "ns", "", "configmaps", "", "cm"), true},
		{"projected configmap", req("get", "ns", "", "configmaps", "", "projected-cm"), true},
		{"other configmap", req("get", "ns", "", "configmaps", "", "kube-root-ca.crt"), false},
		{"claim", req("get", "ns", "", "persistentvolumeclaims", "", "data"), true},
		{"list claims", req("list", "ns", "", "persistentvolumeclaims", "", ""), false},
		{"claim status", req("patch", "ns", "", "persistentvolumeclaims", "status", "data"), true},
		{"volume of the claim", req("get", "", "", "persistentvolumes", "", "pv-data"), true},
		{"volume of another claim", req("get", "", "", "persistentvolumes", "", "pv-other"), false},
		{"volume's node secret", req("get", "csi", "", "secrets", "", "publish"), true},
		{"volume's controller secret", req("get", "csi", "", "secrets", "", "controller"), false},
		{"its pod's service account", req("get", "ns", "", "serviceaccounts", "", "web-sa"), true},
		{"token for its pod's service account", req("create", "ns", "", "serviceaccounts", "token", "web-sa"), true},
		{"token for another node's pod's", req("create", "ns", "", "serviceaccounts", "token", "db-sa"), false},
		{"its pod", req("get", "ns", "", "pods", "", "web"), true},
		{"another node's pod", req("get", "ns", "", "pods", "", "db"), false},
		{"its local-path volumes", withLabels(req("watch", "", "", "persistentvolumes", "", ""), "skiff.io/local-path-node=a"), true},
		{"its local-path volumes, in", withLabels(req("list", "", "", "persistentvolumes", "", ""), "skiff.io/local-path-node in (a)"), true},
		{"all volumes", req("list", "", "", "persistentvolumes", "", ""), false},
		{"another node's local-path volumes", withLabels(req("list", "", "", "persistentvolumes", "", ""), "skiff.io/local-path-node=b"), false},
		{"local-path volumes of two nodes", withLabels(req("list", "", "", "persistentvolumes", "", ""), "skiff.io/local-path-node in (a,b)"), false},
		{"pods on itself", withFields(req("watch", "", "", "pods", "", ""), "spec.nodeName=a"), true},
		{"pods on another node", withFields(req("list", "", "", "pods", "", ""), "spec.nodeName=b"), false},
		{"all pods", req("list", "", "", "pods", "", ""), false},
		{"mirror pod create", req("create", "ns", "", "pods", "", ""), true},
		{"pod update", req("update", "ns", "", "pods", "", "web"), false},
		{"pod status", req("patch", "ns", "", "pods", "status", "db"), true},
		{"pod exec", req("create", "ns", "", "pods", "exec", "web"), false},
		{"its node", req("get", "", "", "nodes", "", "a"), true},
		{"another node", req("get", "", "", "nodes", "", "b"), false},
		{"all nodes", req("list", "", "", "nodes", "", ""), false},
		{"node delete", req("delete", "", "", "nodes", "", "a"), false},
		{"its lease", req("update", "kube-node-lease", "coordination.k8s.io", "leases", "", "a"), true},
		{"another node's lease", req("update", "kube-node-lease", "coordination.k8s.io", "leases", "", "b"), false},
		{"controller manager's lease", req("update", "kube-system", "coordination.k8s.io", "leases", "", "kube-controller-manager"), false},
		{"its volume attachment", req("get", "", "storage.k8s.io", "volumeattachments", "", "va-a"), true},
		{"another slice", req("get", "", "resource.k8s.io", "resourceslices", "", "slice-b"), false},
		{"its slices", withFields(req("list", "", "resource.k8s.io", "resourceslices", "", ""), "spec.nodeName=a"), true},
		{"its pod certificate request", req("get", "ns", "certificates.k8s.io", "podcertificaterequests", "", "pcr"), true},
		{"pod certificate requests of all", req("list", "ns", "certificates.k8s.io", "podcertificaterequests", "", ""), false},
		{"static rule: services", req("list", "", "", "services", "", ""), true},
		{"static rule: events", req("create", "ns", "events.k8s.io", "events", "", ""), true},
		{"no static rule: deployments", req("list", "", "apps", "deployments", "", ""), false},
		{"not a node", Attributes{User: &User{Name: "alice"}, Verb: "get", Namespace: "ns", Resource: "secrets", Name: "env", ResourceRequest: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := z.Authorize(context.Background(), tt.a)
			if err != nil || got != tt.want {
				t.Errorf("Authorize = %v (%q), %v; want %v", got, reason, err, tt.want)
			}
		})
	}
}

// TestNodeGraphForgets checks that the graph drops what deleted pods and
// volumes related, so that it does not grow with churn.
func TestNodeGraphForgets(t *testing.T) {
	g := NewNodeGraph()
	for _, n := range []string{"p1", "p2"} {
		g.SetPod(podOn("a", "ns", n, func(p *corev1.Pod) {
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "s"}}
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}}}
		}))
	}
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv"}, Spec: corev1.PersistentVolumeSpec{
		ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: "p1-v"},
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
			NodeStageSecretRef: &corev1.SecretReference{Name: "stage"}}}}})
	if !g.usedOn("a", objectKey{kindPVC, "ns", "p1-v"}) || !g.usedOn("a", objectKey{kindSecret, "ns", "stage"}) {
		t.Fatal("ephemeral claim or its volume's secret not related")
	}
	g.DeletePod("ns", "p1")
	if !g.usedOn("a", objectKey{kindSecret, "ns", "s"}) {
		t.Error("secret still used by p2 forgotten")
	}
	g.DeletePod("ns", "p2")
	g.DeletePV("pv")
	if len(g.pods) != 0 || len(g.users) != 0 || len(g.pvs) != 0 || len(g.pvsBySecret) != 0 {
		t.Errorf("graph keeps %d pods, %d objects, %d volumes, %d volume secrets", len(g.pods), len(g.users), len(g.pvs), len(g.pvsBySecret))
	}
}
