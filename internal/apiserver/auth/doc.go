// Package auth holds the API server's authenticators and authorizers, and
// what they need.
//
// Authenticators turn a request's credentials into a User: X509 reads the
// verified client certificate (CN is the user, O the groups), the token
// authenticator checks service account tokens (ES256 JWTs that Tokens
// issues, bound to pods and nodes), and Union tries several in order.
// Authorizers decide on Attributes: Masters allows the system:masters group
// everything; Node allows a node (system:node:<name> in system:nodes) the
// objects its pods use, which a NodeGraph fed by informers relates to it,
// and upstream's static node rules; RBAC evaluates Roles and ClusterRoles
// with their bindings; and Chain asks each in turn. BootstrapPolicy is the
// default ClusterRoles and bindings a cluster starts with; discovery.go
// serves the token issuer's OpenID Connect documents. The package imports nothing of the
// API server: the server defines what it needs and passes this package's
// values in.
package auth
