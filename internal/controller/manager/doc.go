// Package manager runs skiff's controllers the way kube-controller-manager
// does: one process-wide set of clients and shared informers, one event
// recorder per controller, and everything under a coordination.k8s.io
// Lease so that only one instance acts in an HA cluster.
//
//	Run ──► acquire Lease kube-system/kube-controller-manager
//	          │ leading
//	          ▼
//	        construct enabled controllers ──► start informers ──► wait synced
//	          ──► controller.Run(ctx, workers) for each ──► ctx done or lease lost
//
// Controllers are passed in as a map of constructors; nothing registers
// itself. The informers and event recorders act with the manager's own
// credentials; a controller named in Config.ServiceAccounts writes with
// clients of its own that carry tokens of that ServiceAccount (upstream's
// --use-service-account-credentials), requested through TokenRequest
// with the manager's credentials when first needed, renewed before they
// expire and after a 401 (credentials.go). Losing the Lease stops every controller and makes Run return an
// error, so the caller (skiff server) fails loudly rather than acting twice.
package manager
