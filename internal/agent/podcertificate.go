package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// podCertSource gives the private key (PEM) and the issued certificate
// chain (PEM) of one podCertificate source, the idx-th of volume's.
type podCertSource func(ctx context.Context, pod *corev1.Pod, volume string, idx int, src *corev1.PodCertificateProjection) (key, chain []byte, err error)

// defaultPodCertificateSeconds is the lifetime asked for when the source
// does not say, upstream's.
const defaultPodCertificateSeconds = 24 * 3600

// podCertificate is the agent's podCertSource, as upstream's kubelet: it
// generates the source's key once (kept in the pod's directory), asks the
// source's signer for a certificate with a PodCertificateRequest carrying
// a PKCS#10 request signed by the key, and returns the chain once the
// request is issued. Until then the mount fails and the pod waits in
// ContainerCreating; a denied or failed request fails it too. Not done:
// requesting a new certificate at status.beginRefreshAt.
func (a *Agent) podCertificate(ctx context.Context, pod *corev1.Pod, volume string, idx int, src *corev1.PodCertificateProjection) ([]byte, []byte, error) {
	keyFile := filepath.Join(a.podDir(pod.UID), "pod-certificates", volume+"-"+strconv.Itoa(idx)+".key")
	key, keyPEM, err := loadOrCreateKey(keyFile, src.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("pod certificate key: %w", err)
	}
	pcrs := a.cfg.Client.CertificatesV1().PodCertificateRequests(pod.Namespace)
	// A node may list only the requests that name it (the Node
	// authorizer's rule), so the selector says so too.
	sel := fields.SelectorFromSet(fields.Set{"spec.nodeName": pod.Spec.NodeName, "spec.podName": pod.Name})
	list, err := pcrs.List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list podcertificaterequests: %w", err)
	}
	var req *certificatesv1.PodCertificateRequest
	for i := range list.Items {
		r := &list.Items[i]
		if r.Spec.PodUID == pod.UID && r.Spec.SignerName == src.SignerName && requestsKey(r, key.Public()) {
			req = r
		}
	}
	if req == nil {
		if req, err = a.createPodCertificateRequest(ctx, pod, src, key); err != nil {
			return nil, nil, err
		}
	}
	for _, c := range req.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			continue
		}
		switch c.Type {
		case certificatesv1.PodCertificateRequestConditionTypeIssued:
			return keyPEM, []byte(req.Status.CertificateChain), nil
		case certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed:
			return nil, nil, &configError{msg: fmt.Sprintf("PodCertificateRequest %s/%s was %s: %s", req.Namespace, req.Name, c.Type, c.Message)}
		}
	}
	return nil, nil, fmt.Errorf("PodCertificateRequest %s/%s is pending", req.Namespace, req.Name)
}

func (a *Agent) createPodCertificateRequest(ctx context.Context, pod *corev1.Pod, src *corev1.PodCertificateProjection, key crypto.Signer) (*certificatesv1.PodCertificateRequest, error) {
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	sa, err := a.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get serviceaccount %s: %w", saName, err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("pod certificate request: %w", err)
	}
	req, err := a.cfg.Client.CertificatesV1().PodCertificateRequests(pod.Namespace).Create(ctx, &certificatesv1.PodCertificateRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + "-"},
		Spec: certificatesv1.PodCertificateRequestSpec{
			SignerName:                src.SignerName,
			PodName:                   pod.Name,
			PodUID:                    pod.UID,
			ServiceAccountName:        saName,
			ServiceAccountUID:         sa.UID,
			NodeName:                  types.NodeName(pod.Spec.NodeName),
			NodeUID:                   a.nodeUID,
			MaxExpirationSeconds:      ptr.To(ptr.Deref(src.MaxExpirationSeconds, defaultPodCertificateSeconds)),
			StubPKCS10Request:         csr,
			UnverifiedUserAnnotations: src.UserAnnotations,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create podcertificaterequest: %w", err)
	}
	return req, nil
}

// requestsKey reports whether r asks for a certificate of pub.
func requestsKey(r *certificatesv1.PodCertificateRequest, pub crypto.PublicKey) bool {
	csr, err := x509.ParseCertificateRequest(r.Spec.StubPKCS10Request)
	if err != nil {
		return false
	}
	k, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(csr.PublicKey)
}

// loadOrCreateKey reads the PKCS#8 key in file, or generates one of
// keyType and writes it there.
func loadOrCreateKey(file, keyType string) (crypto.Signer, []byte, error) {
	if data, err := os.ReadFile(file); err == nil {
		if b, _ := pem.Decode(data); b != nil {
			if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				if s, ok := k.(crypto.Signer); ok {
					return s, data, nil
				}
			}
		}
	}
	var key crypto.Signer
	var err error
	switch keyType {
	case "RSA3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA4096":
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ECDSAP256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECDSAP384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECDSAP521":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ED25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, &configError{msg: fmt.Sprintf("unsupported pod certificate key type %q", keyType)}
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("write %s", file), err)
	}
	return key, data, nil
}

// addPodCertificateFiles writes a podCertificate source's files: the
// credential bundle (key, then chain), the key alone, the chain alone.
func addPodCertificateFiles(files map[string]projectedFile, src *corev1.PodCertificateProjection, key, chain []byte, mode os.FileMode) {
	if src.CredentialBundlePath != "" {
		files[src.CredentialBundlePath] = projectedFile{Data: append(append([]byte{}, key...), chain...), Mode: mode}
	}
	if src.KeyPath != "" {
		files[src.KeyPath] = projectedFile{Data: key, Mode: mode}
	}
	if src.CertificateChainPath != "" {
		files[src.CertificateChainPath] = projectedFile{Data: chain, Mode: mode}
	}
}
