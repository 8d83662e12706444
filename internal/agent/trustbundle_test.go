package agent

import (
	"encoding/pem"
	"testing"

	"github.com/google/go-cmp/cmp"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestTrustAnchors(t *testing.T) {
	// The agent does not parse the certificates: any DER bytes do.
	cert := func(der string) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(der)}))
	}
	bundle := func(name, signer string, labels map[string]string, ders ...string) certificatesv1.ClusterTrustBundle {
		b := certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signer}}
		for _, d := range ders {
			b.Spec.TrustBundle += cert(d)
		}
		return b
	}
	alive := map[string]string{"signer.alive": "true"}
	bundles := []certificatesv1.ClusterTrustBundle{
		bundle("plain", "", nil, "p"),
		bundle("one:a", "example.com/one", alive, "b", "a"),
		bundle("one:b", "example.com/one", alive, "a"),
		bundle("one:dead", "example.com/one", map[string]string{"signer.alive": "false"}, "d"),
		bundle("two:a", "example.com/two", alive, "t"),
	}
	signer := ptr.To("example.com/one")
	tests := []struct {
		name    string
		src     corev1.ClusterTrustBundleProjection
		want    string
		wantErr string
	}{
		{name: "by name", src: corev1.ClusterTrustBundleProjection{Name: ptr.To("one:a")}, want: cert("b") + cert("a")},
		{name: "missing name, optional: empty file", src: corev1.ClusterTrustBundleProjection{Name: ptr.To("nope"), Optional: ptr.To(true)}, want: ""},
		{name: "missing name", src: corev1.ClusterTrustBundleProjection{Name: ptr.To("nope")},
			wantErr: `while getting ClusterTrustBundle "nope": clustertrustbundles.certificates.k8s.io "nope" not found`},
		{name: "signer and labels: distinct certificates", src: corev1.ClusterTrustBundleProjection{SignerName: signer, LabelSelector: &metav1.LabelSelector{MatchLabels: alive}},
			want: cert("a") + cert("b")},
		{name: "signer and empty selector: all of the signer's", src: corev1.ClusterTrustBundleProjection{SignerName: signer, LabelSelector: &metav1.LabelSelector{}},
			want: cert("a") + cert("b") + cert("d")},
		{name: "signer and nil selector matches nothing, optional", src: corev1.ClusterTrustBundleProjection{SignerName: signer, Optional: ptr.To(true)}, want: ""},
		{name: "signer, nothing matches", src: corev1.ClusterTrustBundleProjection{SignerName: signer, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"signer.alive": "unknown"}}},
			wantErr: "combined trust anchors for signer example.com/one and selector signer.alive=unknown was empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trustAnchors(&tt.src, bundles)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
		})
	}
}
