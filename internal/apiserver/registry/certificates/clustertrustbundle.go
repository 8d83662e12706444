package certificates

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// maxTrustBundleSize bounds spec.trustBundle, as upstream does.
const maxTrustBundleSize = 1 << 20

func clusterTrustBundleResource() registry.Resource {
	return registry.Resource{
		GroupVersion: certificatesv1.SchemeGroupVersion,
		Resource:     "clustertrustbundles",
		SingularName: "clustertrustbundle",
		Kind:         "ClusterTrustBundle",
		New:          func() runtime.Object { return &certificatesv1.ClusterTrustBundle{} },
		NewList:      func() runtime.Object { return &certificatesv1.ClusterTrustBundleList{} },
		Strategy: registry.Strategy{
			// The name depends on spec.signerName: Validate checks it.
			NameValidation: func(string, bool) []string { return nil },
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateClusterTrustBundle(obj.(*certificatesv1.ClusterTrustBundle), true)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				b, o := obj.(*certificatesv1.ClusterTrustBundle), old.(*certificatesv1.ClusterTrustBundle)
				// An unchanged bundle is not parsed again, so that changes
				// in Go's PEM or X.509 parsing cannot strand a stored one.
				errs := validateClusterTrustBundle(b, b.Spec.TrustBundle != o.Spec.TrustBundle)
				return append(errs, apivalidation.ValidateImmutableField(b.Spec.SignerName, o.Spec.SignerName, field.NewPath("spec", "signerName"))...)
			},
			SkipValidateOnUpdate: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("SignerName", "string", certificatesv1.ClusterTrustBundleSpec{}.SwaggerDoc()["signerName"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				signer := obj.(*certificatesv1.ClusterTrustBundle).Spec.SignerName
				if signer == "" {
					signer = "<none>"
				}
				return []interface{}{signer}
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"spec.signerName": obj.(*certificatesv1.ClusterTrustBundle).Spec.SignerName}
			},
		},
	}
}

func validateClusterTrustBundle(b *certificatesv1.ClusterTrustBundle, parseBundle bool) field.ErrorList {
	var errs field.ErrorList
	namePath := field.NewPath("metadata", "name")
	for _, msg := range clusterTrustBundleName(b.Spec.SignerName, b.Name) {
		errs = append(errs, field.Invalid(namePath, b.Name, msg))
	}
	if b.Spec.SignerName != "" {
		errs = append(errs, validateSignerName(b.Spec.SignerName, field.NewPath("spec", "signerName"))...)
	}
	if parseBundle {
		errs = append(errs, validateTrustBundle(b.Spec.TrustBundle, field.NewPath("spec", "trustBundle"))...)
	}
	return errs
}

// clusterTrustBundleName: a bundle of a signer is named after it
// ("example.com/signer" -> "example.com:signer:<name>"); one without may
// not use ':'.
func clusterTrustBundleName(signer, name string) []string {
	if signer == "" {
		if strings.Contains(name, ":") {
			return []string{`ClusterTrustBundle without signer name must not have ":" in its name`}
		}
		return apivalidation.NameIsDNSSubdomain(name, false)
	}
	prefix := strings.ReplaceAll(signer, "/", ":") + ":"
	if !strings.HasPrefix(name, prefix) {
		return []string{fmt.Sprintf("ClusterTrustBundle for signerName %s must be named with prefix %s", signer, prefix)}
	}
	return apivalidation.NameIsDNSSubdomain(strings.TrimPrefix(name, prefix), false)
}

// validateTrustBundle requires one or more distinct CA certificates, as PEM
// CERTIFICATE blocks without headers.
func validateTrustBundle(in string, p *field.Path) field.ErrorList {
	if len(in) > maxTrustBundleSize {
		return field.ErrorList{field.TooLong(p, "", maxTrustBundleSize)}
	}
	var errs field.ErrorList
	seen := map[string][]int{}
	var order []string
	rest := []byte(in)
	for i := 0; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		bad := func(msg string) {
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("entry %d %s", i, msg)))
		}
		if b.Type != "CERTIFICATE" {
			bad("has bad block type: " + b.Type)
			continue
		}
		if len(b.Headers) != 0 {
			bad("has PEM block headers")
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		switch {
		case err != nil:
			bad("does not parse as X.509")
			continue
		case !cert.IsCA:
			bad("does not have the CA bit set")
			continue
		case !cert.BasicConstraintsValid:
			bad("has invalid basic constraints")
			continue
		}
		if _, ok := seen[string(b.Bytes)]; !ok {
			order = append(order, string(b.Bytes))
		}
		seen[string(b.Bytes)] = append(seen[string(b.Bytes)], i)
	}
	if len(errs) != 0 {
		return errs
	}
	if len(seen) == 0 {
		return field.ErrorList{field.Invalid(p, "<value omitted>", "at least one trust anchor must be provided")}
	}
	for _, k := range order {
		if idx := seen[k]; len(idx) > 1 {
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("duplicate trust anchor (indices %v)", idx)))
		}
	}
	return errs
}
