# skiff: `make run` builds and runs the server on this host; `make test` runs
# every test. Both do their own set-up on a fresh machine.

GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

include build/ldflags.mk

SKIFF_VERSION ?= v0.1.0-dev
SKIFF_LDFLAGS = -X skiff/internal/version.Skiff=$(SKIFF_VERSION)
DATA_DIR ?= /var/lib/skiff
ARGS ?=

.PHONY: all build run test conformance bench clean deps node-deps test-deps fmt vet helm csi-attacher csi-provisioner

# What a node needs from Debian: the container runtime, the CNI plugins,
# nftables, busybox-static for the test images, and e2fsprogs and
# btrfs-progs for the quota tests of local-path volumes (project quotas on
# ext4, qgroups on btrfs).
NODE_PKGS := containerd runc containernetworking-plugins busybox-static nftables iproute2 e2fsprogs btrfs-progs

# What the tests need besides: headless Chromium for the dashboard's
# end-to-end test (test/e2e/dashboard_test.go).
TEST_PKGS := chromium

all: build

deps:
	$(GO) mod download

# Installs the node packages when any is missing (needs root, as skiff does).
node-deps:
	@missing=; for b in containerd ctr runc nft ip /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/portmap /bin/busybox mkfs.ext4 mkfs.btrfs; do \
		command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then echo "installing node packages (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(NODE_PKGS) >/dev/null; fi

# Installs the test packages when any is missing (needs root).
test-deps:
	@missing=; for b in /usr/bin/chromium; do \
		command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
		if [ -n "$$missing" ]; then echo "installing test packages (missing:$$missing)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PKGS) >/dev/null; fi

build: deps
	$(GO) build -ldflags "$(SKIFF_LDFLAGS)" -o bin/skiff ./cmd/skiff
	$(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o bin/skiff-kubectl ./cmd/skiff-kubectl
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/skiff-pause ./cmd/skiff-pause

# Helm for the end-to-end tests (test/e2e/helm_test.go), from its own module
# tools/helm so skiff itself never depends on it; rebuilt only when that
# module's pins change.
helm: bin/helm

bin/helm: tools/helm/go.mod tools/helm/go.sum
	cd tools/helm && $(GO) build -ldflags "-s -w" -o ../../bin/helm helm.sh/helm/v3/cmd/helm

# Upstream's CSI external-attacher for the CSI integration test
# (internal/agent/integration/csi_test.go), from its own module
# tools/csi-attacher, as Helm.
csi-attacher: bin/csi-attacher

bin/csi-attacher: tools/csi-attacher/go.mod tools/csi-attacher/go.sum
	cd tools/csi-attacher && $(GO) build -ldflags "-s -w" -o ../../bin/csi-attacher github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher

# A small CSI external provisioner built on sig-storage-lib-external-provisioner
# (upstream's own is not available to the build) for the same test, from its
# own module tools/csi-provisioner.
csi-provisioner: bin/csi-provisioner

bin/csi-provisioner: tools/csi-provisioner/go.mod tools/csi-provisioner/go.sum tools/csi-provisioner/main.go
	cd tools/csi-provisioner && $(GO) build -ldflags "-s -w" -o ../../bin/csi-provisioner .

# Run skiff on this host with the admin kubeconfig in $(DATA_DIR).
# Use it with: bin/skiff kubectl get nodes (or KUBECONFIG=$(DATA_DIR)/admin.kubeconfig kubectl ...).
run: build node-deps
	./bin/skiff server --data-dir $(DATA_DIR) $(ARGS)

# Every test: unit, integration (in-process API server on embedded etcd, a
# three-member etcd cluster on loopback) and end to end (the real binaries
# driven by the bundled kubectl).
# The whole run needs about 10 GiB of disk for modules, build cache and
# test data; the free space is printed first so that a full disk is told
# apart from a failing test.
test: build helm csi-attacher csi-provisioner node-deps test-deps vet
	@df -h . "$$($(GO) env GOCACHE)" /tmp | sed 's/^/disk: /'
	SKIFF_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

# Upstream's [Conformance] specs (the suite of the version skiff serves, from
# its own module under test/conformance) against a fresh two-node cluster with
# real pods, then a summary per SIG; not part of `make test` (a cold build of
# the suite alone takes 10+ minutes). FOCUS, SKIP, VERSION=v1.34, PHASES and
# PROCS narrow or change a run (see test/conformance/run.sh).
conformance: build node-deps
	test/conformance/run.sh

bench: build
	./bin/skiff bench api --data-dir $$(mktemp -d)

fmt:
	gofmt -w cmd internal test

clean:
	rm -rf bin
