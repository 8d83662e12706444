#!/usr/bin/env bash
# Builds upstream's e2e.test (v1.34.4) and runs its [Conformance] specs
# against a skiff server started here, writing a JUnit report.
#
#   FOCUS    ginkgo focus regex (default: the API-machinery conformance specs)
#   SKIP     ginkgo skip regex (default: serial, disruptive and flaky specs, and
#            the specs that need pods running real containers: webhooks,
#            CRD conversion webhooks and the sample aggregated API server,
#            which the simulated nodes this script starts cannot run)
#   REPORT   report folder (default: _conformance/ in the repo)
#   KUBECONFIG  run against that cluster instead of starting one
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/_conformance"
mkdir -p "$out"
REPORT=${REPORT:-$out/report}
FOCUS=${FOCUS:-'\[sig-api-machinery\].*\[Conformance\]'}
SKIP=${SKIP:-'\[Serial\]|\[Disruptive\]|\[Flaky\]|AdmissionWebhook|CustomResourceConversionWebhook|Aggregator|CustomResourceFieldSelectors'}
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

cd "$here"
if [ ! -x "$out/e2e.test" ]; then
  echo "building e2e.test (cold: 10+ minutes on 2 cores)"
  v=v1.34.4
  ld="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=34"
  CGO_ENABLED=0 go test -c -vet=off -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$out/e2e.test" k8s.io/kubernetes/test/e2e
fi

if [ -z "${KUBECONFIG:-}" ]; then
  data=$(mktemp -d)
  "$root/bin/skiff" server --data-dir "$data" --https-port 0 --bind-address 127.0.0.1 \
    --etcd-client-url http://127.0.0.1:0 --etcd-peer-url http://127.0.0.1:0 --disable-agent --log-level error &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
  export KUBECONFIG="$data/admin.kubeconfig"
  for _ in $(seq 100); do "$root/bin/skiff" kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.1; done
  # The suite waits for Ready nodes: simulated ones are enough for API specs.
  "$root/bin/skiff" sim --nodes 2 --kubeconfig "$KUBECONFIG" >/dev/null 2>&1 &
  simpid=$!
  trap 'kill $simpid $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
fi

mkdir -p "$REPORT"
"$out/e2e.test" --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$REPORT" \
  --ginkgo.focus="$FOCUS" --ginkgo.skip="$SKIP" --ginkgo.no-color --ginkgo.timeout=2h "$@" | tee "$out/run.log"
