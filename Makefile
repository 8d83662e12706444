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

.PHONY: all build run test test-unit test-e2e bench clean deps fmt vet

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -ldflags "$(SKIFF_LDFLAGS)" -o bin/skiff ./cmd/skiff
	$(GO) build -ldflags "$(KUBECTL_LDFLAGS)" -o bin/skiff-kubectl ./cmd/skiff-kubectl

# Run skiff on this host with the admin kubeconfig in $(DATA_DIR).
# Use it with: bin/skiff kubectl get nodes (or KUBECONFIG=$(DATA_DIR)/admin.kubeconfig kubectl ...).
run: build
	./bin/skiff server --data-dir $(DATA_DIR) $(ARGS)

# Every test: unit, integration (in-process API server on embedded etcd, a
# three-member etcd cluster on loopback) and end to end (the real binaries
# driven by the bundled kubectl).
test: build vet
	SKIFF_BIN_DIR=$(CURDIR)/bin $(GO) test -count=1 -timeout 30m ./...

vet:
	$(GO) vet ./...

bench: build
	./bin/skiff bench api --data-dir $$(mktemp -d)

fmt:
	gofmt -w cmd internal test

clean:
	rm -rf bin
