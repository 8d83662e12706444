//go:build tools

// Package conformance pins upstream's e2e test package, the ginkgo CLI and
// the test images built from Go (agnhost, the sample API server), which
// `make conformance` builds from this module.
package conformance

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/test/e2e"
	_ "k8s.io/kubernetes/test/images/agnhost"
	_ "k8s.io/sample-apiserver"
)
