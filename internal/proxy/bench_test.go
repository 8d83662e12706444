package proxy_test

import (
	"testing"

	"skiff/internal/proxy"
	"skiff/internal/proxy/proxytest"
)

// BenchmarkCompute computes the ruleset of 1,000 Services with 10
// endpoints each (10,000 endpoints).
func BenchmarkCompute(b *testing.B) {
	st := proxytest.BigState(1000, 10)
	b.ReportAllocs()
	for b.Loop() {
		proxy.Compute(st)
	}
}
