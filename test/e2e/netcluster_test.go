package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
)

// netApplets are the commands of the image the network tests run.
var netApplets = append([]string{"seq", "sort", "uniq", "wc", "head", "grep", "tr"}, busyboxApplets...)

// netNode is one node of a netCluster: a network namespace on a test
// bridge, running `skiff server` (the first) or `skiff agent`.
type netNode struct {
	name    string // node name
	netns   string
	ip      string
	dataDir string
	cmd     *exec.Cmd
	log     *lockedBuffer
}

// netCluster is a cluster of network namespaces on this machine, joined by
// a bridge the test creates. Nothing in it can reach the host's networks:
// the bridge has no address on the host and no uplink, and the nodes'
// default gateway is an address nobody holds, so every packet stays among
// the addresses the test made.
type netCluster struct {
	*cluster
	bridge string
	nodes  []*netNode
}

// netSubnet is the nodes' network on the test bridge.
const netSubnet = "192.168.231."

// startNetCluster runs one `skiff server` and agents more nodes joined to
// it, each in its own network namespace with its own containerd, and waits
// until every node is Ready.
func startNetCluster(t *testing.T, agents int) *netCluster {
	t.Helper()
	nc := newNetCluster(t, agents+1)
	bin := binDir(t)
	server := nc.nodes[0]
	nc.cluster = &cluster{bin: bin, dataDir: server.dataDir, log: server.log, netns: server.netns}
	server.start(t, bin, "server", "--data-dir", server.dataDir, "--node-name", server.name,
		"--https-port", "6443", "--bind-address", "0.0.0.0", "--advertise-address", server.ip,
		"--etcd-client-url", "https://127.0.0.1:0", "--etcd-peer-url", "https://127.0.0.1:0", "--log-level", "info")
	nc.cmd = server.cmd
	tokenFile := waitToken(t, server)
	for _, n := range nc.nodes[1:] {
		n.start(t, bin, "agent", "--server", "https://"+server.ip+":6443", "--token-file", tokenFile,
			"--data-dir", n.dataDir, "--node-name", n.name, "--node-ip", n.ip, "--log-level", "info")
	}
	// On a timeout the last line names each node's Ready reason and message.
	waitUntil(t, 120*time.Second, "every node Ready", func() (bool, string) {
		out, err := nc.kubectlErr("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} ({.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}) {end}`)
		return err == nil && strings.Count(out, "=True") == len(nc.nodes), out
	})
	return nc
}

// waitToken waits for the server's join token and returns its file.
func waitToken(t *testing.T, server *netNode) string {
	t.Helper()
	tokenFile := filepath.Join(server.dataDir, "node-token")
	waitUntil(t, 30*time.Second, "the server's join token", func() (bool, string) {
		_, err := os.Stat(tokenFile)
		return err == nil, fmt.Sprint(err)
	})
	return tokenFile
}

// newNetCluster makes n network namespaces on a new bridge, each with a
// data dir holding the test image, and removes them when the test ends.
// Nothing runs in them yet.
func newNetCluster(t *testing.T, n int) *netCluster {
	t.Helper()
	containerdtest.Require(t, "/usr/lib/cni/bridge", "/bin/busybox", "nft", "nsenter", "ip")
	idb := make([]byte, 2)
	_, _ = rand.Read(idb)
	id := hex.EncodeToString(idb)
	nc := &netCluster{bridge: "skt" + id + "br"}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(t.TempDir(), "busybox.tar")
	if err := images.Write(image, images.Busybox(testImage, busybox, netApplets)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		nc.nodes = append(nc.nodes, &netNode{
			name:    fmt.Sprintf("skt-node%d", i),
			netns:   fmt.Sprintf("skt-%s-%d", id, i),
			ip:      fmt.Sprintf("%s%d", netSubnet, 10+i),
			dataDir: containerdtest.Dir(t),
			log:     &lockedBuffer{},
		})
	}
	// Registered after the data dirs, so it runs before they are removed.
	t.Cleanup(func() { nc.stop(t) })
	run(t, "ip", "link", "add", nc.bridge, "type", "bridge")
	run(t, "ip", "link", "set", nc.bridge, "up")
	for i, n := range nc.nodes {
		veth := fmt.Sprintf("skt%sv%d", id, i)
		run(t, "ip", "netns", "add", n.netns)
		run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns)
		run(t, "ip", "link", "set", veth, "master", nc.bridge, "up")
		run(t, "ip", "-n", n.netns, "addr", "add", n.ip+"/24", "dev", "eth0")
		run(t, "ip", "-n", n.netns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", n.netns, "link", "set", "lo", "up")
		// Like a real node, each has a default gateway; here it is an
		// address nobody holds on a bridge with no way out.
		run(t, "ip", "-n", n.netns, "route", "add", "default", "via", netSubnet+"254")
		if err := os.MkdirAll(filepath.Join(n.dataDir, "images"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(image, filepath.Join(n.dataDir, "images", "busybox.tar")); err != nil {
			t.Fatal(err)
		}
	}
	return nc
}

// start runs skiff with args in the node's namespace.
func (n *netNode) start(t *testing.T, bin string, args ...string) {
	t.Helper()
	n.cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.netns, filepath.Join(bin, "skiff")}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// in runs a host program inside the node's namespace (busybox wget as a
// client on that node, nft to read its rules).
func (n *netNode) in(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + n.netns}, args...)...).CombinedOutput()
	return string(out), err
}

// stop deletes the workloads (so each agent stops its containers), stops
// the agents and the server, and removes the namespaces and the bridge.
func (nc *netCluster) stop(t *testing.T) {
	if nc.cluster != nil && nc.cmd != nil {
		_, _ = nc.kubectlErr("delete", "deployments,daemonsets,pods", "--all", "-A", "--grace-period=1", "--wait=true", "--timeout=60s")
	}
	for i := len(nc.nodes) - 1; i >= 0; i-- {
		n := nc.nodes[i]
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		stopProcess(n.cmd, 20*time.Second)
	}
	for _, n := range nc.nodes {
		killShims(n.dataDir)
		_ = exec.Command("ip", "netns", "del", n.netns).Run()
		if t.Failed() {
			t.Logf("%s (%s) log:\n%s", n.name, n.netns, n.log.String())
		}
	}
	_ = exec.Command("ip", "link", "del", nc.bridge).Run()
}

// run runs a command on the host and fails the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
