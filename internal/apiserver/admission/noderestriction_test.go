package admission

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objectMap serves Get from a map keyed by resource/namespace/name.
type objectMap map[string]runtime.Object

func (m objectMap) List(schema.GroupVersionResource, string) []runtime.Object { return nil }

func (m objectMap) Get(gvr schema.GroupVersionResource, namespace, name string) (runtime.Object, bool) {
	o, ok := m[gvr.Resource+"/"+namespace+"/"+name]
	return o, ok
}

func (m objectMap) ResourceFor(schema.GroupVersionKind) (schema.GroupVersionResource, bool, bool) {
	return schema.GroupVersionResource{}, false, false
}

func csrPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestNodeRestriction covers what the end-to-end test in internal/server
// does not: labels, claims, CSRs, token audiences.
func TestNodeRestriction(t *testing.T) {
	node := authenticationv1.UserInfo{Username: "system:node:a", Groups: []string{"system:nodes", "system:authenticated"}}
	podOnA := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod-uid"}, Spec: corev1.PodSpec{NodeName: "a",
		Volumes: []corev1.Volume{
			{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault"}}}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		}}}
	objs := objectMap{
		"pods/ns/p":                      podOnA,
		"persistentvolumeclaims/ns/data": &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}},
		"persistentvolumes//pv1": &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com"}}}},
		"csidrivers//csi.example.com": &storagev1.CSIDriver{Spec: storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: "csi-aud"}}}},
	}
	p := nodeRestriction{objects: objs}
	nodeUpdate := func(old, now map[string]string) *Attributes {
		return &Attributes{Resource: nodesGVR, Name: "a", Operation: Update, User: node,
			OldObject: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: old}},
			Object:    &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: now}}}
	}
	token := func(audiences ...string) *Attributes {
		return &Attributes{Resource: serviceAccountsGVR, SubResource: "token", Namespace: "ns", Name: "default", Operation: Create, User: node,
			Object: &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences,
				BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "p", UID: "pod-uid"}}}}
	}
	csr := func(signer, cn string) *Attributes {
		return &Attributes{Resource: certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"), Operation: Create, User: node,
			Object: &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "csr"},
				Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: signer, Request: csrPEM(t, cn)}}}
	}
	pvc := func(mutate func(*corev1.PersistentVolumeClaim)) *Attributes {
		old := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", ResourceVersion: "1"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}}
		now := old.DeepCopy()
		now.ResourceVersion = "2"
		mutate(now)
		return &Attributes{Resource: pvcsGVR, SubResource: "status", Namespace: "ns", Name: "data", Operation: Update, User: node, OldObject: old, Object: now}
	}
	tests := []struct {
		name string
		a    *Attributes
		// want is "" for admitted, or part of the refusal's message.
		want string
	}{
		{"own labels", nodeUpdate(nil, map[string]string{"example.com/x": "1", "kubernetes.io/hostname": "a", "node.kubernetes.io/instance-type": "m"}), ""},
		{"node-restriction label", nodeUpdate(nil, map[string]string{"node-restriction.kubernetes.io/x": "1"}), "is not allowed to modify labels: node-restriction.kubernetes.io/x"},
		{"node-restriction subdomain", nodeUpdate(nil, map[string]string{"a.node-restriction.kubernetes.io/x": "1"}), "a.node-restriction.kubernetes.io/x"},
		{"removing a restricted label", nodeUpdate(map[string]string{"node-restriction.kubernetes.io/x": "1"}, nil), "node-restriction.kubernetes.io/x"},
		{"node role", nodeUpdate(nil, map[string]string{"node-role.kubernetes.io/worker": ""}), "node-role.kubernetes.io/worker"},
		{"other k8s.io label", nodeUpdate(nil, map[string]string{"example.k8s.io/x": ""}), "example.k8s.io/x"},
		{"kubelet.kubernetes.io label", nodeUpdate(nil, map[string]string{"kubelet.kubernetes.io/x": ""}), ""},
		{"unchanged restricted label", nodeUpdate(map[string]string{"node-restriction.kubernetes.io/x": "1"}, map[string]string{"node-restriction.kubernetes.io/x": "1"}), ""},
		{"not a node", &Attributes{Resource: nodesGVR, Name: "b", Operation: Update, User: authenticationv1.UserInfo{Username: "alice"}}, ""},
		{"token for the default audience not in the pod", token(), `system:node:a is not authorized to request tokens for audience ""`},
		{"token for a projected volume's audience", token("vault"), ""},
		{"token for its CSI driver's audience", token("csi-aud"), ""},
		{"token for two audiences", token("vault", "csi-aud"), "node may only request 0 or 1 audiences"},
		{"node client CSR for itself", csr(certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:a"), ""},
		{"node client CSR for another node", csr(certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:b"), "can only create a node CSR with CN=system:node:a"},
		{"serving CSR for another node", csr(certificatesv1.KubeletServingSignerName, "system:node:b"), "CN=system:node:a"},
		{"CSR of another signer", csr("example.com/x", "anything"), ""},
		{"claim capacity", pvc(func(c *corev1.PersistentVolumeClaim) {
			c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		}), ""},
		{"claim phase", pvc(func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = corev1.ClaimLost }), "is not allowed to update fields other than status.quantity and status.conditions"},
		{"claim spec", &Attributes{Resource: pvcsGVR, Namespace: "ns", Name: "data", Operation: Update, User: node}, "may only update PVC status"},
		{"lease of another namespace", &Attributes{Resource: schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
			Namespace: "kube-system", Name: "a", Operation: Update, User: node}, `can only access leases in the "kube-node-lease" system namespace`},
		{"pod binding", &Attributes{Resource: podsGVR, SubResource: "binding", Namespace: "ns", Name: "p", Operation: Create, User: node},
			"unexpected pod subresource \"binding\""},
		{"unknown node", &Attributes{Resource: podsGVR, Namespace: "ns", Operation: Create, User: authenticationv1.UserInfo{Username: "system:node:", Groups: []string{"system:nodes"}}},
			`could not determine node from user "system:node:"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Admit(context.Background(), tt.a)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want a 403 saying %q", err, tt.want)
			}
		})
	}
}
