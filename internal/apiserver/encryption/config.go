package encryption

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// The wire format of upstream's EncryptionConfiguration, field names as
// upstream's (apiserver.config.k8s.io/v1).

// File is an EncryptionConfiguration document.
type File struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Resources lists resource groups and the providers that protect them,
	// first match wins.
	Resources []ResourceConfiguration `json:"resources"`
}

// ResourceConfiguration names resources ("secrets", "deployments.apps",
// "*.apps", "*.*") and their providers in order.
type ResourceConfiguration struct {
	Resources []string                `json:"resources"`
	Providers []ProviderConfiguration `json:"providers"`
}

// ProviderConfiguration holds exactly one provider.
type ProviderConfiguration struct {
	AESGCM    *AESConfiguration       `json:"aesgcm,omitempty"`
	AESCBC    *AESConfiguration       `json:"aescbc,omitempty"`
	Secretbox *SecretboxConfiguration `json:"secretbox,omitempty"`
	Identity  *IdentityConfiguration  `json:"identity,omitempty"`
	KMS       *KMSConfiguration       `json:"kms,omitempty"`
}

// AESConfiguration is the key list of aesgcm and aescbc.
type AESConfiguration struct {
	Keys []Key `json:"keys"`
}

// SecretboxConfiguration is the key list of secretbox.
type SecretboxConfiguration struct {
	Keys []Key `json:"keys"`
}

// Key is a named base64 key.
type Key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// IdentityConfiguration has no fields: identity writes values as they are.
type IdentityConfiguration struct{}

// KMSConfiguration is parsed only to refuse it with a clear error.
type KMSConfiguration struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Name       string `json:"name"`
}

const (
	apiVersion = "apiserver.config.k8s.io/v1"
	kind       = "EncryptionConfiguration"
)

// ErrInvalid wraps every validation error of a configuration.
var ErrInvalid = errors.New("invalid encryption configuration")

// Load reads and validates an EncryptionConfiguration file (YAML or JSON).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read encryption configuration: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse validates an EncryptionConfiguration document and builds its
// transformers.
func Parse(data []byte) (*Config, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if f.APIVersion != apiVersion || f.Kind != kind {
		return nil, fmt.Errorf("%w: apiVersion/kind must be %s/%s, got %q/%q", ErrInvalid, apiVersion, kind, f.APIVersion, f.Kind)
	}
	if len(f.Resources) == 0 {
		return nil, fmt.Errorf("%w: resources: at least one entry is required", ErrInvalid)
	}
	cfg := &Config{}
	seen := map[string]bool{}
	for i, rc := range f.Resources {
		field := fmt.Sprintf("resources[%d]", i)
		if len(rc.Resources) == 0 {
			return nil, fmt.Errorf("%w: %s.resources: at least one resource is required", ErrInvalid, field)
		}
		if len(rc.Providers) == 0 {
			return nil, fmt.Errorf("%w: %s.providers: at least one provider is required", ErrInvalid, field)
		}
		t, err := newTransformer(field, rc.Providers)
		if err != nil {
			return nil, err
		}
		for j, r := range rc.Resources {
			prefix, err := keyPrefix(r)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.resources[%d]: %v", ErrInvalid, field, j, err)
			}
			if seen[r] {
				return nil, fmt.Errorf("%w: %s.resources[%d]: %q is named twice", ErrInvalid, field, j, r)
			}
			seen[r] = true
			cfg.rules = append(cfg.rules, rule{resource: r, prefix: prefix, t: t})
		}
	}
	return cfg, nil
}

// keyPrefix maps a resource name to the key prefix of its objects in the
// store: "secrets" → "/registry/secrets/", "deployments.apps" →
// "/registry/apps/deployments/", "*.apps" → "/registry/apps/", "*.*" →
// "/registry/".
func keyPrefix(resource string) (string, error) {
	if resource == "" || resource != strings.ToLower(resource) || strings.ContainsAny(resource, "/ ") {
		return "", fmt.Errorf("%q is not a lower-case resource name", resource)
	}
	name, group, _ := strings.Cut(resource, ".")
	switch {
	case resource == "*.*":
		return "/registry/", nil
	case name == "*" && group == "":
		return "", errors.New(`"*." (every core resource) is not supported; name the resources`)
	case name == "*":
		return "/registry/" + group + "/", nil
	case strings.Contains(resource, "*"):
		return "", fmt.Errorf("%q: a wildcard must be the whole resource name", resource)
	case group == "":
		return "/registry/" + name + "/", nil
	}
	return "/registry/" + group + "/" + name + "/", nil
}

// newTransformer builds the providers of one resources entry.
func newTransformer(field string, providers []ProviderConfiguration) (*transformer, error) {
	t := &transformer{}
	names := map[string]bool{}
	for i, p := range providers {
		pf := fmt.Sprintf("%s.providers[%d]", field, i)
		n := 0
		for _, set := range []bool{p.AESGCM != nil, p.AESCBC != nil, p.Secretbox != nil, p.Identity != nil, p.KMS != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("%w: %s: exactly one provider must be set, found %d", ErrInvalid, pf, n)
		}
		var (
			kind string
			keys []Key
		)
		switch {
		case p.KMS != nil:
			return nil, fmt.Errorf("%w: %s: the kms provider is not supported by skiff (use aescbc, aesgcm or secretbox)", ErrInvalid, pf)
		case p.Identity != nil:
			t.providers = append(t.providers, provider{kind: "identity"})
			continue
		case p.AESGCM != nil:
			kind, keys = "aesgcm", p.AESGCM.Keys
		case p.AESCBC != nil:
			kind, keys = "aescbc", p.AESCBC.Keys
		case p.Secretbox != nil:
			kind, keys = "secretbox", p.Secretbox.Keys
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%w: %s.%s.keys: at least one key is required", ErrInvalid, pf, kind)
		}
		for j, k := range keys {
			kf := fmt.Sprintf("%s.%s.keys[%d]", pf, kind, j)
			if k.Name == "" || strings.Contains(k.Name, ":") {
				return nil, fmt.Errorf("%w: %s.name: a non-empty name without ':' is required", ErrInvalid, kf)
			}
			if names[kind+":"+k.Name] {
				return nil, fmt.Errorf("%w: %s.name: %q is used twice by %s", ErrInvalid, kf, k.Name, kind)
			}
			names[kind+":"+k.Name] = true
			secret, err := base64.StdEncoding.DecodeString(k.Secret)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.secret: not valid base64: %v", ErrInvalid, kf, err)
			}
			c, err := newCipher(kind, secret)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.secret: %v", ErrInvalid, kf, err)
			}
			t.providers = append(t.providers, provider{kind: kind, key: k.Name, cipher: c,
				prefix: []byte("k8s:enc:" + kind + ":v1:" + k.Name + ":")})
		}
	}
	return t, nil
}
