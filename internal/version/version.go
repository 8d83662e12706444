// Package version holds the versions skiff reports: its own and the
// Kubernetes API version it serves (what /version and kubectl show).
package version

import (
	"runtime"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// Set at link time with -X.
var (
	// Skiff is skiff's own version.
	Skiff = "v0.1.0-dev"
	// Kubernetes is the Kubernetes version whose API skiff serves.
	Kubernetes = "v1.37.2"
	// GitCommit is the commit skiff was built from.
	GitCommit = ""
)

// Info returns what GET /version answers.
func Info() apimachineryversion.Info {
	return apimachineryversion.Info{
		Major:        "1",
		Minor:        "37",
		GitVersion:   Kubernetes + "+skiff",
		GitCommit:    GitCommit,
		GitTreeState: "clean",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     runtime.GOOS + "/" + runtime.GOARCH,
	}
}
