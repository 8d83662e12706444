package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubectlSession drives the bundled kubectl through the everyday
// workflow against a real `skiff server`.
func TestKubectlSession(t *testing.T) {
	c := startCluster(t)
	app := filepath.Join("testdata", "app.yaml")

	out := c.kubectl(t, "version")
	mustContain(t, "version", out, "Client Version: v1.37", "Server Version: v1.37")

	out = c.kubectl(t, "create", "namespace", "demo")
	mustContain(t, "create namespace", out, "namespace/demo created")

	out = c.kubectl(t, "apply", "-n", "demo", "-f", app)
	mustContain(t, "apply", out, "configmap/web-config created", "secret/web-secret created", "deployment.apps/web created", "service/web created")
	out = c.kubectl(t, "apply", "-n", "demo", "-f", app)
	mustContain(t, "re-apply", out, "configmap/web-config unchanged", "deployment.apps/web unchanged")

	out = c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "yaml")
	mustContain(t, "-o yaml", out, "kind: Deployment", "replicas: 2", "maxSurge: 25%", "revisionHistoryLimit: 10",
		"kubectl.kubernetes.io/last-applied-configuration")
	out = c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "yaml", "--show-managed-fields")
	mustContain(t, "--show-managed-fields", out, "managedFields:", "manager: kubectl-client-side-apply", "operation: Update")
	out = c.kubectl(t, "get", "cm", "web-config", "-n", "demo", "-o", "json")
	mustContain(t, "-o json", out, `"greeting": "hello"`, `"kind": "ConfigMap"`)
	out = c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	if strings.TrimSpace(out) != "busybox:1.36" {
		t.Errorf("jsonpath: %q", out)
	}
	out = c.kubectl(t, "get", "svc", "-n", "demo", "-o", "wide")
	mustContain(t, "svc -o wide", out, "NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "SELECTOR", "web", "ClusterIP", "80/TCP", "app=web", "10.43.")
	out = c.kubectl(t, "get", "deploy", "-n", "demo", "-o", "wide")
	mustContain(t, "deploy -o wide", out, "READY", "UP-TO-DATE", "AVAILABLE", "CONTAINERS", "IMAGES", "0/2", "httpd", "busybox:1.36")
	out = c.kubectl(t, "get", "cm,secret", "-n", "demo", "-l", "app=web")
	mustContain(t, "-l", out, "configmap/web-config", "secret/web-secret", "Opaque")
	out = c.kubectl(t, "get", "cm", "-n", "demo", "--field-selector", "metadata.name=web-config")
	mustContain(t, "--field-selector", out, "web-config")
	if strings.Contains(out, "kube-root-ca") {
		t.Errorf("field selector let other objects through:\n%s", out)
	}
	out = c.kubectl(t, "get", "secret", "web-secret", "-n", "demo", "-o", "jsonpath={.data.password}")
	if strings.TrimSpace(out) != "czNjcmV0" {
		t.Errorf("stringData not stored as data: %q", out)
	}
	out = c.kubectl(t, "get", "namespaces")
	mustContain(t, "get namespaces", out, "default", "kube-system", "demo", "Active")

	out = c.kubectl(t, "describe", "deployment", "web", "-n", "demo")
	mustContain(t, "describe", out, "Name:", "web", "Replicas:", "2 desired", "StrategyType:", "RollingUpdate", "Pod Template:")

	c.kubectl(t, "label", "cm", "web-config", "-n", "demo", "tier=frontend")
	c.kubectl(t, "annotate", "cm", "web-config", "-n", "demo", "note=hi")
	out = c.kubectl(t, "get", "cm", "-n", "demo", "-l", "tier=frontend", "-o", "jsonpath={.items[*].metadata.annotations.note}")
	if strings.TrimSpace(out) != "hi" {
		t.Errorf("label/annotate: %q", out)
	}

	c.kubectl(t, "patch", "cm", "web-config", "-n", "demo", "--type", "merge", "-p", `{"data":{"merge":"1"}}`)
	c.kubectl(t, "patch", "cm", "web-config", "-n", "demo", "--type", "json", "-p", `[{"op":"add","path":"/data/json","value":"2"}]`)
	genBefore := strings.TrimSpace(c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.metadata.generation}"))
	c.kubectl(t, "patch", "deploy", "web", "-n", "demo", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"busybox:1.37"}]}}}}`)
	out = c.kubectl(t, "get", "cm", "web-config", "-n", "demo", "-o", "jsonpath={.data.merge}{.data.json}")
	if strings.TrimSpace(out) != "12" {
		t.Errorf("merge+json patch: %q", out)
	}
	out = c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}")
	var image string
	var gen, before int
	fmt.Sscan(out, &image, &gen)
	fmt.Sscan(genBefore, &before)
	if image != "busybox:1.37" || gen <= before {
		t.Errorf("strategic patch: %q (generation before %d)", out, before)
	}

	out = c.kubectl(t, "scale", "deploy", "web", "-n", "demo", "--replicas=3")
	mustContain(t, "scale", out, "deployment.apps/web scaled")
	out = c.kubectl(t, "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas}")
	if strings.TrimSpace(out) != "3" {
		t.Errorf("scale: replicas %q", out)
	}

	// edit through an editor script that changes the greeting.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/greeting: hello/greeting: edited/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Setenv("KUBE_EDITOR", editor)
	out = c.kubectl(t, "edit", "cm", "web-config", "-n", "demo")
	os.Unsetenv("KUBE_EDITOR")
	mustContain(t, "edit", out, "configmap/web-config edited")
	out = c.kubectl(t, "get", "cm", "web-config", "-n", "demo", "-o", "jsonpath={.data.greeting}")
	if strings.TrimSpace(out) != "edited" {
		t.Errorf("edit: greeting %q", out)
	}

	// diff exits 1 when the live objects differ from the file.
	out, err := c.kubectlErr("diff", "-n", "demo", "-f", app)
	if err == nil {
		t.Errorf("diff found no difference:\n%s", out)
	}
	mustContain(t, "diff", out, "greeting")

	out = c.kubectl(t, "explain", "deployment.spec.replicas")
	mustContain(t, "explain", out, "KIND:", "Deployment", "replicas", "integer")
	out = c.kubectl(t, "api-resources")
	mustContain(t, "api-resources", out, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND",
		"pods", "po", "deployments", "deploy", "apps/v1", "cronjobs", "batch/v1", "leases", "coordination.k8s.io/v1")
	out = c.kubectl(t, "api-versions")
	mustContain(t, "api-versions", out, "v1\n", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "autoscaling/v2")

	// Errors users see for bad manifests.
	out = c.kubectlFails(t, "apply", "-n", "demo", "-f", filepath.Join("testdata", "bad-field.yaml"))
	mustContain(t, "unknown field", out, "bogus")
	out = c.kubectlFails(t, "apply", "-n", "demo", "-f", filepath.Join("testdata", "bad-name.yaml"))
	mustContain(t, "bad name", out, "Invalid value: \"Bad_Name\"")
	out = c.kubectlFails(t, "apply", "-n", "demo", "-f", filepath.Join("testdata", "bad-deploy.yaml"))
	mustContain(t, "selector mismatch", out, "is invalid", "spec.template.metadata.labels")
	out = c.kubectlFails(t, "get", "widgets")
	mustContain(t, "unknown resource", out, "the server doesn't have a resource type \"widgets\"")
	out = c.kubectlFails(t, "get", "cm", "nope", "-n", "demo")
	mustContain(t, "not found", out, `configmaps "nope" not found`)

	// get -w sees a change made while it watches.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := c.kubectlCmd(ctx, "get", "cm", "-n", "demo", "-w", "--output-watch-events")
	pipe, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The initial listing comes first; then a new object must show up.
	waitLine(t, lines, "web-config")
	c.kubectl(t, "create", "configmap", "watched", "-n", "demo", "--from-literal=a=b")
	waitLine(t, lines, "watched")
	cancel()
	_ = w.Wait()

	// delete with --cascade and --wait.
	out = c.kubectl(t, "delete", "deploy", "web", "-n", "demo", "--cascade=background", "--wait")
	mustContain(t, "delete deploy", out, `deployment.apps "web" deleted`)
	out = c.kubectl(t, "delete", "-n", "demo", "cm", "watched", "--cascade=background", "--wait=true")
	mustContain(t, "delete cm", out, `configmap "watched" deleted`)
	c.kubectlFails(t, "get", "deploy", "web", "-n", "demo")
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch output ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no watch line with %q", want)
		}
	}
}
