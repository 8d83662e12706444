// Package auth holds the API server's authenticators and authorizers.
//
// Authenticators turn a request's credentials into a User: X509
// reads the verified client certificate (CN is the user, O the groups).
// Union tries several in order. Authorizers decide on Attributes:
// Masters allows the system:masters group everything and denies the rest
// until RBAC is installed in front of it.
package auth
