//go:build tools

// Package csiattacher pins the release of upstream's external-attacher
// that the CSI integration test (internal/agent/integration/csi_test.go)
// runs against its test driver. It is its own module so that skiff itself
// never depends on it (nor on k8s.io/apiserver, which it imports); `make
// csi-attacher` builds bin/csi-attacher from it.
package csiattacher

import (
	_ "github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher"
)
