package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestServicesAcrossNodes runs a three-node cluster in network namespaces
// (a server and two agents) and checks what users rely on Services for:
// pod-to-pod traffic across nodes, a Service reached by name through the
// cluster DNS and load-balanced over its pods, from every node; NodePort
// and LoadBalancer on every node's address; rules that follow scaling and
// go away with the Service; NXDOMAIN for names that do not exist.
func TestServicesAcrossNodes(t *testing.T) {
	nc := startNetCluster(t, 2)
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: web}
      tolerations:
      - operator: Exists
      containers:
      - name: httpd
        image: %[1]s
        command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          tcpSocket: {port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: client
spec:
  selector:
    matchLabels: {app: client}
  template:
    metadata:
      labels: {app: client}
    spec:
      tolerations:
      - operator: Exists
      terminationGracePeriodSeconds: 1
      containers:
      - name: client
        image: %[1]s
        command: ["sleep", "3600"]
`, testImage)
	f := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	nc.kubectl(t, "apply", "-f", f)
	nc.kubectl(t, "rollout", "status", "deployment/web", "--timeout=180s")
	nc.kubectl(t, "rollout", "status", "daemonset/client", "--timeout=180s")

	webPods := podsByNode(t, nc, "app=web")
	if len(webPods) != len(nc.nodes) {
		t.Fatalf("web pods spread over %d nodes, want %d: %v", len(webPods), len(nc.nodes), webPods)
	}
	clients := podsByNode(t, nc, "app=client")
	if len(clients) != len(nc.nodes) {
		t.Fatalf("client pods on %d nodes, want %d: %v", len(clients), len(nc.nodes), clients)
	}
	clusterIP := strings.TrimSpace(nc.kubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))

	for _, n := range nc.nodes {
		client := clients[n.name][0]
		// Pod to pod, to every node, with no NAT in between.
		for node, web := range webPods {
			out, err := nc.kubectlErr("exec", client.name, "--", "timeout", "5", "wget", "-q", "-O-", "http://"+web[0].ip+":8080/")
			if err != nil || strings.TrimSpace(out) != web[0].name {
				t.Errorf("from %s to pod %s on %s: %q %v", n.name, web[0].ip, node, out, err)
			}
		}
		// The Service by its full name and by the short one the search
		// path completes, spread over its pods.
		waitUntil(t, 60*time.Second, "the Service load-balanced from "+n.name, func() (bool, string) {
			out, _ := nc.kubectlErr("exec", client.name, "--", "sh", "-c",
				"for i in $(seq 15); do timeout 5 wget -q -O- http://web.default.svc.cluster.local/; timeout 5 wget -q -O- http://web/; done")
			return len(distinctLines(out)) >= 2, out
		})
		out, _ := nc.kubectlErr("exec", client.name, "--", "nslookup", "web.default.svc.cluster.local")
		mustContain(t, "nslookup from "+n.name, out, clusterIP)
		out, err := nc.kubectlErr("exec", client.name, "--", "nslookup", "nope.default.svc.cluster.local")
		if err == nil || !strings.Contains(out, "NXDOMAIN") {
			t.Errorf("nslookup of a missing name from %s: %v\n%s", n.name, err, out)
		}
	}

	// The proxy subresources, through the API server: a pod on each node
	// (its first port when none is named), the Service by port number and
	// by the port's name, and each node's agent API.
	for node, web := range webPods {
		for _, name := range []string{web[0].name, web[0].name + ":8080", "http:" + web[0].name + ":8080"} {
			out, err := nc.kubectlErr("get", "--raw", "/api/v1/namespaces/default/pods/"+name+"/proxy/index.html")
			if err != nil || strings.TrimSpace(out) != web[0].name {
				t.Errorf("pods/%s/proxy on %s: %q %v", name, node, out, err)
			}
		}
		out, err := nc.kubectlErr("get", "--raw", "/api/v1/nodes/"+node+"/proxy/pods")
		if err != nil || !strings.Contains(out, `"kind":"PodList"`) || !strings.Contains(out, `"name":"`+web[0].name+`"`) {
			t.Errorf("nodes/%s/proxy/pods: %.300q %v", node, out, err)
		}
		out, err = nc.kubectlErr("get", "--raw", "/api/v1/nodes/"+node+"/proxy/healthz")
		if err != nil || strings.TrimSpace(out) != "ok" {
			t.Errorf("nodes/%s/proxy/healthz: %q %v", node, out, err)
		}
	}
	for _, name := range []string{"web", "web:80", "http:web:80"} {
		out, err := nc.kubectlErr("get", "--raw", "/api/v1/namespaces/default/services/"+name+"/proxy/")
		if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "web-") {
			t.Errorf("services/%s/proxy: %q %v", name, out, err)
		}
	}
	out, err := nc.kubectlErr("get", "--raw", "/api/v1/namespaces/default/services/web:nope/proxy/")
	mustContain(t, "services/web:nope/proxy", fmt.Sprint(out, err), `no service port "nope" found for service "web"`)

	// NodePort on every node's address, reached from another node.
	nodePort := strings.TrimSpace(nc.kubectl(t, "get", "service", "web-np", "-o", "jsonpath={.spec.ports[0].nodePort}"))
	from := nc.nodes[len(nc.nodes)-1]
	for _, n := range nc.nodes {
		out, err := from.in("timeout", "5", "busybox", "wget", "-q", "-O-", "http://"+n.ip+":"+nodePort+"/")
		if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "web-") {
			t.Errorf("NodePort %s on %s: %q %v", nodePort, n.ip, out, err)
		}
		// And on the node's own localhost.
		out, err = n.in("timeout", "5", "busybox", "wget", "-q", "-O-", "http://127.0.0.1:"+nodePort+"/")
		if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "web-") {
			t.Errorf("NodePort %s on localhost of %s: %q %v", nodePort, n.name, out, err)
		}
	}

	// LoadBalancer: the nodes' addresses in its status, answering there.
	nc.kubectl(t, "expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=8081", "--target-port=8080")
	var ingress []string
	waitUntil(t, 30*time.Second, "LoadBalancer ingress", func() (bool, string) {
		out, _ := nc.kubectlErr("get", "service", "web-lb", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		ingress = strings.Fields(out)
		return len(ingress) == len(nc.nodes), out
	})
	// Each node's proxy programs it as soon as it sees the endpoints.
	for _, ip := range ingress {
		waitUntil(t, 30*time.Second, "the LoadBalancer answering on "+ip, func() (bool, string) {
			out, err := from.in("timeout", "5", "busybox", "wget", "-q", "-O-", "http://"+ip+":8081/")
			return err == nil && strings.HasPrefix(strings.TrimSpace(out), "web-"), out
		})
	}

	// Scaling down leaves one endpoint: every answer comes from it.
	client := clients[nc.nodes[1].name][0]
	nc.kubectl(t, "scale", "deployment/web", "--replicas=1")
	waitUntil(t, 90*time.Second, "the Service following the scale-down", func() (bool, string) {
		pods := strings.Fields(nc.kubectl(t, "get", "pods", "-l", "app=web", "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"))
		out, _ := nc.kubectlErr("exec", client.name, "--", "sh", "-c", "for i in $(seq 10); do timeout 5 wget -q -O- http://web/; done")
		lines := distinctLines(out)
		return len(pods) == 1 && len(lines) == 1 && lines[0] == pods[0] && strings.Count(out, "\n") == 10, out
	})

	// Hairpin: the last pod reaches itself through its own Service.
	last := strings.Fields(nc.kubectl(t, "get", "pods", "-l", "app=web", "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(last) == 1 {
		out, err := nc.kubectlErr("exec", last[0], "--", "timeout", "5", "wget", "-q", "-O-", "http://web/")
		if err != nil || strings.TrimSpace(out) != last[0] {
			t.Errorf("hairpin from %s through its Service: %q %v", last[0], out, err)
		}
	}
	// A Service with no endpoints refuses connections at once.
	nc.kubectl(t, "create", "service", "clusterip", "empty", "--tcp=80:8080")
	waitUntil(t, 30*time.Second, "connection refused by a Service with no endpoints", func() (bool, string) {
		out, _ := nc.kubectlErr("exec", client.name, "--", "timeout", "5", "wget", "-q", "-O-", "http://empty/")
		return strings.Contains(out, "Connection refused"), out
	})

	// Deleting the Service removes its rules from every node.
	nc.kubectl(t, "delete", "service", "web")
	for _, n := range nc.nodes {
		waitUntil(t, 30*time.Second, "the deleted Service's rules gone on "+n.name, func() (bool, string) {
			out, err := n.in("nft", "list", "table", "ip", "skiff")
			return err == nil && !strings.Contains(out, clusterIP+" "), out
		})
	}
	out, err = nc.kubectlErr("exec", client.name, "--", "timeout", "5", "wget", "-q", "-O-", "http://"+clusterIP+"/")
	if err == nil {
		t.Errorf("the deleted Service still answers: %q", out)
	}

	// An agent killed and started again adopts its running pods: same
	// container, no restart.
	n := nc.nodes[2]
	victim := clients[n.name][0].name
	containerID := func() string {
		return nc.kubectl(t, "get", "pod", victim, "-o", "jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}")
	}
	before := containerID()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	n.start(t, nc.bin, n.cmd.Args[3:]...)
	// Ready stays True through a short outage; exec needs the agent.
	waitUntil(t, 90*time.Second, "exec through the restarted agent", func() (bool, string) {
		out, err := nc.kubectlErr("exec", victim, "--", "echo", "alive")
		return err == nil && strings.TrimSpace(out) == "alive", out
	})
	if after := containerID(); after != before {
		t.Errorf("the agent restart replaced or restarted the container: %q, then %q", before, after)
	}
}

type podRef struct{ name, ip string }

// podsByNode lists the running pods matching selector, by node.
func podsByNode(t *testing.T, nc *netCluster, selector string) map[string][]podRef {
	t.Helper()
	out := nc.kubectl(t, "get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.podIP}{"\n"}{end}`)
	byNode := map[string][]podRef{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			byNode[f[0]] = append(byNode[f[0]], podRef{name: f[1], ip: f[2]})
		}
	}
	return byNode
}

// distinctLines returns the different non-empty lines of out, sorted.
func distinctLines(out string) []string {
	seen := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}
