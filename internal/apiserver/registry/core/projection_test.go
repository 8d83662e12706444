package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateProjectedCertificates(t *testing.T) {
	pc := func(seconds int32) corev1.VolumeProjection {
		return corev1.VolumeProjection{PodCertificate: &corev1.PodCertificateProjection{
			SignerName: "example.com/spiffe", KeyType: "ED25519", CredentialBundlePath: "credentials.pem", MaxExpirationSeconds: ptr(seconds)}}
	}
	tests := []struct {
		name string
		src  corev1.VolumeProjection
		want []string
	}{
		{"bundle by name", corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr("root"), Path: "ca.pem"}}, nil},
		{"bundle by signer", corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{SignerName: ptr("example.com/one"), LabelSelector: &metav1.LabelSelector{}, Path: "ca.pem"}}, nil},
		{"bundle by neither", corev1.VolumeProjection{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Path: "ca.pem"}},
			[]string{"v.sources[0].clusterTrustBundle: Required value: either name or signerName must be specified"}},
		{"certificate for a day", pc(86400), nil},
		{"certificate for more than 91 days", pc(91*24*3600 + 1),
			[]string{"v.sources[0].podCertificate.maxExpirationSeconds: Invalid value: 7862401: if provided, maxExpirationSeconds must be <= 7862400"}},
		{"certificate for less than an hour", pc(3599),
			[]string{"v.sources[0].podCertificate.maxExpirationSeconds: Invalid value: 3599: if provided, maxExpirationSeconds must be >= 3600"}},
		{"certificate without a path or key type", corev1.VolumeProjection{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/s"}},
			[]string{`v.sources[0].podCertificate.keyType: Unsupported value: "": supported values: "RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519"`,
				"v.sources[0].podCertificate: Required value: specify at least one of credentialBundlePath, keyPath, and certificateChainPath"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range validateProjected(&corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{tt.src}}, field.NewPath("v")) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
