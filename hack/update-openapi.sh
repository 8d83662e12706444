#!/usr/bin/env bash
# Regenerates internal/apiserver/openapi/generated from the k8s.io/api and
# k8s.io/apimachinery packages skiff serves.
#
# openapi-gen runs at the kube-openapi version go.mod pins (a newer one needs a
# newer Go). `go run pkg@version` keeps its own dependencies (gengo) out of
# skiff's go.mod. API rule violations are upstream's, not ours: they go to
# hack/openapi-violations.txt so the run never fails on them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export GOTOOLCHAIN=local

KUBE_OPENAPI_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kube-openapi)"

PKGS=(
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/autoscaling/v1
  k8s.io/api/autoscaling/v2
  k8s.io/api/policy/v1
  k8s.io/api/networking/v1
  k8s.io/api/discovery/v1
  k8s.io/api/rbac/v1
  k8s.io/api/coordination/v1
  k8s.io/api/storage/v1
  k8s.io/api/scheduling/v1
  # batch/v1 Job.spec.schedulingConfiguration refers to these alpha types.
  k8s.io/api/scheduling/v1alpha3
  k8s.io/api/events/v1
  k8s.io/api/node/v1
  k8s.io/api/certificates/v1
  k8s.io/api/resource/v1
  k8s.io/api/admissionregistration/v1
  k8s.io/api/authentication/v1
  k8s.io/api/authorization/v1
  k8s.io/api/flowcontrol/v1
  k8s.io/api/storagemigration/v1
  k8s.io/kube-aggregator/pkg/apis/apiregistration/v1
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/version
)

OUT=internal/apiserver/openapi/generated

go run "k8s.io/kube-openapi/cmd/openapi-gen@${KUBE_OPENAPI_VERSION}" \
  --output-dir "${OUT}" \
  --output-pkg skiff/"${OUT}" \
  --output-file zz_generated.openapi.go \
  --go-header-file /dev/null \
  --report-filename hack/openapi-violations.txt \
  "${PKGS[@]}"

gofmt -l "${OUT}" | xargs -r gofmt -w
