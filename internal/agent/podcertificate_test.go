package agent

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"path/filepath"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestPodCertificateKeyAndFiles(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pod-certificates", "v-0.key")
	key, keyPEM, err := loadOrCreateKey(file, "ECDSAP256")
	if err != nil {
		t.Fatal(err)
	}
	again, againPEM, err := loadOrCreateKey(file, "ECDSAP256")
	if err != nil || !bytes.Equal(keyPEM, againPEM) {
		t.Fatalf("second load: %v, same key %v", err, bytes.Equal(keyPEM, againPEM))
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, again)
	if err != nil {
		t.Fatal(err)
	}
	req := &certificatesv1.PodCertificateRequest{Spec: certificatesv1.PodCertificateRequestSpec{StubPKCS10Request: csr}}
	if !requestsKey(req, key.Public()) {
		t.Error("the request made with the kept key does not match it")
	}
	if _, _, err := loadOrCreateKey(filepath.Join(t.TempDir(), "k"), "DSA"); err == nil {
		t.Error("unsupported key type accepted")
	}

	files := map[string]projectedFile{}
	addPodCertificateFiles(files, &corev1.PodCertificateProjection{CredentialBundlePath: "bundle.pem", CertificateChainPath: "chain.pem"},
		[]byte("KEY\n"), []byte("CHAIN\n"), 0o644)
	if got := string(files["bundle.pem"].Data); got != "KEY\nCHAIN\n" {
		t.Errorf("credential bundle %q, want the key then the chain", got)
	}
	if got := string(files["chain.pem"].Data); got != "CHAIN\n" {
		t.Errorf("chain %q", got)
	}
	if _, ok := files[""]; ok || len(files) != 2 {
		t.Errorf("files %v, want bundle.pem and chain.pem", files)
	}
}
