// Package server assembles the control plane of `skiff server`:
// certificates, etcd (embedded or external), the API server with the join
// protocol nodes use, and the scheduler and controller manager, each
// talking to the API server over loopback HTTPS like any other client.
// Unless DisableAgent, it also runs this host's node (package node) with
// credentials issued from its own CA.
//
// Start runs named steps in order (listen, certificates and store, API
// server, certificate renewal, serve, node authorizer, bootstrap,
// components, node) and returns once the API server is ready; if a step
// fails, Close stops what the earlier ones started. Wait blocks until ctx
// is done or the server fails, then closes it. Tests start a server with
// servertest.Start.
//
// Every leaf certificate the server issues goes through serverCerts, which
// the renewal loop (pki.Renewer, on Config.Clock) walks: each is replaced
// at two thirds of its life, and the pairs held in memory (API serving,
// kubelet client, front-proxy client) are loaded again; the rest are read
// from their files by whoever uses them (client-go, etcd, the node's
// kubelet API).
package server
