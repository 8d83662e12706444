// Package ingress is skiff's built-in ingress controller: an HTTP and
// HTTPS reverse proxy that every node runs (node component "ingress"),
// routing requests by the Ingresses (networking.k8s.io/v1) of the
// IngressClasses whose spec.controller is ControllerName straight to the
// ready endpoints of their Services.
//
// The package has a pure core and a thin shell:
//
//   - Build (table.go) takes a State (Ingresses, IngressClasses, Services,
//     EndpointSlices, TLS Secrets) and returns an immutable Table. It keeps
//     the Ingresses the controller serves (Classes.Serves: the legacy
//     kubernetes.io/ingress.class annotation, else spec.ingressClassName,
//     else no class while one of ours is the default class), merges their
//     rules by host, resolves each backend's Service port (by number or
//     name) to the endpoints its EndpointSlices list as ready, and parses
//     the certificates of spec.tls. Where two Ingresses name the same host,
//     path and path type, or the same TLS host, or both have a default
//     backend, the older one (creationTimestamp, then namespace/name) wins.
//   - Table.Route picks a backend for a host and path: the rules of the
//     exact host, then of its wildcard ("*.foo.com" covers one label
//     more), then the rules with no host; within them the longest matching
//     path, Exact before Prefix at the same length. Prefix matches whole
//     path elements ("/foo" matches "/foo/bar", not "/foobar");
//     ImplementationSpecific is Prefix. With no match the default backend
//     answers, and with none, 404.
//   - Server (server.go) owns the listeners and an atomic.Pointer to the
//     current Table. Each request loads the pointer once, picks the next
//     endpoint of its backend (round robin; 503 when it has none) and
//     goes through an httputil.ReverseProxy to the pod IP, with the
//     client's Host and X-Forwarded-For, -Host, -Proto and -Port set (a
//     client's own X-Forwarded-* are not trusted). Connection upgrades
//     (WebSocket) pass through. HTTPS picks the certificate by SNI from
//     the Table, a self-signed one when no Ingress has one for the name,
//     and offers HTTP/2 by ALPN.
//   - Follow (follow.go) watches the five kinds with client-go informers
//     (Secrets of type kubernetes.io/tls only) and, at most once every
//     MinSyncInterval, builds a new Table and swaps it in. Its CertCache
//     parses a Secret's certificate once per resourceVersion, so that
//     endpoint churn costs no certificate parsing.
//
// Hot reload is the swap: the listeners never restart and no connection
// is closed; a request already routed finishes with the endpoint it got,
// the next one sees the new Table.
//
// The Ingresses' status is not written here: every node would write it.
// The controller manager's ingress-status controller (package
// controller/ingressstatus) publishes the nodes' addresses instead.
package ingress
