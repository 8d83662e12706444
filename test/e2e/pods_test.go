package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"skiff/internal/containerd/containerdtest"
	"skiff/internal/images"
)

// busyboxApplets are the commands the test image offers.
var busyboxApplets = []string{"sh", "httpd", "sleep", "echo", "cat", "ls", "env", "wget", "hostname", "false", "true", "nslookup", "timeout"}

const testImage = "localhost/skiff/busybox:e2e"

// startNode runs `skiff server` with its agent: containerd, CNI and real
// containers on this host. Everything the run creates (pods, shims,
// mounts, the bridge, the nftables table) is removed at cleanup. args
// are more flags for `skiff server`.
func startNode(t *testing.T, args ...string) *cluster {
	t.Helper()
	containerdtest.Require(t, "/usr/lib/cni/bridge", "/bin/busybox", "nft")
	bin := binDir(t)
	dir := containerdtest.Dir(t)
	// The test image is imported at start from the data dir's images folder.
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := images.Write(filepath.Join(dir, "images", "busybox.tar"), images.Busybox(testImage, busybox, busyboxApplets)); err != nil {
		t.Fatal(err)
	}
	// The proxy turns on route_localnet for NodePorts on 127.0.0.1; put
	// the host's setting back afterwards.
	const localnet = "/proc/sys/net/ipv4/conf/all/route_localnet"
	if before, err := os.ReadFile(localnet); err == nil {
		t.Cleanup(func() { _ = os.WriteFile(localnet, before, 0o644) })
	}
	c := &cluster{bin: bin, dataDir: dir, log: &lockedBuffer{}}
	c.cmd = exec.Command(filepath.Join(bin, "skiff"), "server", "--data-dir", dir, "--https-port", "0", "--bind-address", "127.0.0.1",
		"--etcd-client-url", "https://127.0.0.1:0", "--etcd-peer-url", "https://127.0.0.1:0", "--log-level", "info",
		// kubectl top has figures after two readings of the node.
		"--metric-resolution", "2s")
	c.cmd.Args = append(c.cmd.Args, args...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stopNode(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.kubectlErr("get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}")
		if err == nil && strings.Contains(out, "True") {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready: %v %s\n%s", err, out, c.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopNode deletes every pod (so the agent stops their containers), stops
// skiff, then removes what is left on the host.
func (c *cluster) stopNode(t *testing.T) {
	_, _ = c.kubectlErr("delete", "deployments,pods", "--all", "-A", "--grace-period=1", "--wait=true", "--timeout=60s")
	stopProcess(c.cmd, 20*time.Second)
	killShims(c.dataDir)
	_ = exec.Command("nft", "delete", "table", "ip", "skiff").Run()
	_ = exec.Command("ip", "link", "del", "skiff0").Run()
	_ = exec.Command("ip", "route", "del", "unreachable", "10.42.0.0/16", "proto", "73").Run()
	if t.Failed() {
		t.Logf("skiff server log:\n%s", c.log.String())
	}
}

func TestPodsOnOneNode(t *testing.T) {
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: %s
        command: ["sh", "-c", "echo hello from $(hostname) > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports:
        - containerPort: 8080
`, testImage)
	f := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	out := c.kubectl(t, "rollout", "status", "deployment/web", "--timeout=120s")
	mustContain(t, "rollout status", out, "successfully rolled out")
	ips := strings.Fields(c.kubectl(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.podIP}"))
	if len(ips) != 2 {
		t.Fatalf("pod IPs %v", ips)
	}
	checkResourceStats(t, c)
	for _, ip := range ips {
		if !strings.HasPrefix(ip, "10.42.") {
			t.Errorf("pod IP %s outside the pod CIDR", ip)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ip + ":8080/")
		if err != nil {
			t.Errorf("pod %s does not answer: %v", ip, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "hello from web-") {
			t.Errorf("pod %s answered %q", ip, body)
		}
	}
	out = c.kubectl(t, "get", "pods", "-o", "wide")
	mustContain(t, "get pods", out, "Running", "1/1")

	// A pod whose name is longer than a hostname may be runs, with its
	// name cut to 63 characters as its hostname, and every container
	// sees a hosts file the agent manages: its address, its hostname and
	// its host aliases.
	long := "a-pod-whose-name-is-longer-than-the-sixty-three-characters-a-hostname-may-be"
	hostname := strings.TrimRight(long[:63], "-.")
	longPod := filepath.Join(t.TempDir(), "long.yaml")
	if err := os.WriteFile(longPod, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  hostAliases:
  - {ip: 10.9.8.7, hostnames: [alias.example]}
  containers:
  - {name: main, image: %s, command: [sleep, "3600"]}
`, long, testImage)), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", longPod)
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/"+long, "--timeout=60s")
	out = c.kubectl(t, "exec", long, "--", "hostname")
	if strings.TrimSpace(out) != hostname {
		t.Errorf("hostname of a long-named pod = %q, want %q", out, hostname)
	}
	ip := strings.TrimSpace(c.kubectl(t, "get", "pod", long, "-o", "jsonpath={.status.podIP}"))
	out = c.kubectl(t, "exec", long, "--", "cat", "/etc/hosts")
	if !strings.HasPrefix(out, "# Kubernetes-managed hosts file.\n") {
		t.Errorf("/etc/hosts is not the managed one:\n%s", out)
	}
	mustContain(t, "/etc/hosts", out, ip+"\t"+hostname+"\n", "10.9.8.7\talias.example\n")

	// A pod that exits with restartPolicy Never ends Failed with its code.
	c.kubectl(t, "run", "fails", "--image="+testImage, "--restart=Never", "--command", "--", "sh", "-c", "exit 3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		phase := c.kubectl(t, "get", "pod", "fails", "-o", "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}")
		if strings.TrimSpace(phase) == "Failed 3" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("pod fails: %q", phase)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// killTree kills pid and every process below it, deepest first.
func killTree(pid string) {
	children := map[string][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The parent PID is the second field after the command in parentheses.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 {
			children[f[1]] = append(children[f[1]], e.Name())
		}
	}
	var walk func(p string)
	walk = func(p string) {
		for _, c := range children[p] {
			walk(c)
		}
		_ = exec.Command("kill", "-9", p).Run()
	}
	walk(pid)
}

// TestPodConfigAndVolumes checks env from a ConfigMap and a Secret, a
// mounted ConfigMap that follows updates, the service account volume, and
// CreateContainerConfigError for a missing ConfigMap.
func TestPodConfigAndVolumes(t *testing.T) {
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  GREETING: hello
  page: v1
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  PASSWORD: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: configured
spec:
  containers:
  - name: web
    image: %[1]s
    command: ["sh", "-c", "env > /srv/env.txt && cat /var/run/secrets/kubernetes.io/serviceaccount/namespace > /srv/ns.txt && exec httpd -f -p 8080 -h /srv"]
    env:
    - name: PASS
      valueFrom:
        secretKeyRef: {name: app-secret, key: PASSWORD}
    - name: MSG
      value: "$(GREETING) from $(MY_POD)"
    - name: MY_POD
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
    envFrom:
    - configMapRef: {name: app-config}
      prefix: CM_
    - configMapRef: {name: app-config}
    volumeMounts:
    - name: cfg
      mountPath: /srv/cfg
  volumes:
  - name: cfg
    configMap: {name: app-config}
---
apiVersion: v1
kind: Pod
metadata:
  name: misconfigured
spec:
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
    env:
    - name: X
      valueFrom:
        configMapKeyRef: {name: nope, key: x}
`, testImage)
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/configured", "--timeout=120s")
	ip := strings.TrimSpace(c.kubectl(t, "get", "pod", "configured", "-o", "jsonpath={.status.podIP}"))
	get := func(path string) (string, error) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ip + ":8080" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(b), err
	}
	env, err := get("/env.txt")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "env", env, "PASS=s3cret", "GREETING=hello", "CM_GREETING=hello", "CM_page=v1", "MSG=hello from $(MY_POD)")
	if ns, err := get("/ns.txt"); err != nil || ns != "default" {
		t.Errorf("service account namespace file = %q, %v", ns, err)
	}
	if page, err := get("/cfg/page"); err != nil || page != "v1" {
		t.Fatalf("mounted page = %q, %v", page, err)
	}

	// The mounted file follows the ConfigMap, within the agent's resync.
	// It is read through exec: pod IPs of other test clusters on this host
	// may shadow this one's over time.
	c.kubectl(t, "patch", "configmap", "app-config", "-p", `{"data":{"page":"v2"}}`)
	deadline := time.Now().Add(90 * time.Second)
	for {
		page, err := c.kubectlErr("exec", "configured", "--", "cat", "/srv/cfg/page")
		if err == nil && page == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mounted page still %q (%v) after the update", page, err)
		}
		time.Sleep(time.Second)
	}
	out := c.kubectl(t, "get", "pod", "configured", "-o", "jsonpath={.status.containerStatuses[0].restartCount}")
	if out != "0" {
		t.Errorf("restartCount = %s, want 0", out)
	}

	deadline = time.Now().Add(60 * time.Second)
	for {
		out := c.kubectl(t, "get", "pod", "misconfigured", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}")
		if out == `CreateContainerConfigError|configmap "nope" not found` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("misconfigured pod waiting = %q", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkResourceStats reads the node's /stats/summary and /metrics/resource
// through the API server: the web pods' containers, run by containerd,
// use memory and have run on a CPU.
func checkResourceStats(t *testing.T, c *cluster) {
	t.Helper()
	node := strings.TrimSpace(c.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	waitUntil(t, 60*time.Second, "the web pods in the node's summary", func() (bool, string) {
		out, err := c.kubectlErr("get", "--raw", "/api/v1/nodes/"+node+"/proxy/stats/summary")
		if err != nil {
			return false, out
		}
		var summary statsv1alpha1.Summary
		if err := json.Unmarshal([]byte(out), &summary); err != nil {
			return false, err.Error()
		}
		web := 0
		for _, p := range summary.Pods {
			if !strings.HasPrefix(p.PodRef.Name, "web-") {
				continue
			}
			for _, ct := range p.Containers {
				if ct.Name == "httpd" && ct.Memory != nil && ct.Memory.WorkingSetBytes != nil && *ct.Memory.WorkingSetBytes > 0 &&
					ct.CPU != nil && ct.CPU.UsageCoreNanoSeconds != nil && *ct.CPU.UsageCoreNanoSeconds > 0 {
					web++
				}
			}
		}
		return web == 2 && summary.Node.Memory != nil && summary.Node.CPU != nil, out
	})
	out := c.kubectl(t, "get", "--raw", "/api/v1/nodes/"+node+"/proxy/metrics/resource")
	mustContain(t, "/metrics/resource", out, "node_cpu_usage_seconds_total", `container_memory_working_set_bytes{container="httpd",namespace="default",pod="web-`)

	// The API server's metrics API has them too, once it has read the
	// node twice: the web pods' httpd use memory (a busybox httpd uses
	// less than the MiB kubectl top rounds to, so the figure is read from
	// the API), and kubectl top lists them.
	waitUntil(t, 60*time.Second, "the web pods in the metrics API", func() (bool, string) {
		out, err := c.kubectlErr("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb")
		if err != nil {
			return false, out
		}
		var list metricsv1beta1.PodMetricsList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return false, err.Error()
		}
		web := 0
		for _, p := range list.Items {
			for _, ct := range p.Containers {
				if ct.Name == "httpd" && !ct.Usage.Memory().IsZero() {
					web++
				}
			}
		}
		return web == 2, out
	})
	out = c.kubectl(t, "top", "pods", "-l", "app=web", "--containers", "--no-headers")
	web := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// POD NAME CPU(cores) MEMORY(bytes)
		if f := strings.Fields(line); len(f) == 4 && strings.HasPrefix(f[0], "web-") && f[1] == "httpd" {
			web++
		}
	}
	if web != 2 {
		t.Errorf("kubectl top pods --containers lists %d web httpd containers, want 2:\n%s", web, out)
	}
	out, err := c.kubectlErr("top", "nodes", "--no-headers")
	if f := strings.Fields(out); err != nil || len(f) < 5 || f[0] != node || f[3] == "0Mi" {
		t.Errorf("kubectl top nodes: %v\n%s", err, out)
	}
}
