package certificates

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Upstream's bounds on a PodCertificateRequest.
const (
	minMaxExpirationSeconds           = 60 * 60
	maxMaxExpirationSeconds           = 91 * 24 * 60 * 60
	kubernetesMaxMaxExpirationSeconds = 24 * 60 * 60
	maxStubPKCS10RequestSize          = 10240
	maxCertificateChainSize           = 100 * 1024
	maxUIDLength                      = 128
)

func podCertificateRequestResource() registry.Resource {
	return registry.Resource{
		GroupVersion: certificatesv1.SchemeGroupVersion,
		Resource:     "podcertificaterequests",
		SingularName: "podcertificaterequest",
		Kind:         "PodCertificateRequest",
		Namespaced:   true,
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &certificatesv1.PodCertificateRequest{} },
		NewList:      func() runtime.Object { return &certificatesv1.PodCertificateRequestList{} },
		Strategy: registry.Strategy{
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*certificatesv1.PodCertificateRequest).Status = certificatesv1.PodCertificateRequestStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*certificatesv1.PodCertificateRequest).Status = old.(*certificatesv1.PodCertificateRequest).Status
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validatePodCertificateRequest(obj.(*certificatesv1.PodCertificateRequest))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return apivalidation.ValidateImmutableField(obj.(*certificatesv1.PodCertificateRequest).Spec, old.(*certificatesv1.PodCertificateRequest).Spec, field.NewPath("spec"))
			},
			SkipValidateOnUpdate: true,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{
				ResetMetadata: true,
				Validate: func(obj, old runtime.Object) field.ErrorList {
					return validatePodCertificateRequestStatus(obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest))
				},
			})},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("PodName", "string", certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()["podName"], 0),
				registry.Column("ServiceAccountName", "string", certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()["serviceAccountName"], 0),
				registry.Column("NodeName", "string", certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()["nodeName"], 0),
				registry.Column("SignerName", "string", certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()["signerName"], 0),
				registry.Column("State", "string", "Is the request Pending, Issued, Denied, or Failed?", 0),
				registry.Column("UnverifiedUserAnnotations", "string", certificatesv1.PodCertificateRequestSpec{}.SwaggerDoc()["unverifiedUserAnnotations"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				r := obj.(*certificatesv1.PodCertificateRequest)
				return []interface{}{r.Spec.PodName, r.Spec.ServiceAccountName, string(r.Spec.NodeName), r.Spec.SignerName,
					pcrState(r), labels.FormatLabels(r.Spec.UnverifiedUserAnnotations)}
			},
			Fields: func(obj runtime.Object) fields.Set {
				r := obj.(*certificatesv1.PodCertificateRequest)
				return fields.Set{"spec.signerName": r.Spec.SignerName, "spec.podName": r.Spec.PodName, "spec.nodeName": string(r.Spec.NodeName)}
			},
		},
	}
}

var terminalConditions = []string{
	certificatesv1.PodCertificateRequestConditionTypeIssued,
	certificatesv1.PodCertificateRequestConditionTypeDenied,
	certificatesv1.PodCertificateRequestConditionTypeFailed,
}

// pcrState is kubectl's State cell: the terminal condition, or Pending.
func pcrState(r *certificatesv1.PodCertificateRequest) string {
	state := "Pending"
	for _, c := range r.Status.Conditions {
		for _, t := range terminalConditions {
			if c.Type == t {
				state = t
			}
		}
	}
	return state
}

func hasCondition(r *certificatesv1.PodCertificateRequest, t string) bool {
	for _, c := range r.Status.Conditions {
		if c.Type == t && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}

func validatePodCertificateRequest(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	spec, p := r.Spec, field.NewPath("spec")
	errs := validateSignerName(spec.SignerName, p.Child("signerName"))
	for k := range spec.UnverifiedUserAnnotations {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Child("unverifiedUserAnnotations"), k, msg))
		}
	}
	names := []struct {
		name, field string
		check       func(string, bool) []string
	}{
		{spec.PodName, "podName", apivalidation.NameIsDNSSubdomain},
		{spec.ServiceAccountName, "serviceAccountName", apivalidation.NameIsDNSSubdomain},
		{string(spec.NodeName), "nodeName", apivalidation.NameIsDNSSubdomain},
	}
	for _, n := range names {
		for _, msg := range n.check(n.name, false) {
			errs = append(errs, field.Invalid(p.Child(n.field), n.name, msg))
		}
	}
	for _, u := range []struct{ uid, field string }{
		{string(spec.PodUID), "podUID"}, {string(spec.ServiceAccountUID), "serviceAccountUID"}, {string(spec.NodeUID), "nodeUID"},
	} {
		switch {
		case u.uid == "":
			errs = append(errs, field.Invalid(p.Child(u.field), u.uid, "must not be empty"))
		case len(u.uid) > maxUIDLength:
			errs = append(errs, field.TooLong(p.Child(u.field), u.uid, maxUIDLength))
		}
	}
	if spec.MaxExpirationSeconds == nil {
		return append(errs, field.Required(p.Child("maxExpirationSeconds"), "must be set"))
	}
	max := int32(maxMaxExpirationSeconds)
	if isKubernetesSigner(spec.SignerName) {
		max = kubernetesMaxMaxExpirationSeconds
	}
	if s := *spec.MaxExpirationSeconds; s < minMaxExpirationSeconds || s > max {
		errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), s, fmt.Sprintf("must be in the range [%d, %d]", minMaxExpirationSeconds, max)))
	}
	if len(spec.StubPKCS10Request) == 0 {
		errs = append(errs, field.Required(p.Child("stubPKCS10Request"), ""))
	} else {
		errs = append(errs, validateStubPKCS10Request(spec.StubPKCS10Request, p.Child("stubPKCS10Request"))...)
	}
	return errs
}

// isKubernetesSigner reports a signer of kubernetes.io or one of its
// subdomains, whose certificates live at most a day.
func isKubernetesSigner(name string) bool {
	domain, _, _ := strings.Cut(name, "/")
	return domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io")
}

func validateStubPKCS10Request(der []byte, p *field.Path) field.ErrorList {
	if len(der) > maxStubPKCS10RequestSize {
		return field.ErrorList{field.TooLong(p, "", maxStubPKCS10RequestSize)}
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return field.ErrorList{field.Invalid(p, "<value omitted>", "must be a valid PKCS#10 CSR")}
	}
	switch pub := req.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if c := pub.Curve; c != elliptic.P256() && c != elliptic.P384() && c != elliptic.P521() {
			return field.ErrorList{field.Invalid(p, "curve "+c.Params().Name, "elliptic public keys must use curve P256, P384, or P521")}
		}
	case *rsa.PublicKey:
		if bits := pub.Size() * 8; bits != 3072 && bits != 4096 {
			return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d-bit modulus", bits), "RSA keys must have modulus size 3072 or 4096")}
		}
	default:
		return field.ErrorList{field.Invalid(p, "<value omitted>", "unknown public key type; supported types are Ed25519, ECDSA, and RSA")}
	}
	if err := req.CheckSignature(); err != nil {
		return field.ErrorList{field.Invalid(p, "<value omitted>", "invalid signature")}
	}
	return nil
}

// validatePodCertificateRequestStatus: at most one terminal condition,
// True; once terminal, status never changes; Denied and Failed carry
// nothing but conditions; Issued needs a chain whose leaf certifies the
// requested key, with notBefore, notAfter and beginRefreshAt consistent
// with it. Upstream also requires notBefore within five minutes of its
// clock; strategies here have no clock, so skiff does not.
func validatePodCertificateRequestStatus(r, old *certificatesv1.PodCertificateRequest) field.ErrorList {
	var errs field.ErrorList
	cp := field.NewPath("status", "conditions")
	terminal := 0
	for i, c := range r.Status.Conditions {
		known := false
		for _, t := range terminalConditions {
			known = known || c.Type == t
		}
		if !known {
			errs = append(errs, field.NotSupported(cp.Index(i).Child("type"), c.Type, terminalConditions))
			continue
		}
		terminal++
		if terminal > 1 {
			errs = append(errs, field.Invalid(cp.Index(i).Child("type"), c.Type, `There may be at most one condition with type "Issued", "Denied", or "Failed"`))
		}
		if c.Status != metav1.ConditionTrue {
			errs = append(errs, field.NotSupported(cp.Index(i).Child("status"), c.Status, []metav1.ConditionStatus{metav1.ConditionTrue}))
		}
	}
	errs = append(errs, metav1validation.ValidateConditions(r.Status.Conditions, cp)...)
	if len(errs) > 0 {
		return errs
	}
	sp := field.NewPath("status")
	for _, t := range terminalConditions {
		if hasCondition(old, t) {
			if !apiequality.Semantic.DeepEqual(r.Status, old.Status) {
				return field.ErrorList{field.Invalid(sp, "<value omitted>", "immutable after PodCertificateRequest is issued, denied, or failed")}
			}
			return nil
		}
	}
	if hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeDenied) || hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeFailed) {
		if !apiequality.Semantic.DeepEqual(r.Status, certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}) {
			return field.ErrorList{field.Invalid(sp, "<value omitted>", "non-condition status fields must be empty when denying or failing the PodCertificateRequest")}
		}
		return nil
	}
	if !hasCondition(r, certificatesv1.PodCertificateRequestConditionTypeIssued) {
		// Pending: nothing but conditions may be set yet.
		if !apiequality.Semantic.DeepEqual(r.Status, certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}) {
			errs = append(errs, field.Invalid(sp, "<value omitted>", "non-condition status fields must be empty before the PodCertificateRequest is issued"))
		}
		return errs
	}
	return validateIssued(r)
}

func validateIssued(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	st := r.Status
	chainPath := field.NewPath("status", "certificateChain")
	if len(st.CertificateChain) > maxCertificateChainSize {
		return field.ErrorList{field.TooLong(chainPath, "", maxCertificateChainSize)}
	}
	var certs []*x509.Certificate
	rest := []byte(st.CertificateChain)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return field.ErrorList{field.Invalid(chainPath, st.CertificateChain, "issued certificate chain must consist entirely of CERTIFICATE PEM blocks")}
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			msg := "intermediate certificate does not parse as valid X.509"
			if len(certs) == 0 {
				msg = "leaf certificate does not parse as valid X.509"
			}
			return field.ErrorList{field.Invalid(chainPath, st.CertificateChain, msg)}
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return field.ErrorList{field.Invalid(chainPath, st.CertificateChain, "issued certificate chain must contain at least one certificate")}
	}
	leaf := certs[0]
	var errs field.ErrorList
	if req, err := x509.ParseCertificateRequest(r.Spec.StubPKCS10Request); err == nil && !publicKeysEqual(leaf.PublicKey, req.PublicKey) {
		errs = append(errs, field.Invalid(chainPath, st.CertificateChain, "leaf certificate was not issued to the requested public key"))
	}
	nb, na, br := field.NewPath("status", "notBefore"), field.NewPath("status", "notAfter"), field.NewPath("status", "beginRefreshAt")
	if st.NotBefore == nil {
		errs = append(errs, field.Required(nb, "must be present and consistent with the issued certificate"))
	}
	if st.NotAfter == nil {
		errs = append(errs, field.Required(na, "must be present and consistent with the issued certificate"))
	}
	if st.BeginRefreshAt == nil {
		errs = append(errs, field.Required(br, "must be present and in the range [notbefore+10min, notafter-10min]"))
	}
	if len(errs) > 0 {
		return errs
	}
	if !st.NotBefore.Time.Equal(leaf.NotBefore) {
		errs = append(errs, field.Invalid(nb, st.NotBefore.Time, "must be set to the NotBefore time encoded in the leaf certificate"))
	}
	if !st.NotAfter.Time.Equal(leaf.NotAfter) {
		errs = append(errs, field.Invalid(na, st.NotAfter.Time, "must be set to the NotAfter time encoded in the leaf certificate"))
	}
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	if lifetime < time.Hour {
		errs = append(errs, field.Invalid(chainPath, lifetime, "leaf certificate lifetime must be >= 1 hour"))
	}
	if m := r.Spec.MaxExpirationSeconds; m != nil && lifetime > time.Duration(*m)*time.Second {
		errs = append(errs, field.Invalid(chainPath, lifetime, fmt.Sprintf("leaf certificate lifetime must be <= spec.maxExpirationSeconds (%v)", *m)))
	}
	if st.BeginRefreshAt.Time.Before(st.NotBefore.Time.Add(10 * time.Minute)) {
		errs = append(errs, field.Invalid(br, st.BeginRefreshAt.Time, "must be at least 10 minutes after status.notBefore"))
	}
	if st.BeginRefreshAt.Time.After(st.NotAfter.Time.Add(-10 * time.Minute)) {
		errs = append(errs, field.Invalid(br, st.BeginRefreshAt.Time, "must be at least 10 minutes before status.notAfter"))
	}
	return errs
}

// publicKeysEqual compares two public keys (every key type of crypto/*
// has an Equal method).
func publicKeysEqual(a, b any) bool {
	k, ok := a.(interface{ Equal(x crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
