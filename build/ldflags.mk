# Link-time version stamps for the bundled kubectl (cmd/skiff-kubectl).
#
# Without them kubectl reports v0.0.0-master; with them `kubectl version
# --client` prints the Kubernetes release skiff serves. client-go keeps its own
# copy of the version (sent in the User-Agent), so both packages are stamped.
#
# -s -w drop the symbol and DWARF tables (111 MB -> 80 MB on disk, so
# less to page in on every `skiff kubectl`); panics still print stack traces.
#
# Usage:  include build/ldflags.mk
#         go build -ldflags "$(KUBECTL_LDFLAGS)" -o bin/skiff-kubectl ./cmd/skiff-kubectl

KUBECTL_GIT_VERSION ?= v1.37.2
KUBECTL_GIT_MAJOR   ?= 1
KUBECTL_GIT_MINOR   ?= 37
# Empty unless the build passes one; otherwise kubectl shows "$Format:%H$".
KUBECTL_GIT_COMMIT  ?=

KUBECTL_VERSION_LDFLAGS = \
	-X k8s.io/component-base/version.gitVersion=$(KUBECTL_GIT_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(KUBECTL_GIT_MAJOR) \
	-X k8s.io/component-base/version.gitMinor=$(KUBECTL_GIT_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/component-base/version.gitCommit=$(KUBECTL_GIT_COMMIT) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBECTL_GIT_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=$(KUBECTL_GIT_MAJOR) \
	-X k8s.io/client-go/pkg/version.gitMinor=$(KUBECTL_GIT_MINOR) \
	-X k8s.io/client-go/pkg/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitCommit=$(KUBECTL_GIT_COMMIT)

KUBECTL_LDFLAGS = -s -w $(KUBECTL_VERSION_LDFLAGS)
