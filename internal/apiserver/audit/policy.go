package audit

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// ReadPolicyFile reads an audit.k8s.io/v1 Policy from a YAML or JSON file.
func ReadPolicyFile(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit policy: %w", err)
	}
	return ParsePolicy(b)
}

// ParsePolicy decodes and validates an audit.k8s.io/v1 Policy.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return nil, fmt.Errorf("decode audit policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("audit policy: %w", err)
	}
	return &p, nil
}

func (p *Policy) validate() error {
	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" {
		return fmt.Errorf("want apiVersion audit.k8s.io/v1 and kind Policy, got %q %q", p.APIVersion, p.Kind)
	}
	for _, s := range p.OmitStages {
		if !s.valid() {
			return fmt.Errorf("omitStages: unknown stage %q", s)
		}
	}
	for i, r := range p.Rules {
		if !r.Level.valid() {
			return fmt.Errorf("rules[%d].level: unknown level %q", i, r.Level)
		}
		for _, s := range r.OmitStages {
			if !s.valid() {
				return fmt.Errorf("rules[%d].omitStages: unknown stage %q", i, s)
			}
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			return fmt.Errorf("rules[%d]: nonResourceURLs cannot be combined with resources or namespaces", i)
		}
		for j, u := range r.NonResourceURLs {
			if strings.Contains(strings.TrimSuffix(u, "*"), "*") {
				return fmt.Errorf("rules[%d].nonResourceURLs[%d]: %q may only end in *", i, j, u)
			}
		}
		for j, gr := range r.Resources {
			if len(gr.ResourceNames) > 0 && len(gr.Resources) == 0 {
				return fmt.Errorf("rules[%d].resources[%d]: resourceNames require resources", i, j)
			}
		}
	}
	return nil
}

// Attributes are what a policy matches a request on.
type Attributes struct {
	User   string
	Groups []string
	// Verb is the API verb (get, list, watch, create, ...) of a resource
	// request, the lower-case HTTP method of another.
	Verb string
	// ResourceRequest is false for non-resource paths (/healthz, /version).
	ResourceRequest bool
	APIGroup        string
	Namespace       string
	Resource        string
	Subresource     string
	Name            string
	// Path is the URL path of a non-resource request.
	Path string
}

// Decision is what a policy says about one request.
type Decision struct {
	// Level is the first matching rule's, None without a match.
	Level Level
	// OmitStages are the policy's and the rule's omitted stages.
	OmitStages []Stage
	// OmitManagedFields drops metadata.managedFields from bodies.
	OmitManagedFields bool
}

// Omits reports whether no event is recorded at stage s.
func (d Decision) Omits(s Stage) bool { return slices.Contains(d.OmitStages, s) }

// Decide returns the level and omitted stages of the first rule matching a.
func (p *Policy) Decide(a Attributes) Decision {
	for _, r := range p.Rules {
		if !r.matches(a) {
			continue
		}
		if r.Level == LevelNone {
			break
		}
		d := Decision{Level: r.Level, OmitManagedFields: p.OmitManagedFields}
		if r.OmitManagedFields != nil {
			d.OmitManagedFields = *r.OmitManagedFields
		}
		d.OmitStages = append(append(d.OmitStages, p.OmitStages...), r.OmitStages...)
		return d
	}
	return Decision{Level: LevelNone}
}

func (r *PolicyRule) matches(a Attributes) bool {
	if len(r.Users) > 0 && !slices.Contains(r.Users, a.User) {
		return false
	}
	if len(r.UserGroups) > 0 && !slices.ContainsFunc(a.Groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
		return false
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	if a.ResourceRequest {
		if len(r.NonResourceURLs) > 0 {
			return false
		}
		if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, a.Namespace) {
			return false
		}
		if len(r.Resources) == 0 {
			return true
		}
		return slices.ContainsFunc(r.Resources, func(gr GroupResources) bool { return gr.matches(a) })
	}
	if len(r.Resources) > 0 || len(r.Namespaces) > 0 {
		return false
	}
	if len(r.NonResourceURLs) == 0 {
		return true
	}
	return slices.ContainsFunc(r.NonResourceURLs, func(u string) bool {
		if prefix, ok := strings.CutSuffix(u, "*"); ok {
			return strings.HasPrefix(a.Path, prefix)
		}
		return u == a.Path
	})
}

func (gr *GroupResources) matches(a Attributes) bool {
	if gr.Group != a.APIGroup {
		return false
	}
	if len(gr.Resources) == 0 {
		return true
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	if !slices.ContainsFunc(gr.Resources, func(res string) bool {
		switch {
		case res == "*" || res == combined:
			return true
		case res == a.Resource+"/*":
			return a.Subresource != ""
		case strings.HasPrefix(res, "*/"):
			return a.Subresource != "" && res[2:] == a.Subresource
		}
		return false
	}) {
		return false
	}
	return len(gr.ResourceNames) == 0 || slices.Contains(gr.ResourceNames, a.Name)
}
