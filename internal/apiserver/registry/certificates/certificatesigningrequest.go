package certificates

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// minExpirationSeconds is the shortest certificate lifetime one may ask for.
const minExpirationSeconds = 600

// Resources returns the certificates.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{csrResource(), clusterTrustBundleResource(), podCertificateRequestResource()}
}

func csrResource() registry.Resource {
	return registry.Resource{
		GroupVersion: certificatesv1.SchemeGroupVersion,
		Resource:     "certificatesigningrequests",
		SingularName: "certificatesigningrequest",
		Kind:         "CertificateSigningRequest",
		ShortNames:   []string{"csr"},
		Subresources: []string{"status", "approval"},
		New:          func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList:      func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		Strategy: registry.Strategy{
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*certificatesv1.CertificateSigningRequest).Status = certificatesv1.CertificateSigningRequestStatus{}
			},
			PrepareForCreateByUser: setRequester,
			PrepareForUpdate: func(obj, old runtime.Object) {
				csr, o := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
				csr.Spec = o.Spec
				csr.Status = o.Status
			},
			Validate: validateCSR,
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Prepare: func(obj, old runtime.Object) {
						csr, o := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
						csr.Spec = o.Spec
						csr.Status.Conditions = mergeConditions(o.Status.Conditions, csr.Status.Conditions, false)
					},
					Validate: validateStatusUpdate,
				}),
				"approval": {
					// /approval writes the conditions as sent, as upstream
					// does (validation keeps Approved, Denied and Failed
					// from going away); nothing else of the status.
					Prepare: func(obj, old runtime.Object) {
						csr, o := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
						conditions := csr.Status.Conditions
						csr.Spec = o.Spec
						csr.Status = o.Status
						csr.Status.Conditions = conditions
					},
					Validate: validateStatusUpdate,
				},
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("SignerName", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"], 0),
				registry.Column("Requestor", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["request"], 0),
				registry.Column("RequestedDuration", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"], 0),
				registry.Column("Condition", "string", certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"], 0),
			},
			TableRow: csrRow,
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"spec.signerName": obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
			},
		},
	}
}

func setRequester(obj runtime.Object, user registry.UserInfo) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Spec.Username = user.Name
	csr.Spec.UID = user.UID
	csr.Spec.Groups = append([]string(nil), user.Groups...)
	csr.Spec.Extra = nil
	if len(user.Extra) > 0 {
		csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
		for k, v := range user.Extra {
			csr.Spec.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
		}
	}
}

func isApproval(t certificatesv1.RequestConditionType) bool {
	return t == certificatesv1.CertificateApproved || t == certificatesv1.CertificateDenied
}

// mergeConditions takes the approval conditions (Approved, Denied) from one
// side and every other condition from the other: /status keeps the
// stored approval conditions.
func mergeConditions(old, upd []certificatesv1.CertificateSigningRequestCondition, approval bool) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range old {
		if isApproval(c.Type) != approval {
			out = append(out, c)
		}
	}
	for _, c := range upd {
		if isApproval(c.Type) == approval {
			out = append(out, c)
		}
	}
	return out
}

var supportedUsages = []certificatesv1.KeyUsage{
	certificatesv1.UsageSigning, certificatesv1.UsageDigitalSignature, certificatesv1.UsageContentCommitment,
	certificatesv1.UsageKeyEncipherment, certificatesv1.UsageKeyAgreement, certificatesv1.UsageDataEncipherment,
	certificatesv1.UsageCertSign, certificatesv1.UsageCRLSign, certificatesv1.UsageEncipherOnly,
	certificatesv1.UsageDecipherOnly, certificatesv1.UsageAny, certificatesv1.UsageServerAuth,
	certificatesv1.UsageClientAuth, certificatesv1.UsageCodeSigning, certificatesv1.UsageEmailProtection,
	certificatesv1.UsageSMIME, certificatesv1.UsageIPsecEndSystem, certificatesv1.UsageIPsecTunnel,
	certificatesv1.UsageIPsecUser, certificatesv1.UsageTimestamping, certificatesv1.UsageOCSPSigning,
	certificatesv1.UsageMicrosoftSGC, certificatesv1.UsageNetscapeSGC,
}

func validateCSR(obj runtime.Object) field.ErrorList {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	p := field.NewPath("spec")
	var errs field.ErrorList
	if err := parseCSR(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(p.Child("request"), string(csr.Spec.Request), err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(p.Child("usages"), ""))
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range csr.Spec.Usages {
		ok := false
		for _, s := range supportedUsages {
			ok = ok || u == s
		}
		if !ok {
			errs = append(errs, field.NotSupported(p.Child("usages").Index(i), u, supportedUsages))
		}
		if seen[u] {
			errs = append(errs, field.Duplicate(p.Child("usages").Index(i), u))
		}
		seen[u] = true
	}
	errs = append(errs, validateSignerName(csr.Spec.SignerName, p.Child("signerName"))...)
	if csr.Spec.ExpirationSeconds != nil && *csr.Spec.ExpirationSeconds < minExpirationSeconds {
		errs = append(errs, field.Invalid(p.Child("expirationSeconds"), *csr.Spec.ExpirationSeconds, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	return errs
}

func parseCSR(pemBytes []byte) error {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return fmt.Errorf("PEM block type must be CERTIFICATE REQUEST")
	}
	if _, err := x509.ParseCertificateRequest(block.Bytes); err != nil {
		return err
	}
	return nil
}

// validateSignerName requires "<domain>/<path>", the domain a DNS subdomain.
func validateSignerName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || path == "" {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(domain) {
		errs = append(errs, field.Invalid(fldPath, name, "validating domain component: "+msg))
	}
	if len(name) > 571 {
		errs = append(errs, field.TooLong(fldPath, "", 571))
	}
	return errs
}

func validateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	csr, o := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	p := field.NewPath("status", "conditions")
	var errs field.ErrorList
	have := map[certificatesv1.RequestConditionType]bool{}
	for i, c := range csr.Status.Conditions {
		cp := p.Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		if have[c.Type] && (isApproval(c.Type) || c.Type == certificatesv1.CertificateFailed) {
			errs = append(errs, field.Duplicate(cp.Child("type"), c.Type))
		}
		have[c.Type] = true
		switch c.Status {
		case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
		case "":
			errs = append(errs, field.Required(cp.Child("status"), ""))
		default:
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown}))
		}
		if isApproval(c.Type) && c.Status != corev1.ConditionTrue {
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []corev1.ConditionStatus{corev1.ConditionTrue}))
		}
	}
	if have[certificatesv1.CertificateApproved] && have[certificatesv1.CertificateDenied] {
		errs = append(errs, field.Invalid(p, csr.Status.Conditions, "Approved and Denied conditions are mutually exclusive"))
	}
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		for _, c := range o.Status.Conditions {
			if c.Type == t && !have[t] {
				errs = append(errs, field.Forbidden(p, fmt.Sprintf("updates may not remove a condition of type %q", t)))
			}
		}
	}
	if len(csr.Status.Certificate) > 0 {
		if block, _ := pem.Decode(csr.Status.Certificate); block == nil || block.Type != "CERTIFICATE" {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", "must contain at least one CERTIFICATE PEM block"))
		}
		if len(o.Status.Certificate) > 0 && string(o.Status.Certificate) != string(csr.Status.Certificate) {
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not modify existing certificate content"))
		}
		if !have[certificatesv1.CertificateApproved] {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", "certificate may only be set if the Approved condition is true"))
		}
	}
	return errs
}

func csrRow(obj runtime.Object) []interface{} {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	signer := "<none>"
	if csr.Spec.SignerName != "" {
		signer = csr.Spec.SignerName
	}
	requested := "<none>"
	if csr.Spec.ExpirationSeconds != nil {
		requested = duration.HumanDuration(time.Duration(*csr.Spec.ExpirationSeconds) * time.Second)
	}
	return []interface{}{registry.Age(obj), signer, csr.Spec.Username, requested, csrCondition(csr)}
}

// csrCondition is kubectl's CONDITION cell: Denied, Approved or Pending,
// then ",Failed" and ",Issued" as they apply.
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	status := "Pending"
	switch {
	case denied:
		status = "Denied"
	case approved:
		status = "Approved"
	}
	if failed {
		status += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		status += ",Issued"
	}
	return status
}
