// Package oidc authenticates bearer JWTs of external OpenID Connect
// issuers, configured by upstream's AuthenticationConfiguration file
// (apiserver.config.k8s.io/v1, --authentication-config).
//
// New reads the file, validates it with upstream's rules (every bad field
// reported with its path, e.g. jwt[0].claimMappings.username.prefix) and
// compiles its CEL expressions: claim validation rules and claim mappings
// see `claims`, the token's payload; user validation rules see `user`
// (username, uid, groups, extra). The Authenticator then handles the
// tokens whose (unverified) iss claim names one of the configured issuers
// and declines all others, so it stands after the service account token
// authenticator in the chain.
//
// For a token of its issuer it fetches, on first use, the issuer's
// discovery document (issuer.url + /.well-known/openid-configuration, or
// issuer.discoveryURL) and the JWKS it points to, over TLS trusting
// issuer.certificateAuthority (or the host's roots); a kid it does not
// know fetches the JWKS again, at most once every keyFetchInterval. It
// then checks the signature (RS256/384/512, ES256/384/512), iss, aud
// (MatchAny), exp and nbf, maps the claims to a user and runs the rules.
//
// Run reloads the file when its content changes; a file that no longer
// validates is logged and the last good configuration stays in force.
package oidc
