package podsecurity

import (
	"fmt"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// ConfigGroup is the API group of PodSecurityConfiguration.
const ConfigGroup = "pod-security.admission.config.k8s.io"

// Configuration is upstream's PodSecurityConfiguration: the policy of
// namespaces without labels, and what is exempt from any policy.
type Configuration struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Defaults   Defaults   `json:"defaults"`
	Exemptions Exemptions `json:"exemptions"`
}

// Defaults are the levels and versions of namespaces that set no label;
// empty means privileged and latest.
type Defaults struct {
	Enforce        string `json:"enforce,omitempty"`
	EnforceVersion string `json:"enforce-version,omitempty"`
	Audit          string `json:"audit,omitempty"`
	AuditVersion   string `json:"audit-version,omitempty"`
	Warn           string `json:"warn,omitempty"`
	WarnVersion    string `json:"warn-version,omitempty"`
}

// Exemptions are requests no policy applies to: by the requesting user,
// the pod's RuntimeClass, or the namespace.
type Exemptions struct {
	Usernames      []string `json:"usernames,omitempty"`
	Namespaces     []string `json:"namespaces,omitempty"`
	RuntimeClasses []string `json:"runtimeClasses,omitempty"`
}

// DecodeConfiguration reads a PodSecurityConfiguration (JSON or YAML, of
// pod-security.admission.config.k8s.io v1, v1beta1 or v1alpha1), refusing
// unknown fields as upstream's strict decoder does, then defaults and
// validates it.
func DecodeConfiguration(data []byte) (*Configuration, error) {
	c := &Configuration{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("decode PodSecurityConfiguration: %w", err)
	}
	switch c.APIVersion {
	case ConfigGroup + "/v1", ConfigGroup + "/v1beta1", ConfigGroup + "/v1alpha1":
	default:
		return nil, fmt.Errorf("decode PodSecurityConfiguration: unknown apiVersion %q", c.APIVersion)
	}
	if c.Kind != "PodSecurityConfiguration" {
		return nil, fmt.Errorf("decode PodSecurityConfiguration: unexpected kind %q", c.Kind)
	}
	c.setDefaults()
	if errs := c.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid PodSecurityConfiguration: %w", errs.ToAggregate())
	}
	return c, nil
}

func (c *Configuration) setDefaults() {
	for _, s := range []*string{&c.Defaults.Enforce, &c.Defaults.Audit, &c.Defaults.Warn} {
		if *s == "" {
			*s = string(Privileged)
		}
	}
	for _, s := range []*string{&c.Defaults.EnforceVersion, &c.Defaults.AuditVersion, &c.Defaults.WarnVersion} {
		if *s == "" {
			*s = "latest"
		}
	}
}

func (c *Configuration) validate() field.ErrorList {
	var errs field.ErrorList
	d := field.NewPath("defaults")
	for _, l := range []struct{ name, v string }{{"enforce", c.Defaults.Enforce}, {"warn", c.Defaults.Warn}, {"audit", c.Defaults.Audit}} {
		if _, err := ParseLevel(l.v); err != nil {
			errs = append(errs, field.Invalid(d.Child(l.name), l.v, err.Error()))
		}
	}
	for _, l := range []struct{ name, v string }{{"enforce-version", c.Defaults.EnforceVersion}, {"warn-version", c.Defaults.WarnVersion}, {"audit-version", c.Defaults.AuditVersion}} {
		if _, err := ParseVersion(l.v); err != nil {
			errs = append(errs, field.Invalid(d.Child(l.name), l.v, err.Error()))
		}
	}
	e := field.NewPath("exemptions")
	list := func(p *field.Path, items []string, check func(string) []string) {
		seen := sets.New[string]()
		for i, s := range items {
			if msgs := check(s); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Index(i), s, strings.Join(msgs, ", ")))
				continue
			}
			if seen.Has(s) {
				errs = append(errs, field.Duplicate(p.Index(i), s))
				continue
			}
			seen.Insert(s)
		}
	}
	list(e.Child("namespaces"), c.Exemptions.Namespaces, func(s string) []string { return apimachineryvalidation.ValidateNamespaceName(s, false) })
	list(e.Child("runtimeClasses"), c.Exemptions.RuntimeClasses, func(s string) []string { return apimachineryvalidation.NameIsDNSSubdomain(s, false) })
	list(e.Child("usernames"), c.Exemptions.Usernames, func(s string) []string {
		if s == "" {
			return []string{"username must not be empty"}
		}
		return nil
	})
	return errs
}

// DefaultPolicy is the policy of namespaces without labels. A nil
// configuration, as with no configuration file, is privileged everywhere.
func (c *Configuration) DefaultPolicy() Policy {
	p := Policy{
		Enforce: LevelVersion{Privileged, Latest},
		Audit:   LevelVersion{Privileged, Latest},
		Warn:    LevelVersion{Privileged, Latest},
	}
	if c == nil {
		return p
	}
	// Validated by DecodeConfiguration; a level or version left empty by
	// a hand-built configuration keeps privileged and latest.
	set := func(lv *LevelVersion, level, version string) {
		if l, err := ParseLevel(level); err == nil {
			lv.Level = l
		}
		if v, err := ParseVersion(version); err == nil {
			lv.Version = v
		}
	}
	set(&p.Enforce, c.Defaults.Enforce, c.Defaults.EnforceVersion)
	set(&p.Audit, c.Defaults.Audit, c.Defaults.AuditVersion)
	set(&p.Warn, c.Defaults.Warn, c.Defaults.WarnVersion)
	return p
}
