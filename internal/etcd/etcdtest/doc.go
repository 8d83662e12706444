// Package etcdtest starts embedded etcd members for tests: a single member
// (StartServer) or a cluster of several on loopback (StartCluster), each in a
// temporary directory on free ports and closed when the test ends, and a
// TestMain helper (Main) that fails the run if the tests leaked goroutines.
package etcdtest
