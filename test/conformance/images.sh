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
# KUBE_TEST_REPO_LIST=OUT/repo-list.yaml. Idempotent: a tarball is rewritten
# only when a program it holds changed.
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

# Our own small programs are relinked every run but replace the old binary
# only when they differ, so that unchanged images are not rewritten; the
# pinned upstream programs are built once.
build() { # build DIR OUT PACKAGE: go build in DIR, keeping OUT if unchanged
  local dir=$1 dst=$2 pkg=$3
  (cd "$dir" && go build -trimpath -ldflags=-s -o "$dst.new" "$pkg")
  if cmp -s "$dst.new" "$dst"; then rm -f "$dst.new"; else mv -f "$dst.new" "$dst"; fi
}
once() { # once DIR OUT PACKAGE: go build in DIR unless OUT exists
  [ -x "$2" ] || (cd "$1" && go build -trimpath -ldflags=-s -o "$2" "$3")
}
export GOFLAGS=-buildvcs=false
build "$root" "$bin/e2etools" ./test/conformance/images/cmd/e2etools
build "$root" "$bin/skiff-pause" ./cmd/skiff-pause
build "$root" "$bin/images" ./test/conformance/images
once "$root" "$bin/etcd" ./test/conformance/images/cmd/etcd
export GOFLAGS="-buildvcs=false -mod=mod"
once "$here/v1.37" "$bin/agnhost" k8s.io/kubernetes/test/images/agnhost
once "$here/v1.37" "$bin/sample-apiserver" k8s.io/sample-apiserver
[ -x /bin/busybox ] || { echo "images.sh: /bin/busybox missing: run make node-deps" >&2; exit 1; }
[ -x /bin/dash ] || { echo "images.sh: /bin/dash missing (Debian's dash)" >&2; exit 1; }
[ -x /bin/bash ] || { echo "images.sh: /bin/bash missing (Debian's bash)" >&2; exit 1; }

"$bin/images" -out "$out" -version "$version" -busybox /bin/busybox -tools "$bin/e2etools" \
  -agnhost "$bin/agnhost" -sample-apiserver "$bin/sample-apiserver" -etcd "$bin/etcd" -pause "$bin/skiff-pause" \
  -sh /bin/dash -bash /bin/bash
echo "images.sh: tarballs and repo-list.yaml in $out"
