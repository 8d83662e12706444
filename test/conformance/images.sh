#!/usr/bin/env bash
# Builds the container images upstream's conformance suite runs, from
# source, as docker-archive tarballs for skiff's nodes, plus the
# KUBE_TEST_REPO_LIST file that names them for e2e.test.
#
#   test/conformance/images.sh [VERSION [OUT]]
#
#   VERSION  v1.37 (default) or v1.34
#   OUT      folder for the tarballs and repo-list.yaml
#            (default: _conformance/VERSION/images in the repo)
#
# Put the tarballs in <data-dir>/images of every node (hard links or
# copies) before it starts, and run e2e.test with
# KUBE_TEST_REPO_LIST=OUT/repo-list.yaml. Idempotent: programs are rebuilt
# only when their sources changed and tarballs only when their programs did.
# agnhost and the sample API server come from the v1.37 suite module (the
# v1.34 module does not pin them), also for v1.34's tags.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=${1:-v1.37}
out=${2:-$root/_conformance/$version/images}
bin=$root/_conformance/image-bin
mkdir -p "$bin" "$out"
export GOTOOLCHAIN=local CGO_ENABLED=0

# go build leaves an up-to-date binary untouched, so reruns are cheap.
(
  cd "$root"
  export GOFLAGS=-buildvcs=false
  go build -trimpath -ldflags=-s -o "$bin/e2etools" ./test/conformance/images/cmd/e2etools
  go build -trimpath -ldflags=-s -o "$bin/etcd" ./test/conformance/images/cmd/etcd
  go build -trimpath -ldflags=-s -o "$bin/skiff-pause" ./cmd/skiff-pause
  go build -trimpath -o "$bin/images" ./test/conformance/images
)
(
  cd "$here/v1.37"
  export GOFLAGS="-buildvcs=false -mod=mod"
  go build -trimpath -ldflags=-s -o "$bin/agnhost" k8s.io/kubernetes/test/images/agnhost
  go build -trimpath -ldflags=-s -o "$bin/sample-apiserver" k8s.io/sample-apiserver
)
[ -x /bin/busybox ] || { echo "images.sh: /bin/busybox missing: run make node-deps" >&2; exit 1; }

"$bin/images" -out "$out" -version "$version" -busybox /bin/busybox -tools "$bin/e2etools" \
  -agnhost "$bin/agnhost" -sample-apiserver "$bin/sample-apiserver" -etcd "$bin/etcd" -pause "$bin/skiff-pause"
echo "images.sh: tarballs and repo-list.yaml in $out"
