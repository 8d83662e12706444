// Package audit is the API server's audit log: upstream's audit.k8s.io/v1
// Policy (which requests are recorded, at which level, at which stages), the
// Event it records, and a JSON-lines file backend with size-based rotation.
//
// The policy is pure: Policy.Decide maps a request's attributes to a level
// and the stages to omit. The API server builds the events; Log writes them,
// one JSON object per line, in the order they are written. A request goes
// through the stages
//
//	RequestReceived ──► [ResponseStarted, long-running requests only] ──► ResponseComplete
//	        └────────────────────── a panic ──────────────────────────► Panic
//
// and each stage not omitted produces one event with the same auditID.
package audit
