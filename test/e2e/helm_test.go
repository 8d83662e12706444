package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helmChart is the test chart: a CRD in crds/, and in templates/ a
// Deployment, a ConfigMap and a custom resource of that CRD.
const helmChart = "testdata/charts/widgets"

// helmRunner runs bin/helm against one cluster with its own Helm homes.
type helmRunner struct {
	bin string
	env []string
}

// newHelm finds bin/helm (make test builds it) and points it at the
// cluster's admin kubeconfig.
func newHelm(t *testing.T, c *cluster) *helmRunner {
	t.Helper()
	bin := filepath.Join(c.bin, "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm missing in %s (build it with `make helm`): %v", c.bin, err)
	}
	home := t.TempDir()
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KUBECONFIG=") && !strings.HasPrefix(e, "HELM_") && !strings.HasPrefix(e, "HOME=") {
			env = append(env, e)
		}
	}
	env = append(env,
		"KUBECONFIG="+filepath.Join(c.dataDir, "admin.kubeconfig"),
		"HOME="+home,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	return &helmRunner{bin: bin, env: env}
}

func (h *helmRunner) runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs helm and fails the test if it fails.
func (h *helmRunner) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := h.runErr(args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// helmRelease is what `helm list -o json` and `helm history -o json` print
// of one release revision.
type helmRelease struct {
	Name        string `json:"name"`
	Revision    any    `json:"revision"`
	Status      string `json:"status"`
	Chart       string `json:"chart"`
	Description string `json:"description"`
}

// TestHelm installs, upgrades, rolls back and uninstalls a chart with a CRD,
// a custom resource and a Deployment whose pods run on the simulated agent.
func TestHelm(t *testing.T) {
	// The simulated agent makes the pods Ready without containers; the
	// service proxy and cluster DNS would touch the host, so they stay off.
	c := startCluster(t, "--disable-agent=false", "--simulate-agent", "--disable", "proxy,dns")
	h := newHelm(t, c)
	const ns = "widgets"
	helmWaitNodeReady(t, c)

	// install: the CRD first (Helm waits for it to be served), then the
	// templates, and --wait until the Deployment's pod is ready.
	out := h.run(t, "install", "rel", helmChart, "-n", ns, "--create-namespace", "--wait", "--timeout", "2m")
	mustContain(t, "helm install", out, "STATUS: deployed", "REVISION: 1")
	c.kubectl(t, "get", "crd", "widgets.e2e.skiff.dev")
	helmCheckRelease(t, c, ns, "1", "hello", "3")
	mustContain(t, "release secret", c.kubectl(t, "get", "secret", "sh.helm.release.v1.rel.v1", "-n", ns,
		"-o", "jsonpath={.type} {.metadata.labels.owner} {.metadata.labels.status}"), "helm.sh/release.v1 helm deployed")

	// upgrade with new values: the Deployment is patched and its new pods
	// become ready, the custom resource is patched too.
	out = h.run(t, "upgrade", "rel", helmChart, "-n", ns, "--set", "replicas=2,greeting=hi,size=5", "--wait", "--timeout", "2m")
	mustContain(t, "helm upgrade", out, "STATUS: deployed", "REVISION: 2")
	helmCheckRelease(t, c, ns, "2", "hi", "5")

	// The CRD's schema is enforced: an upgrade to an invalid size fails
	// and leaves the objects as they were.
	out, err := h.runErr("upgrade", "rel", helmChart, "-n", ns, "--set", "replicas=2,greeting=hi,size=11")
	if err == nil {
		t.Fatalf("helm upgrade with size=11 succeeded, want the CRD's schema to refuse it:\n%s", out)
	}
	mustContain(t, "invalid upgrade", out, "spec.size")
	helmCheckRelease(t, c, ns, "2", "hi", "5")

	// rollback to revision 1 restores its values.
	out = h.run(t, "rollback", "rel", "1", "-n", ns, "--wait", "--timeout", "2m")
	mustContain(t, "helm rollback", out, "Rollback was a success")
	helmCheckRelease(t, c, ns, "1", "hello", "3")

	var list []helmRelease
	helmDecodeJSON(t, "helm list", h.run(t, "list", "-n", ns, "-o", "json"), &list)
	if len(list) != 1 || list[0].Name != "rel" || list[0].Status != "deployed" || list[0].Chart != "widgets-0.1.0" {
		t.Errorf("helm list = %+v, want rel deployed widgets-0.1.0", list)
	}
	var history []helmRelease
	helmDecodeJSON(t, "helm history", h.run(t, "history", "rel", "-n", ns, "-o", "json"), &history)
	want := []string{"superseded", "superseded", "failed", "deployed"}
	if len(history) != len(want) {
		t.Fatalf("helm history has %d revisions, want %d: %+v", len(history), len(want), history)
	}
	for i, s := range want {
		if history[i].Status != s {
			t.Errorf("revision %d is %q, want %q (%+v)", i+1, history[i].Status, s, history)
		}
	}
	mustContain(t, "last revision", history[3].Description, "Rollback to 1")
	mustContain(t, "helm get values", h.run(t, "get", "values", "rel", "-n", ns, "--revision", "2"), "greeting: hi", "size: 5")

	// uninstall removes the templates' objects and the release's history;
	// the CRD stays, as Helm never deletes what crds/ installed.
	out = h.run(t, "uninstall", "rel", "-n", ns, "--wait", "--timeout", "2m")
	mustContain(t, "helm uninstall", out, `release "rel" uninstalled`)
	for _, obj := range []string{"deployment/rel-widgets", "configmap/rel-widgets", "widget/rel-widget"} {
		mustContain(t, obj, c.kubectlFails(t, "get", obj, "-n", ns), "NotFound")
	}
	helmWaitNoPods(t, c, ns)
	if out := c.kubectl(t, "get", "secret", "-n", ns, "-l", "owner=helm", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("release secrets left after uninstall:\n%s", out)
	}
	c.kubectl(t, "get", "crd", "widgets.e2e.skiff.dev")
	if out := strings.TrimSpace(h.run(t, "list", "-n", ns, "-q")); out != "" {
		t.Errorf("helm list after uninstall = %q, want nothing", out)
	}
}

// helmCheckRelease checks the release's Deployment, ConfigMap and Widget carry
// the values given: replicas, greeting and size. Helm's --wait returned once
// the new ReplicaSet's pods were ready; the old ones may still be going, so
// the Deployment's status is waited for.
func helmCheckRelease(t *testing.T, c *cluster, ns, replicas, greeting, size string) {
	t.Helper()
	got := c.kubectl(t, "get", "deployment", "rel-widgets", "-n", ns, "-o",
		"jsonpath={.spec.replicas} {.spec.template.spec.containers[0].env[0].value}")
	if want := replicas + " " + greeting; got != want {
		t.Errorf("deployment: replicas, greeting = %q, want %q", got, want)
	}
	waitUntil(t, 90*time.Second, "deployment rel-widgets with "+replicas+" pods, all updated and ready", func() (bool, string) {
		out, err := c.kubectlErr("get", "deployment", "rel-widgets", "-n", ns, "-o",
			"jsonpath={.status.replicas} {.status.updatedReplicas} {.status.readyReplicas}")
		return err == nil && out == replicas+" "+replicas+" "+replicas, out
	})
	got = c.kubectl(t, "get", "configmap", "rel-widgets", "-n", ns, "-o", "jsonpath={.data.greeting}")
	if got != greeting {
		t.Errorf("configmap greeting = %q, want %q", got, greeting)
	}
	got = c.kubectl(t, "get", "widget", "rel-widget", "-n", ns, "-o", "jsonpath={.spec.size} {.spec.greeting}")
	if want := size + " " + greeting; got != want {
		t.Errorf("widget: size, greeting = %q, want %q", got, want)
	}
}

// helmWaitNodeReady waits until the simulated agent's node is Ready, so that
// Helm's --wait has somewhere to run the pods.
func helmWaitNodeReady(t *testing.T, c *cluster) {
	t.Helper()
	waitUntil(t, 90*time.Second, "a Ready node", func() (bool, string) {
		out, err := c.kubectlErr("get", "nodes", "-o", `jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && strings.Contains(out, "True"), out
	})
}

// helmWaitNoPods waits until the namespace has no pods left.
func helmWaitNoPods(t *testing.T, c *cluster, ns string) {
	t.Helper()
	waitUntil(t, 90*time.Second, "no pods in "+ns, func() (bool, string) {
		out, err := c.kubectlErr("get", "pods", "-n", ns, "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", out
	})
}

func helmDecodeJSON(t *testing.T, what, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
}
