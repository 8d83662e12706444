// Package server assembles `skiff server`: certificates, etcd (embedded or
// external), the API server and, as they land, the built-in components, each
// talking to the API server over loopback HTTPS like any other client.
//
// Start brings everything up and returns once /readyz would answer ok;
// Wait blocks until the server stops. Tests start it in-process with free
// ports and a temporary data dir.
package server
