//go:build tools

// Package helm pins the Helm release whose command the end-to-end tests drive
// (test/e2e/helm_test.go). It is its own module so that skiff itself never
// depends on Helm; `make helm` builds bin/helm from it.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
