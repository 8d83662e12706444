// Package auth holds the API server's authenticators and authorizers, and
// what they need.
//
// Authenticators turn a request's credentials into a User: X509 reads the
// verified client certificate (CN is the user, O the groups), the token
// authenticator checks service account tokens (ES256 or RS256 JWTs that
// Tokens issues, bound to pods and nodes; they verify with the signing key
// or any verification-only key SetKeys was given, so that a rotated key's
// tokens keep working), and Union tries several in order. Each token
// authenticator declines (false, no error) tokens of issuers not its own,
// so the service account authenticator can stand before the oidc
// package's, which authenticates external issuers' JWTs.
// Authorizers decide on Attributes: Masters allows the system:masters group
// everything; Node allows a node (system:node:<name> in system:nodes) the
// objects its pods use, which a NodeGraph fed by informers relates to it,
// and upstream's static node rules; RBAC evaluates Roles and ClusterRoles
// with their bindings; and Chain asks each in turn. Escalation refuses Roles, ClusterRoles and
// bindings that would grant what their writer does not hold through RBAC,
// unless the writer has escalate or bind (upstream's policy-based RBAC
// storage). BootstrapPolicy is the default ClusterRoles and bindings a
// cluster starts with (admin, edit and view are aggregated from the
// system:aggregate-to-* roles, as upstream's), with the components' roles
// (componentpolicy.go: the scheduler, controller manager, each controller's
// ServiceAccount, DNS, join) and SystemPolicy their kube-system Roles;
// reconcile.go decides how a stored default object is brought up to the
// policy at start, as upstream's reconciliation; discovery.go serves the
// token issuer's OpenID Connect documents (the JWKS lists every key, with
// upstream's kid: base64url SHA-256 of the key's PKIX DER). The package imports nothing of
// the API server: the server defines what it needs and passes this
// package's values in.
package auth
