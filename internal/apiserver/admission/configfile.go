package admission

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"skiff/internal/apiserver/admission/podsecurity"
)

// FileConfig is what skiff takes from an admission configuration file
// (upstream's --admission-control-config-file).
type FileConfig struct {
	// PodSecurity is the PodSecurity plugin's configuration; nil when the
	// file has none.
	PodSecurity *podsecurity.Configuration
	// Ignored names the plugins the file configures that skiff takes no
	// configuration for; upstream reads a plugin's entry only when it
	// builds that plugin, so other entries are not errors.
	Ignored []string
}

// admissionConfiguration is apiserver.config.k8s.io's AdmissionConfiguration.
type admissionConfiguration struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Plugins    []admissionPlugin `json:"plugins"`
}

type admissionPlugin struct {
	Name string `json:"name"`
	// Path is a file holding the configuration; relative to the
	// AdmissionConfiguration's folder.
	Path string `json:"path"`
	// Configuration is the configuration inline.
	Configuration json.RawMessage `json:"configuration"`
}

// ReadConfigFile reads an AdmissionConfiguration (apiserver.config.k8s.io
// v1 or v1alpha1, or apiserver.k8s.io v1alpha1) and the PodSecurity
// plugin's PodSecurityConfiguration, inline or from the entry's path.
func ReadConfigFile(path string) (FileConfig, error) {
	var out FileConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return out, fmt.Errorf("read admission configuration: %w", err)
	}
	var ac admissionConfiguration
	if err := yaml.UnmarshalStrict(data, &ac); err != nil {
		return out, fmt.Errorf("read admission configuration %s: %w", path, err)
	}
	switch ac.APIVersion {
	case "apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1alpha1", "apiserver.k8s.io/v1alpha1":
	default:
		return out, fmt.Errorf("read admission configuration %s: unknown apiVersion %q", path, ac.APIVersion)
	}
	if ac.Kind != "AdmissionConfiguration" {
		return out, fmt.Errorf("read admission configuration %s: unexpected kind %q", path, ac.Kind)
	}
	seen := map[string]bool{}
	for _, p := range ac.Plugins {
		// A plugin's first entry is its configuration, as upstream reads it.
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if p.Name != "PodSecurity" {
			out.Ignored = append(out.Ignored, p.Name)
			continue
		}
		raw := []byte(p.Configuration)
		if len(raw) == 0 || string(raw) == "null" {
			if p.Path == "" {
				continue
			}
			file := p.Path
			if !filepath.IsAbs(file) {
				file = filepath.Join(filepath.Dir(path), file)
			}
			if raw, err = os.ReadFile(file); err != nil {
				return out, fmt.Errorf("read admission configuration of PodSecurity: %w", err)
			}
		}
		c, err := podsecurity.DecodeConfiguration(raw)
		if err != nil {
			return out, fmt.Errorf("admission configuration %s: %w", path, err)
		}
		out.PodSecurity = c
	}
	return out, nil
}
