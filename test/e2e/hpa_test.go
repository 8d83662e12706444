package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// TestHorizontalPodAutoscaling runs a Deployment whose pods burn cpu for
// every request (busybox httpd with a CGI script that counts to 400000),
// behind a Service, autoscaled on cpu utilization by an autoscaling/v2
// HPA with its own scale up and scale down behavior. A load pod in the
// cluster sends requests to the Service's ClusterIP for at most four
// minutes: the usage shows in kubectl top, the HPA scales the Deployment
// from 1 to at least 3 replicas, and once the load pod is gone and the
// scale-down window has passed, back to 1.
func TestHorizontalPodAutoscaling(t *testing.T) {
	c := startNode(t,
		// The HPA evaluates every 2 s, on usage read every 2 s.
		"--horizontal-pod-autoscaler-sync-period", "2s")
	manifest := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: burn-cgi
data:
  burn: |
    #!/bin/sh
    i=0
    while [ $i -lt 400000 ]; do i=$((i+1)); done
    echo "Content-Type: text/plain"
    echo
    echo "counted to $i on $(hostname)"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      containers:
      - name: httpd
        image: %[1]s
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        ports:
        - containerPort: 8080
        # A fifth of a cpu at most: four pods stay within a share of the host.
        resources:
          requests: {cpu: 50m}
          limits: {cpu: 200m}
        volumeMounts:
        - {name: cgi, mountPath: /www/cgi-bin}
      volumes:
      - name: cgi
        configMap: {name: burn-cgi, defaultMode: 0555}
---
apiVersion: v1
kind: Service
metadata:
  name: burn
spec:
  selector: {app: burn}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
      - {type: Pods, value: 2, periodSeconds: 5}
    scaleDown:
      stabilizationWindowSeconds: 10
      policies:
      - {type: Percent, value: 100, periodSeconds: 5}
`, testImage)
	f := filepath.Join(t.TempDir(), "burn.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	c.kubectl(t, "rollout", "status", "deployment/burn", "--timeout=120s")
	// The behavior is the HPA's own, kept as written.
	out := c.kubectl(t, "get", "hpa", "burn", "-o", "jsonpath={.spec.behavior.scaleUp.stabilizationWindowSeconds} {.spec.behavior.scaleDown.stabilizationWindowSeconds} {.spec.behavior.scaleUp.policies[0].value}")
	if strings.TrimSpace(out) != "0 10 2" {
		t.Fatalf("HPA behavior read back as %q, want windows 0 and 10 s and 2 pods per period up", out)
	}
	// Idle, the HPA computes from the metrics and keeps one replica.
	waitUntil(t, 120*time.Second, "the HPA to read the idle pod's cpu", func() (bool, string) {
		out, err := c.kubectlErr("get", "hpa", "burn", "-o", `jsonpath={.status.conditions[?(@.type=="ScalingActive")].status} {.status.currentMetrics[0].resource.current.averageUtilization} {.status.desiredReplicas}`)
		f := strings.Fields(out)
		return err == nil && len(f) == 3 && f[0] == "True" && f[2] == "1", out
	})

	clusterIP := strings.TrimSpace(c.kubectl(t, "get", "service", "burn", "-o", "jsonpath={.spec.clusterIP}"))
	if clusterIP == "" {
		t.Fatal("the burn service has no ClusterIP")
	}
	// Two clients in a row each, for at most four minutes.
	load := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: load
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: load
    image: %s
    command: ["timeout", "240", "sh", "-c", "for j in 1 2; do (while true; do wget -q -O /dev/null http://%s/cgi-bin/burn || sleep 1; done) & done; wait"]
`, testImage, clusterIP)
	lf := filepath.Join(t.TempDir(), "load.yaml")
	if err := os.WriteFile(lf, []byte(load), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", lf)
	t.Cleanup(func() { _, _ = c.kubectlErr("delete", "pod", "load", "--grace-period=1", "--ignore-not-found") })

	// kubectl top shows the burning pod and the node at work.
	waitUntil(t, 120*time.Second, "kubectl top pods to show a burn pod using cpu", func() (bool, string) {
		out, err := c.kubectlErr("top", "pods", "-l", "app=burn", "--no-headers")
		if err != nil {
			return false, out
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && milli(f[1]) > 0 {
				return true, out
			}
		}
		return false, out
	})
	out = c.kubectl(t, "top", "nodes", "--no-headers")
	if f := strings.Fields(out); len(f) < 2 || milli(f[1]) <= 0 {
		t.Errorf("kubectl top nodes: %q, want the node's cpu in use", out)
	}

	waitUntil(t, 180*time.Second, "the HPA to scale the burn deployment to 3 replicas at least", func() (bool, string) {
		out, err := c.kubectlErr("get", "deployment", "burn", "-o", "jsonpath={.spec.replicas} {.status.readyReplicas}")
		f := strings.Fields(out)
		if err != nil || len(f) != 2 {
			return false, out
		}
		want, _ := strconv.Atoi(f[0])
		ready, _ := strconv.Atoi(f[1])
		return want >= 3 && ready >= 3, out
	})
	out = c.kubectl(t, "get", "hpa", "burn", "-o", `jsonpath={.status.conditions[?(@.type=="AbleToScale")].reason} {.status.lastScaleTime}`)
	mustContain(t, "HPA status after the scale up", out, "SucceededRescale")

	// The load ends; past the 10 s scale-down window the HPA goes back to
	// one replica.
	c.kubectl(t, "delete", "pod", "load", "--grace-period=1", "--wait=true", "--timeout=60s")
	waitUntil(t, 180*time.Second, "the HPA to scale the burn deployment back to 1 replica", func() (bool, string) {
		out, err := c.kubectlErr("get", "deployment", "burn", "-o", "jsonpath={.spec.replicas}")
		return err == nil && strings.TrimSpace(out) == "1", out
	})
	waitUntil(t, 60*time.Second, "the HPA status to say so", func() (bool, string) {
		out, err := c.kubectlErr("get", "hpa", "burn", "-o", "jsonpath={.status.desiredReplicas}")
		return err == nil && strings.TrimSpace(out) == "1", out
	})
	t.Log(c.kubectl(t, "get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler", "-o", "custom-columns=REASON:.reason,MESSAGE:.message"))
}

// milli reads a kubectl top cpu figure ("12m", "1") in millicores; -1
// when it is not one.
func milli(s string) int64 {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return -1
	}
	return q.MilliValue()
}
