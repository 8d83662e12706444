// Package node assembles a node: the agent (kubelet) with its container
// runtime (a containerd skiff supervises, an existing CRI endpoint, or the
// simulated runtime), the service proxy, the cluster DNS server and the
// built-in ingress controller (package ingress, on the host's ports 80
// and 443 unless configured otherwise).
//
// `skiff agent` joins a cluster first (Join: it fetches the cluster CA,
// checks it against the join token's hash and has the server sign its
// certificates, once; they are kept in the data dir) and then runs the
// node with the credentials it got. `skiff server` runs a node beside its
// control plane with credentials issued from its own CA.
//
// A joined node's clients dial through its ServerPool rather than the
// --server address alone: the pool connects to the API server that last
// answered and tries the others when it does not, and
// Joined.FollowServers keeps the pool's list equal to the servers
// default/kubernetes lists (saved in <data-dir>/servers.json for the next
// start), so a node stays up while any server is.
//
// New checks the Config and gets each component's client configuration
// from the Credentials the caller supplies (how each component
// authenticates to the API server, and the kubelet API's serving
// certificate). Run starts each component in its own goroutine and
// restarts one that fails (after a back-off) until ctx is done; it returns
// after every component has stopped.
package node
