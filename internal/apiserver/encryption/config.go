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

// KMSConfiguration is a KMS plugin; skiff speaks KMS v2 (apiVersion: v2)
// to it over gRPC.
type KMSConfiguration struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Name       string `json:"name"`
	// CacheSize is KMS v1's; refused with v2, as upstream does.
	CacheSize *int32 `json:"cachesize,omitempty"`
	// Endpoint is the plugin's gRPC socket, unix:///path/to/socket.
	Endpoint string `json:"endpoint"`
	// Timeout bounds each call to the plugin ("3s" when unset).
	Timeout *string `json:"timeout,omitempty"`
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
	if err := cfg.build(f); err != nil {
		_ = cfg.Close()
		return nil, err
	}
	return cfg, nil
}

func (cfg *Config) build(f File) error {
	seen := map[string]bool{}
	kmsNames := map[string]bool{}
	for i, rc := range f.Resources {
		field := fmt.Sprintf("resources[%d]", i)
		if len(rc.Resources) == 0 {
			return fmt.Errorf("%w: %s.resources: at least one resource is required", ErrInvalid, field)
		}
		if len(rc.Providers) == 0 {
			return fmt.Errorf("%w: %s.providers: at least one provider is required", ErrInvalid, field)
		}
		t, err := newTransformer(field, rc.Providers, kmsNames)
		if t != nil {
			cfg.kms = append(cfg.kms, t.kmsProviders()...)
		}
		if err != nil {
			return err
		}
		for j, r := range rc.Resources {
			prefix, err := keyPrefix(r)
			if err != nil {
				return fmt.Errorf("%w: %s.resources[%d]: %v", ErrInvalid, field, j, err)
			}
			if seen[r] {
				return fmt.Errorf("%w: %s.resources[%d]: %q is named twice", ErrInvalid, field, j, r)
			}
			seen[r] = true
			cfg.rules = append(cfg.rules, rule{resource: r, prefix: prefix, t: t})
		}
	}
	return nil
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
// kmsNames collects the kms providers' names, unique across the file. On
// an error the transformer built so far is returned too, so that the
// caller closes its kms clients.
func newTransformer(field string, providers []ProviderConfiguration, kmsNames map[string]bool) (*transformer, error) {
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
			return t, fmt.Errorf("%w: %s: exactly one provider must be set, found %d", ErrInvalid, pf, n)
		}
		var (
			kind string
			keys []Key
		)
		switch {
		case p.KMS != nil:
			if kmsNames[p.KMS.Name] {
				return t, fmt.Errorf("%w: %s.kms.name: %q is used twice", ErrInvalid, pf, p.KMS.Name)
			}
			kp, err := newKMSProvider(p.KMS)
			if err != nil {
				return t, fmt.Errorf("%w: %s.kms: %v", ErrInvalid, pf, err)
			}
			kmsNames[p.KMS.Name] = true
			t.providers = append(t.providers, provider{kind: "kms", key: kp.name, kms: kp,
				prefix: []byte("k8s:enc:kms:v2:" + kp.name + ":")})
			continue
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
			return t, fmt.Errorf("%w: %s.%s.keys: at least one key is required", ErrInvalid, pf, kind)
		}
		for j, k := range keys {
			kf := fmt.Sprintf("%s.%s.keys[%d]", pf, kind, j)
			if k.Name == "" || strings.Contains(k.Name, ":") {
				return t, fmt.Errorf("%w: %s.name: a non-empty name without ':' is required", ErrInvalid, kf)
			}
			if names[kind+":"+k.Name] {
				return t, fmt.Errorf("%w: %s.name: %q is used twice by %s", ErrInvalid, kf, k.Name, kind)
			}
			names[kind+":"+k.Name] = true
			secret, err := base64.StdEncoding.DecodeString(k.Secret)
			if err != nil {
				return t, fmt.Errorf("%w: %s.secret: not valid base64: %v", ErrInvalid, kf, err)
			}
			c, err := newCipher(kind, secret)
			if err != nil {
				return t, fmt.Errorf("%w: %s.secret: %v", ErrInvalid, kf, err)
			}
			t.providers = append(t.providers, provider{kind: kind, key: k.Name, cipher: c,
				prefix: []byte("k8s:enc:" + kind + ":v1:" + k.Name + ":")})
		}
	}
	return t, nil
}
