package certificates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// selfSigned returns a PEM certificate of key, CA or not.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey, ca bool, notBefore time.Time, lifetime time.Duration) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: notBefore, NotAfter: notBefore.Add(lifetime), IsCA: ca, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestValidateClusterTrustBundle(t *testing.T) {
	k := newKey(t)
	ca := selfSigned(t, k, true, time.Now(), time.Hour)
	leaf := selfSigned(t, k, false, time.Now(), time.Hour)
	bundle := func(name, signer, pem string) *certificatesv1.ClusterTrustBundle {
		return &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: pem}}
	}
	tests := []struct {
		name string
		b    *certificatesv1.ClusterTrustBundle
		want []string
	}{
		{"one CA, no signer", bundle("root", "", ca), nil},
		{"named after its signer", bundle("example.com:signer:root", "example.com/signer", ca), nil},
		{"not named after its signer", bundle("root", "example.com/signer", ca),
			[]string{`metadata.name: Invalid value: "root": ClusterTrustBundle for signerName example.com/signer must be named with prefix example.com:signer:`}},
		{"colon without signer", bundle("a:b", "", ca), []string{`metadata.name: Invalid value: "a:b": ClusterTrustBundle without signer name must not have ":" in its name`}},
		{"not a CA", bundle("leaf", "", leaf), []string{`spec.trustBundle: Invalid value: "<value omitted>": entry 0 does not have the CA bit set`}},
		{"twice the same", bundle("dup", "", ca+ca), []string{`spec.trustBundle: Invalid value: "<value omitted>": duplicate trust anchor (indices [0 1])`}},
		{"empty", bundle("empty", "", ""), []string{`spec.trustBundle: Invalid value: "<value omitted>": at least one trust anchor must be provided`}},
	}
	r := clusterTrustBundleResource()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range r.Strategy.Validate(tt.b) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	old := bundle("example.com:signer:root", "example.com/signer", ca)
	moved := bundle("example.com:signer:root", "example.com/other", ca)
	if errs := r.Strategy.ValidateUpdate(moved, old); len(errs) == 0 {
		t.Error("a bundle changed its signer")
	}
}

func TestPodCertificateRequestStatus(t *testing.T) {
	key := newKey(t)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	req := &certificatesv1.PodCertificateRequest{Spec: certificatesv1.PodCertificateRequestSpec{
		SignerName: "example.com/e2e", PodName: "test-pod", PodUID: "1", ServiceAccountName: "default", ServiceAccountUID: "2",
		NodeName: "test-node", NodeUID: "3", MaxExpirationSeconds: ptr.To(int32(86400)), StubPKCS10Request: csr,
	}}
	r := podCertificateRequestResource()
	if errs := r.Strategy.Validate(req); len(errs) != 0 {
		t.Fatalf("valid request: %v", errs)
	}
	if errs := r.Strategy.Validate(&certificatesv1.PodCertificateRequest{}); len(errs) == 0 {
		t.Error("empty request accepted")
	}

	notBefore := time.Now().Add(-time.Minute).Truncate(time.Second)
	issued := func(k *ecdsa.PrivateKey, refresh time.Duration) *certificatesv1.PodCertificateRequest {
		out := req.DeepCopy()
		nb, na, br := metav1.NewTime(notBefore), metav1.NewTime(notBefore.Add(time.Hour)), metav1.NewTime(notBefore.Add(refresh))
		out.Status = certificatesv1.PodCertificateRequestStatus{
			CertificateChain: selfSigned(t, k, false, notBefore, time.Hour),
			NotBefore:        &nb, NotAfter: &na, BeginRefreshAt: &br,
			Conditions: []metav1.Condition{{Type: certificatesv1.PodCertificateRequestConditionTypeIssued, Status: metav1.ConditionTrue,
				Reason: "E2E", LastTransitionTime: metav1.Now()}},
		}
		return out
	}
	st := r.Strategy.SubresourceUpdates["status"]
	tests := []struct {
		name     string
		upd, old *certificatesv1.PodCertificateRequest
		want     []string
	}{
		{"issued", issued(key, 15*time.Minute), req, nil},
		{"issued to another key", issued(newKey(t), 15*time.Minute), req, []string{"status.certificateChain: leaf certificate was not issued to the requested public key"}},
		{"refresh too early", issued(key, time.Minute), req, []string{"status.beginRefreshAt: must be at least 10 minutes after status.notBefore"}},
		{"issued is final", req, issued(key, 15*time.Minute), []string{"status: immutable after PodCertificateRequest is issued, denied, or failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range st.Validate(tt.upd, tt.old) {
				got = append(got, e.Field+": "+e.Detail)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
