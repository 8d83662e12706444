package oidc

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// AuthenticationConfiguration is upstream's apiserver.config.k8s.io/v1
// AuthenticationConfiguration, as --authentication-config reads it.
type AuthenticationConfiguration struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	JWT        []JWTAuthenticator `json:"jwt"`
	// Anonymous is parsed so that upstream files load, but skiff does
	// not configure anonymous access from it (see validate).
	Anonymous *AnonymousAuthConfig `json:"anonymous,omitempty"`
}

// AnonymousAuthConfig is upstream's anonymous section.
type AnonymousAuthConfig struct {
	Enabled    bool                 `json:"enabled"`
	Conditions []AnonymousCondition `json:"conditions,omitempty"`
}

// AnonymousCondition is a path anonymous requests may reach.
type AnonymousCondition struct {
	Path string `json:"path"`
}

// JWTAuthenticator is one issuer whose tokens are accepted.
type JWTAuthenticator struct {
	Issuer               Issuer                `json:"issuer"`
	ClaimValidationRules []ClaimValidationRule `json:"claimValidationRules,omitempty"`
	ClaimMappings        ClaimMappings         `json:"claimMappings"`
	UserValidationRules  []UserValidationRule  `json:"userValidationRules,omitempty"`
}

// Issuer says where the issuer's keys are and what audiences its tokens
// must carry.
type Issuer struct {
	// URL must equal the tokens' iss claim and the discovery document's
	// issuer.
	URL string `json:"url"`
	// DiscoveryURL, when set, is where the discovery document is fetched
	// instead of URL + /.well-known/openid-configuration.
	DiscoveryURL string `json:"discoveryURL,omitempty"`
	// CertificateAuthority is PEM CA certificates the issuer's TLS
	// certificate must chain to; the host's roots when empty.
	CertificateAuthority string   `json:"certificateAuthority,omitempty"`
	Audiences            []string `json:"audiences"`
	// AudienceMatchPolicy is MatchAny (the only policy, and the meaning of
	// empty with one audience).
	AudienceMatchPolicy string `json:"audienceMatchPolicy,omitempty"`
	// EgressSelectorType is upstream's; skiff has no egress selector and
	// refuses it.
	EgressSelectorType string `json:"egressSelectorType,omitempty"`
}

// ClaimValidationRule requires a claim value, or a CEL expression over
// claims to be true.
type ClaimValidationRule struct {
	Claim         string `json:"claim,omitempty"`
	RequiredValue string `json:"requiredValue,omitempty"`
	Expression    string `json:"expression,omitempty"`
	Message       string `json:"message,omitempty"`
}

// ClaimMappings turn claims into the user's attributes.
type ClaimMappings struct {
	Username PrefixedClaimOrExpression `json:"username"`
	Groups   PrefixedClaimOrExpression `json:"groups,omitempty"`
	UID      ClaimOrExpression         `json:"uid,omitempty"`
	Extra    []ExtraMapping            `json:"extra,omitempty"`
}

// PrefixedClaimOrExpression is a claim with a prefix, or an expression.
type PrefixedClaimOrExpression struct {
	Claim string `json:"claim,omitempty"`
	// Prefix must be set (possibly to "") with Claim, and not with
	// Expression.
	Prefix     *string `json:"prefix,omitempty"`
	Expression string  `json:"expression,omitempty"`
}

// ClaimOrExpression is a claim or an expression.
type ClaimOrExpression struct {
	Claim      string `json:"claim,omitempty"`
	Expression string `json:"expression,omitempty"`
}

// ExtraMapping maps an expression to an extra attribute.
type ExtraMapping struct {
	Key             string `json:"key"`
	ValueExpression string `json:"valueExpression"`
}

// UserValidationRule is a CEL expression over user that must be true.
type UserValidationRule struct {
	Expression string `json:"expression"`
	Message    string `json:"message,omitempty"`
}

// Accepted apiVersions: upstream serves the file format in these.
var apiVersions = []string{"apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1", "apiserver.config.k8s.io/v1alpha1"}

// maxJWTAuthenticators is upstream's limit.
const maxJWTAuthenticators = 64

// ReadConfigFile reads and decodes an AuthenticationConfiguration (YAML
// or JSON; unknown fields are errors).
func ReadConfigFile(path string) (*AuthenticationConfiguration, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("authentication config: %w", err)
	}
	var c AuthenticationConfiguration
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, nil, fmt.Errorf("authentication config %s: %w", path, err)
	}
	return &c, data, nil
}

// compiledJWT is one validated JWTAuthenticator with its CEL programs.
type compiledJWT struct {
	cfg             JWTAuthenticator
	username        cel.Program
	groups          cel.Program
	uid             cel.Program
	extra           []compiledExtra
	claimRules      []compiledRule
	userRules       []compiledRule
	caPool          *x509.CertPool
	audiences       sets.Set[string]
	usernameIsEmail bool
}

type compiledExtra struct {
	key, expression string
	prog            cel.Program
}

type compiledRule struct {
	expression, message string
	prog                cel.Program
}

// compile validates c as upstream does and compiles its expressions.
// disallowedIssuers (the service account issuer) may not be a JWT
// issuer. The error is a field.ErrorList aggregate naming every bad field.
func compile(c *AuthenticationConfiguration, disallowedIssuers []string) ([]*compiledJWT, error) {
	var errs field.ErrorList
	if c.Kind != "AuthenticationConfiguration" {
		errs = append(errs, field.Invalid(field.NewPath("kind"), c.Kind, "must be AuthenticationConfiguration"))
	}
	if !sets.New(apiVersions...).Has(c.APIVersion) {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), c.APIVersion, apiVersions))
	}
	if c.Anonymous != nil {
		errs = append(errs, field.Forbidden(field.NewPath("anonymous"), "skiff does not configure anonymous authentication from this file"))
	}
	env, err := newCELEnv()
	if err != nil {
		return nil, err
	}
	root := field.NewPath("jwt")
	if len(c.JWT) > maxJWTAuthenticators {
		return nil, field.ErrorList{field.TooMany(root, len(c.JWT), maxJWTAuthenticators)}.ToAggregate()
	}
	var out []*compiledJWT
	seenIssuers, seenDiscovery := sets.New[string](), sets.New[string]()
	for i, a := range c.JWT {
		p := root.Index(i)
		j, jerrs := compileJWT(env, a, sets.New(disallowedIssuers...), p)
		errs = append(errs, jerrs...)
		if seenIssuers.Has(a.Issuer.URL) {
			errs = append(errs, field.Duplicate(p.Child("issuer", "url"), a.Issuer.URL))
		}
		seenIssuers.Insert(a.Issuer.URL)
		if a.Issuer.DiscoveryURL != "" {
			if seenDiscovery.Has(a.Issuer.DiscoveryURL) {
				errs = append(errs, field.Duplicate(p.Child("issuer", "discoveryURL"), a.Issuer.DiscoveryURL))
			}
			seenDiscovery.Insert(a.Issuer.DiscoveryURL)
		}
		out = append(out, j)
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return out, nil
}

func compileJWT(env *celEnv, a JWTAuthenticator, disallowed sets.Set[string], p *field.Path) (*compiledJWT, field.ErrorList) {
	j := &compiledJWT{cfg: a, audiences: sets.New(a.Issuer.Audiences...)}
	var errs field.ErrorList
	ip := p.Child("issuer")

	if a.Issuer.URL == "" {
		errs = append(errs, field.Required(ip.Child("url"), ""))
	} else {
		errs = append(errs, validateURL(a.Issuer.URL, disallowed, ip.Child("url"))...)
	}
	if d := a.Issuer.DiscoveryURL; d != "" {
		if a.Issuer.URL != "" && strings.TrimRight(a.Issuer.URL, "/") == strings.TrimRight(d, "/") {
			errs = append(errs, field.Invalid(ip.Child("discoveryURL"), d, "discoveryURL must be different from URL"))
		}
		errs = append(errs, validateURL(d, nil, ip.Child("discoveryURL"))...)
	}
	errs = append(errs, validateAudiences(a.Issuer, ip)...)
	if a.Issuer.CertificateAuthority != "" {
		j.caPool = x509.NewCertPool()
		if !j.caPool.AppendCertsFromPEM([]byte(a.Issuer.CertificateAuthority)) {
			errs = append(errs, field.Invalid(ip.Child("certificateAuthority"), "<omitted>", "data does not contain any valid RSA or ECDSA certificates"))
		}
	}
	if a.Issuer.EgressSelectorType != "" {
		errs = append(errs, field.Invalid(ip.Child("egressSelectorType"), a.Issuer.EgressSelectorType, "egress selectors are not supported by skiff"))
	}

	var usesEmail, usesEmailVerified bool
	// Claim validation rules.
	rp := p.Child("claimValidationRules")
	seenClaims, seenExprs := sets.New[string](), sets.New[string]()
	for i, r := range a.ClaimValidationRules {
		fp := rp.Index(i)
		switch {
		case r.Claim != "" && r.Expression != "":
			errs = append(errs, field.Invalid(fp, r.Claim, "claim and expression can't both be set"))
		case r.Claim == "" && r.Expression == "":
			errs = append(errs, field.Required(fp, "claim or expression is required"))
		case r.Claim != "":
			if r.Message != "" {
				errs = append(errs, field.Invalid(fp.Child("message"), r.Message, "may not be specified when claim is set"))
			}
			if seenClaims.Has(r.Claim) {
				errs = append(errs, field.Duplicate(fp.Child("claim"), r.Claim))
			}
			seenClaims.Insert(r.Claim)
		default:
			if r.RequiredValue != "" {
				errs = append(errs, field.Invalid(fp.Child("requiredValue"), r.RequiredValue, "may not be specified when expression is set"))
			}
			if seenExprs.Has(r.Expression) {
				errs = append(errs, field.Duplicate(fp.Child("expression"), r.Expression))
				continue
			}
			seenExprs.Insert(r.Expression)
			c, err := env.compile(r.Expression, varClaims, true)
			if err != nil {
				errs = append(errs, field.Invalid(fp.Child("expression"), r.Expression, err.Error()))
				continue
			}
			usesEmailVerified = usesEmailVerified || c.selects("email_verified")
			j.claimRules = append(j.claimRules, compiledRule{expression: r.Expression, message: r.Message, prog: c.prog})
		}
	}

	// Claim mappings.
	mp := p.Child("claimMappings")
	var up, gp *compiledExpr
	up, errs = compilePrefixed(env, a.ClaimMappings.Username, mp.Child("username"), true, errs)
	if up != nil {
		j.username = up.prog
		usesEmail = up.selects("email")
		usesEmailVerified = usesEmailVerified || up.selects("email_verified")
	}
	j.usernameIsEmail = a.ClaimMappings.Username.Claim == "email"
	gp, errs = compilePrefixed(env, a.ClaimMappings.Groups, mp.Child("groups"), false, errs)
	if gp != nil {
		j.groups = gp.prog
	}
	switch uid := a.ClaimMappings.UID; {
	case uid.Claim != "" && uid.Expression != "":
		errs = append(errs, field.Invalid(mp.Child("uid"), "", "claim and expression can't both be set"))
	case uid.Expression != "":
		c, err := env.compile(uid.Expression, varClaims, false)
		if err != nil {
			errs = append(errs, field.Invalid(mp.Child("uid", "expression"), uid.Expression, err.Error()))
		} else {
			j.uid = c.prog
		}
	}
	seenKeys := sets.New[string]()
	for i, m := range a.ClaimMappings.Extra {
		fp := mp.Child("extra").Index(i)
		errs = append(errs, validation.IsDomainPrefixedPath(fp.Child("key"), m.Key)...)
		if m.Key != strings.ToLower(m.Key) {
			errs = append(errs, field.Invalid(fp.Child("key"), m.Key, "must be lowercase"))
		}
		if isKubernetesDomain(m.Key) {
			errs = append(errs, field.Invalid(fp.Child("key"), m.Key, "k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use"))
		}
		if seenKeys.Has(m.Key) {
			errs = append(errs, field.Duplicate(fp.Child("key"), m.Key))
			continue
		}
		seenKeys.Insert(m.Key)
		if m.ValueExpression == "" {
			errs = append(errs, field.Required(fp.Child("valueExpression"), ""))
			continue
		}
		c, err := env.compile(m.ValueExpression, varClaims, false)
		if err != nil {
			errs = append(errs, field.Invalid(fp.Child("valueExpression"), m.ValueExpression, err.Error()))
			continue
		}
		usesEmailVerified = usesEmailVerified || c.selects("email_verified")
		j.extra = append(j.extra, compiledExtra{key: m.Key, expression: m.ValueExpression, prog: c.prog})
	}
	if usesEmail && !usesEmailVerified {
		errs = append(errs, field.Invalid(mp.Child("username", "expression"), a.ClaimMappings.Username.Expression,
			"claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression"))
	}

	// User validation rules.
	vp := p.Child("userValidationRules")
	seenExprs = sets.New[string]()
	for i, r := range a.UserValidationRules {
		fp := vp.Index(i)
		if r.Expression == "" {
			errs = append(errs, field.Required(fp.Child("expression"), ""))
			continue
		}
		if seenExprs.Has(r.Expression) {
			errs = append(errs, field.Duplicate(fp.Child("expression"), r.Expression))
			continue
		}
		seenExprs.Insert(r.Expression)
		c, err := env.compile(r.Expression, varUser, true)
		if err != nil {
			errs = append(errs, field.Invalid(fp.Child("expression"), r.Expression, err.Error()))
			continue
		}
		j.userRules = append(j.userRules, compiledRule{expression: r.Expression, message: r.Message, prog: c.prog})
	}
	return j, errs
}

// compilePrefixed checks a username or groups mapping: a claim (with a
// prefix, possibly "") or an expression (without one).
func compilePrefixed(env *celEnv, m PrefixedClaimOrExpression, fp *field.Path, required bool, errs field.ErrorList) (*compiledExpr, field.ErrorList) {
	switch {
	case m.Claim != "" && m.Expression != "":
		errs = append(errs, field.Invalid(fp, "", "claim and expression can't both be set"))
	case m.Claim == "" && m.Expression == "":
		if required {
			errs = append(errs, field.Required(fp, "claim or expression is required"))
		}
	case m.Expression != "":
		if m.Prefix != nil {
			errs = append(errs, field.Invalid(fp.Child("prefix"), *m.Prefix, "may not be specified when expression is set"))
		}
		c, err := env.compile(m.Expression, varClaims, false)
		if err != nil {
			errs = append(errs, field.Invalid(fp.Child("expression"), m.Expression, err.Error()))
			return nil, errs
		}
		return c, errs
	default:
		if m.Prefix == nil {
			errs = append(errs, field.Required(fp.Child("prefix"), "prefix is required when claim is set. It can be set to an empty string to disable prefixing"))
		}
	}
	return nil, errs
}

func validateURL(raw string, disallowed sets.Set[string], fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if disallowed.Has(raw) {
		errs = append(errs, field.Invalid(fp, raw, fmt.Sprintf("URL must not overlap with disallowed issuers: %s", sets.List(disallowed))))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return append(errs, field.Invalid(fp, raw, err.Error()))
	}
	if u.Scheme != "https" {
		errs = append(errs, field.Invalid(fp, raw, "URL scheme must be https"))
	}
	if u.User != nil {
		errs = append(errs, field.Invalid(fp, raw, "URL must not contain a username or password"))
	}
	if u.RawQuery != "" {
		errs = append(errs, field.Invalid(fp, raw, "URL must not contain a query"))
	}
	if u.Fragment != "" {
		errs = append(errs, field.Invalid(fp, raw, "URL must not contain a fragment"))
	}
	return errs
}

func validateAudiences(is Issuer, ip *field.Path) field.ErrorList {
	fp, pp := ip.Child("audiences"), ip.Child("audienceMatchPolicy")
	if len(is.Audiences) == 0 {
		return field.ErrorList{field.Required(fp, fmt.Sprintf("at least one %s is required", fp))}
	}
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, a := range is.Audiences {
		if a == "" {
			errs = append(errs, field.Required(fp.Index(i), ""))
		}
		if seen.Has(a) {
			errs = append(errs, field.Duplicate(fp.Index(i), a))
		}
		seen.Insert(a)
	}
	if len(is.Audiences) > 1 && is.AudienceMatchPolicy != "MatchAny" {
		errs = append(errs, field.Invalid(pp, is.AudienceMatchPolicy, "audienceMatchPolicy must be MatchAny for multiple audiences"))
	}
	if len(is.Audiences) == 1 && is.AudienceMatchPolicy != "" && is.AudienceMatchPolicy != "MatchAny" {
		errs = append(errs, field.Invalid(pp, is.AudienceMatchPolicy, "audienceMatchPolicy must be empty or MatchAny for single audience"))
	}
	return errs
}

func isKubernetesDomain(key string) bool {
	domain, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	for _, d := range []string{"kubernetes.io", "k8s.io"} {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}
