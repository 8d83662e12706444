// Package integration tests the API server in-process on embedded etcd with
// real clients (client-go typed, dynamic, informers, protobuf).
package integration
