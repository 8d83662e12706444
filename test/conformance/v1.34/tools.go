//go:build tools

// Package conformance pins upstream's e2e test package and the ginkgo CLI,
// which `make conformance` builds from this module.
package conformance

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/test/e2e"
)
