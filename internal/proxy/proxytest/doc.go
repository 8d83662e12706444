// Package proxytest builds proxy.State values for tests and benchmarks:
// from the YAML of golden files (LoadState) or as a large simulated
// cluster (BigState).
package proxytest
