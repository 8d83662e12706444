#!/usr/bin/env bash
# Runs upstream's [Conformance] specs against a fresh two-node skiff cluster
# with real pods, then prints a summary per SIG.
#
# The cluster: `skiff server` and one `skiff agent`, each in its own network
# namespace on a bridge this script creates with no uplink (the nodes' default
# gateway is an address nobody holds), each with its own containerd. The test
# images are built here (images.sh) and imported by both nodes; the suite finds
# them under their local names through KUBE_TEST_REPO_LIST, and a registry in
# the server's namespace serves them too, for pulls. The suite runs
# inside the server's namespace, so it reaches node, pod and service addresses
# as a client on a node would.
#
# Two phases, each writing a JUnit report: parallel (everything but [Serial]
# and [Disruptive], PROCS ginkgo processes) then serial.
#
#   VERSION   suite version: v1.37 (default, the version skiff serves) or
#             v1.34 (client skew)
#   FOCUS     ginkgo focus regex (default: \[Conformance\])
#   SKIP      extra ginkgo skip regex
#   PHASES    "parallel serial" (default), or one of them
#   PROCS     ginkgo processes in the parallel phase (default 6)
#   OUT       output folder (default: _conformance/ in the repo)
#   SKIFF     the skiff binary the cluster runs (default: bin/skiff; skiff-kubectl
#             and skiff-pause must stand beside it, as make build puts them)
#   KUBECONFIG  run against that cluster instead of starting one (its nodes
#             must have the images imported)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
VERSION=${VERSION:-v1.37}
OUT=${OUT:-$root/_conformance}
FOCUS=${FOCUS:-'\[Conformance\]'}
SKIP=${SKIP:-}
PHASES=${PHASES:-parallel serial}
PROCS=${PROCS:-6}
SKIFF=${SKIFF:-$root/bin/skiff}
export GOTOOLCHAIN=local

case "$VERSION" in
v1.37) full=v1.37.2 ;;
v1.34) full=v1.34.4 ;;
*) echo "unknown VERSION $VERSION (v1.37 or v1.34)" >&2; exit 2 ;;
esac
mod="$here/$VERSION"
bin="$OUT/$VERSION"
mkdir -p "$bin"

# The suite and the ginkgo CLI, from the version's own module.
if [ ! -x "$bin/e2e.test" ] || [ "$mod/go.sum" -nt "$bin/e2e.test" ]; then
  echo "building e2e.test $full (cold: 10+ minutes on 2 cores)"
  minor=${full#v1.}; minor=${minor%%.*}
  ld=
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$full -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  done
  (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go test -c -vet=off -trimpath \
    -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$bin/e2e.test" k8s.io/kubernetes/test/e2e)
fi
if [ ! -x "$bin/ginkgo" ] || [ "$mod/go.sum" -nt "$bin/ginkgo" ]; then
  (cd "$mod" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin/ginkgo" github.com/onsi/ginkgo/v2/ginkgo)
fi

# The test images, under local names.
images="$bin/images"
"$here/images.sh" "$VERSION" "$images"
export KUBE_TEST_REPO_LIST="$images/repo-list.yaml"

run_in=()
if [ -z "${KUBECONFIG:-}" ]; then
  [ -x "$SKIFF" ] || { echo "bin/skiff missing: run make build" >&2; exit 2; }
  id=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
  bridge="skcf${id}br"
  subnet=192.168.233
  work=$(mktemp -d /tmp/skiff-conformance.XXXXXX)
  pids=()
  # kill_tree ends a process and everything below it.
  kill_tree() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -KILL "$1" 2>/dev/null
  }
  cleanup() {
    set +e
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      kill -TERM "${pids[$i]}" 2>/dev/null
      for _ in $(seq 200); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "${pids[$i]}" 2>/dev/null
      wait "${pids[$i]}" 2>/dev/null
    done
    for n in 0 1; do
      d="$work/node$n"
      # containerd's shims and their containers outlive it by design.
      for p in $(pgrep -f "containerd-shim.*$d" 2>/dev/null); do kill_tree "$p"; done
      grep -o " $d[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
      ip netns del "skcf-$id-$n" 2>/dev/null
    done
    ip link del "$bridge" 2>/dev/null
    # The pods' cgroups, once their processes are gone.
    find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d -exec rmdir {} \; 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
  }
  trap cleanup EXIT
  ip link add "$bridge" type bridge
  ip link set "$bridge" up
  for n in 0 1; do
    ns="skcf-$id-$n"
    ip netns add "$ns"
    ip link add "skcf${id}v$n" type veth peer name eth0 netns "$ns"
    ip link set "skcf${id}v$n" master "$bridge" up
    ip -n "$ns" addr add "$subnet.$((10 + n))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$subnet.254"
    mkdir -p "$work/node$n/images"
    for f in "$images"/*.tar; do ln "$f" "$work/node$n/images/" 2>/dev/null || cp "$f" "$work/node$n/images/"; done
  done
  run_in=(nsenter --net=/run/netns/skcf-$id-0)
  server_ip=$subnet.10
  # A registry holding the same images, on the server's address, for the
  # specs whose pods pull with imagePullPolicy: Always. Each node's containerd
  # reaches it for the images' registry name through a hosts.toml, so the
  # name is never looked up in DNS.
  (cd "$root" && go build -o "$work/registry" ./test/conformance/registry)
  "${run_in[@]}" "$work/registry" -addr "$server_ip:5000" -images "$images" -dir "$work/registry-blobs" \
    >"$work/registry.log" 2>&1 &
  pids+=($!)
  for n in 0 1; do
    mkdir -p "$work/node$n/containerd/certs.d/skiff.test"
    printf 'server = "http://%s:5000"\n\n[host."http://%s:5000"]\n  capabilities = ["pull", "resolve"]\n' \
      "$server_ip" "$server_ip" >"$work/node$n/containerd/certs.d/skiff.test/hosts.toml"
  done
  for _ in $(seq 600); do grep -q '^ready' "$work/registry.log" && break; sleep 0.1; done
  grep -q '^ready' "$work/registry.log" || { echo "registry not ready"; tail -n 20 "$work/registry.log"; exit 1; }
  nsenter --net=/run/netns/skcf-$id-0 "$SKIFF" server --data-dir "$work/node0" --node-name conformance-0 \
    --https-port 6443 --bind-address 0.0.0.0 --advertise-address "$server_ip" \
    --etcd-client-url https://127.0.0.1:0 --etcd-peer-url https://127.0.0.1:0 --log-level warn >"$work/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$work/node0/node-token" ] && break; sleep 0.1; done
  nsenter --net=/run/netns/skcf-$id-1 "$SKIFF" agent --server "https://$server_ip:6443" \
    --token-file "$work/node0/node-token" --data-dir "$work/node1" --node-name conformance-1 \
    --node-ip "$subnet.11" --log-level warn >"$work/agent.log" 2>&1 &
  pids+=($!)
  export KUBECONFIG="$work/node0/admin.kubeconfig"
  echo "waiting for two Ready nodes (logs in $work)"
  ready=
  for _ in $(seq 240); do
    n=$("${run_in[@]}" "$SKIFF" kubectl get nodes -o \
      'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c True || true)
    [ "$n" = 2 ] && { ready=1; break; }
    sleep 0.5
  done
  [ -n "$ready" ] || { echo "nodes not Ready"; tail -n 50 "$work/server.log" "$work/agent.log"; exit 1; }
fi

skip_extra=${SKIP:+|$SKIP}
reports=()
status=0
for phase in $PHASES; do
  report="$OUT/$VERSION/report-$phase"
  rm -rf "$report"
  mkdir -p "$report"
  start=$(date +%s)
  case "$phase" in
  parallel)
    "${run_in[@]}" "$bin/ginkgo" --procs="$PROCS" --timeout=3h --no-color \
      --focus="$FOCUS" --skip="\[Serial\]|\[Disruptive\]$skip_extra" \
      "$bin/e2e.test" -- --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$report" \
      --dump-logs-on-failure=false >"$report/run.log" 2>&1 || status=1 ;;
  serial)
    "${run_in[@]}" "$bin/e2e.test" --kubeconfig="$KUBECONFIG" --provider=skeleton --report-dir="$report" \
      --dump-logs-on-failure=false --ginkgo.no-color --ginkgo.timeout=3h \
      --ginkgo.focus="(\[Serial\]|\[Disruptive\]).*$FOCUS|$FOCUS.*(\[Serial\]|\[Disruptive\])" \
      ${SKIP:+--ginkgo.skip="$SKIP"} >"$report/run.log" 2>&1 || status=1 ;;
  *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
  echo "$phase phase: $(( $(date +%s) - start )) s wall, log $report/run.log"
  reports+=("$phase=$report")
done

(cd "$root" && go run ./test/conformance/summary "${reports[@]}") | tee "$OUT/$VERSION/summary.md" || true
exit $status
