package core

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// validateVolumes checks pod volumes: names unique DNS labels, exactly one
// source each, and each source's required fields. It returns the volumes by
// name for the volumeMounts check.
func validateVolumes(vols []corev1.Volume, fldPath *field.Path) (map[string]*corev1.Volume, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]*corev1.Volume{}
	for i := range vols {
		v := &vols[i]
		p := fldPath.Index(i)
		namePath := p.Child("name")
		if v.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
		} else {
			errs = append(errs, registry.ValidateDNSLabel(v.Name, namePath)...)
			if _, dup := byName[v.Name]; dup {
				errs = append(errs, field.Duplicate(namePath, v.Name))
			}
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, p)...)
		if v.Name != "" {
			if _, dup := byName[v.Name]; !dup {
				byName[v.Name] = v
			}
		}
	}
	return byName, errs
}

func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	set := setFields(s)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a volume type")}
	}
	if len(set) > 1 {
		var errs field.ErrorList
		for _, name := range set[1:] {
			errs = append(errs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
		}
		return errs
	}
	var errs field.ErrorList
	switch {
	case s.HostPath != nil:
		p := fldPath.Child("hostPath")
		if s.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		if t := s.HostPath.Type; t != nil {
			switch *t {
			case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
				corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
			default:
				errs = append(errs, field.NotSupported(p.Child("type"), *t, []string{"", "BlockDevice", "CharDevice",
					"Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"}))
			}
		}
	case s.EmptyDir != nil:
		if s.EmptyDir.SizeLimit != nil {
			errs = append(errs, validateNonnegativeQuantity(*s.EmptyDir.SizeLimit, fldPath.Child("emptyDir", "sizeLimit"))...)
		}
		switch s.EmptyDir.Medium {
		case corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages:
		default:
			if len(s.EmptyDir.Medium) < len("HugePages-") || s.EmptyDir.Medium[:len("HugePages-")] != "HugePages-" {
				errs = append(errs, field.NotSupported(fldPath.Child("emptyDir", "medium"), s.EmptyDir.Medium, []string{"", "Memory", "HugePages"}))
			}
		}
	case s.Secret != nil:
		p := fldPath.Child("secret")
		if s.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, validateMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(s.Secret.Items, p.Child("items"))...)
	case s.ConfigMap != nil:
		p := fldPath.Child("configMap")
		if s.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			errs = append(errs, registry.ValidateDNSSubdomain(s.ConfigMap.Name, p.Child("name"))...)
		}
		errs = append(errs, validateMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, p.Child("items"))...)
	case s.PersistentVolumeClaim != nil:
		if s.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(fldPath.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case s.NFS != nil:
		p := fldPath.Child("nfs")
		if s.NFS.Server == "" {
			errs = append(errs, field.Required(p.Child("server"), ""))
		}
		if s.NFS.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else if s.NFS.Path[0] != '/' {
			errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
		}
	case s.DownwardAPI != nil:
		p := fldPath.Child("downwardAPI")
		errs = append(errs, validateMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIItems(s.DownwardAPI.Items, p.Child("items"))...)
	case s.Projected != nil:
		errs = append(errs, validateProjected(s.Projected, fldPath.Child("projected"))...)
	case s.Ephemeral != nil:
		p := fldPath.Child("ephemeral")
		if s.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p.Child("volumeClaimTemplate"), ""))
		} else {
			errs = append(errs, validatePVCSpec(&s.Ephemeral.VolumeClaimTemplate.Spec, p.Child("volumeClaimTemplate", "spec"))...)
		}
	case s.CSI != nil:
		if s.CSI.Driver == "" {
			errs = append(errs, field.Required(fldPath.Child("csi", "driver"), ""))
		}
	case s.Image != nil:
		p := fldPath.Child("image")
		if s.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("reference"), ""))
		}
		switch s.Image.PullPolicy {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		case "":
			errs = append(errs, field.Required(p.Child("pullPolicy"), ""))
		default:
			errs = append(errs, field.NotSupported(p.Child("pullPolicy"), s.Image.PullPolicy, []string{"Always", "IfNotPresent", "Never"}))
		}
	}
	return errs
}

// validateMode checks a file mode is within 0-0777.
func validateMode(m *int32, fldPath *field.Path) field.ErrorList {
	if m != nil && (*m < 0 || *m > 0o777) {
		return field.ErrorList{field.Invalid(fldPath, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(it.Path, p.Child("path"))...)
		}
		errs = append(errs, validateMode(it.Mode, p.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIItems(items []corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		p := fldPath.Index(i)
		if it.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(it.Path, p.Child("path"))...)
		}
		errs = append(errs, validateMode(it.Mode, p.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef == nil && it.ResourceFieldRef == nil:
			errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateProjected(pr *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateMode(pr.DefaultMode, fldPath.Child("defaultMode"))
	for i := range pr.Sources {
		src := &pr.Sources[i]
		p := fldPath.Child("sources").Index(i)
		set := setFields(src)
		if len(set) > 1 {
			errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type per source"))
			continue
		}
		switch {
		case src.Secret != nil:
			if src.Secret.Name == "" {
				errs = append(errs, field.Required(p.Child("secret", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(src.Secret.Items, p.Child("secret", "items"))...)
		case src.ConfigMap != nil:
			if src.ConfigMap.Name == "" {
				errs = append(errs, field.Required(p.Child("configMap", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("configMap", "items"))...)
		case src.DownwardAPI != nil:
			errs = append(errs, validateDownwardAPIItems(src.DownwardAPI.Items, p.Child("downwardAPI", "items"))...)
		case src.ServiceAccountToken != nil:
			tp := p.Child("serviceAccountToken")
			if src.ServiceAccountToken.ExpirationSeconds != nil && *src.ServiceAccountToken.ExpirationSeconds < 600 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *src.ServiceAccountToken.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if src.ServiceAccountToken.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			}
		case src.ClusterTrustBundle != nil:
			errs = append(errs, validateClusterTrustBundleProjection(src.ClusterTrustBundle, p.Child("clusterTrustBundle"))...)
		case src.PodCertificate != nil:
			errs = append(errs, validatePodCertificateProjection(src.PodCertificate, p.Child("podCertificate"))...)
		}
	}
	return errs
}

func validateClusterTrustBundleProjection(c *corev1.ClusterTrustBundleProjection, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.Name != nil && c.SignerName != nil:
		errs = append(errs, field.Invalid(p, c, "only one of name and signerName may be used"))
	case c.Name != nil:
		if *c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "must be a valid object name"))
		}
		if c.LabelSelector != nil {
			errs = append(errs, field.Invalid(p.Child("labelSelector"), c.LabelSelector, "labelSelector must be unset if name is specified"))
		}
	case c.SignerName != nil:
		errs = append(errs, validateSignerName(*c.SignerName, p.Child("signerName"))...)
		errs = append(errs, metav1validation.ValidateLabelSelector(c.LabelSelector, metav1validation.LabelSelectorValidationOptions{}, p.Child("labelSelector"))...)
	default:
		errs = append(errs, field.Required(p, "either name or signerName must be specified"))
	}
	if c.Path == "" {
		return append(errs, field.Required(p.Child("path"), ""))
	}
	return append(errs, validateLocalNonReservedPath(c.Path, p.Child("path"))...)
}

// Upstream's bounds on the lifetime a pod certificate may ask for.
const (
	minPodCertificateSeconds           = 3600
	maxPodCertificateSeconds           = 91 * 24 * 3600
	maxKubernetesPodCertificateSeconds = 24 * 3600
)

var podCertificateKeyTypes = []string{"RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519"}

func validatePodCertificateProjection(c *corev1.PodCertificateProjection, p *field.Path) field.ErrorList {
	errs := validateSignerName(c.SignerName, p.Child("signerName"))
	if !slices.Contains(podCertificateKeyTypes, c.KeyType) {
		errs = append(errs, field.NotSupported(p.Child("keyType"), c.KeyType, podCertificateKeyTypes))
	}
	if s := c.MaxExpirationSeconds; s != nil {
		if *s < minPodCertificateSeconds {
			errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), *s, fmt.Sprintf("if provided, maxExpirationSeconds must be >= %d", minPodCertificateSeconds)))
		}
		max := maxPodCertificateSeconds
		if domain, _, _ := strings.Cut(c.SignerName, "/"); domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
			max = maxKubernetesPodCertificateSeconds
		}
		if *s > int32(max) {
			errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), *s, fmt.Sprintf("if provided, maxExpirationSeconds must be <= %d", max)))
		}
	}
	paths := 0
	for _, f := range []struct{ path, name string }{
		{c.CredentialBundlePath, "credentialBundlePath"}, {c.KeyPath, "keyPath"}, {c.CertificateChainPath, "certificateChainPath"},
	} {
		if f.path != "" {
			paths++
			errs = append(errs, validateLocalNonReservedPath(f.path, p.Child(f.name))...)
		}
	}
	if paths == 0 {
		errs = append(errs, field.Required(p, "specify at least one of credentialBundlePath, keyPath, and certificateChainPath"))
	}
	return errs
}

// validateSignerName: a signer is a domain and a path, "example.com/name".
func validateSignerName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || path == "" {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(domain) {
		errs = append(errs, field.Invalid(p, name, "validating domain component: "+msg))
	}
	return errs
}
