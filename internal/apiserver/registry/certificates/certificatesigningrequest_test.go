package certificates

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"

	"github.com/google/go-cmp/cmp"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"

	"skiff/internal/apiserver/registry"
)

func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCSR(t *testing.T) {
	s := Resources()[0].Strategy
	exp := int32(3600)
	csr := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{
		Request:           csrPEM(t),
		SignerName:        "kubernetes.io/kube-apiserver-client-kubelet",
		Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		Username:          "mallory",
		ExpirationSeconds: &exp,
	}}
	s.PrepareForCreate(csr)
	s.PrepareForCreateByUser(csr, registry.UserInfo{Name: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers"}})
	if csr.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("requester not taken from the user: %q", csr.Spec.Username)
	}
	if errs := s.Validate(csr); len(errs) != 0 {
		t.Fatalf("valid CSR rejected: %v", errs)
	}

	bad := &certificatesv1.CertificateSigningRequest{Spec: certificatesv1.CertificateSigningRequestSpec{Request: []byte("junk"), SignerName: "nodomain"}}
	var got []string
	for _, e := range s.Validate(bad) {
		got = append(got, e.Error())
	}
	want := []string{
		`spec.request: Invalid value: "junk": PEM block type must be CERTIFICATE REQUEST`,
		"spec.usages: Required value",
		`spec.signerName: Invalid value: "nodomain": must be a fully qualified domain and path of the form 'example.com/signer-name'`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Approval sets Approved; a status update cannot remove it.
	approve := csr.DeepCopy()
	approve.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	approve.Spec.Username = "changed"
	a := s.SubresourceUpdates["approval"]
	a.Prepare(approve, csr)
	if errs := a.Validate(approve, csr); len(errs) != 0 {
		t.Fatalf("approval rejected: %v", errs)
	}
	if approve.Spec.Username != "system:bootstrap:abcdef" {
		t.Errorf("approval changed spec")
	}
	// /approval writes other conditions too, as upstream (the CSR API
	// conformance spec patches one in), but may not drop Approved.
	other := approve.DeepCopy()
	other.Status.Conditions = append(other.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: "ApprovalPatch", Status: corev1.ConditionTrue})
	a.Prepare(other, approve)
	if errs := a.Validate(other, approve); len(errs) != 0 || len(other.Status.Conditions) != 2 {
		t.Errorf("approval with another condition: conditions %v, errors %v", other.Status.Conditions, errs)
	}
	dropped := approve.DeepCopy()
	dropped.Status.Conditions = nil
	a.Prepare(dropped, approve)
	if errs := a.Validate(dropped, approve); len(errs) == 0 {
		t.Error("approval dropped Approved")
	}
	status := approve.DeepCopy()
	status.Status.Conditions = nil
	s.SubresourceUpdates["status"].Prepare(status, approve)
	if len(status.Status.Conditions) != 1 || status.Status.Conditions[0].Type != certificatesv1.CertificateApproved {
		t.Errorf("status update dropped approval: %v", status.Status.Conditions)
	}

	row := s.TableRow(approve)
	wantRow := []interface{}{"<unknown>", "kubernetes.io/kube-apiserver-client-kubelet", "system:bootstrap:abcdef", "60m", "Approved"}
	if diff := cmp.Diff(wantRow, row); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if s.Fields(csr)["spec.signerName"] != csr.Spec.SignerName {
		t.Errorf("spec.signerName field missing")
	}
}
