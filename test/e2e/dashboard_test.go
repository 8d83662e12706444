package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"k8s.io/client-go/tools/clientcmd"
)

// chromium is the browser the dashboard test drives (Debian's chromium).
const chromium = "/usr/bin/chromium"

// artifactsDir is where the dashboard test keeps its screenshots:
// $SKIFF_ARTIFACTS, or test/e2e/artifacts.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("SKIFF_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboard logs into the dashboard with a ServiceAccount's token in
// headless Chromium, finds a Deployment's pods, reads a pod's log and runs
// a command in its shell, scales the Deployment from the page and sees the
// new pod; a request without credentials is refused.
func TestDashboard(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is not installed (make test installs it)", chromium)
	}
	c := startNode(t)
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 1
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: %s
        command: ["sh", "-c", "echo dashboard-line-from-$(hostname); exec sleep 3600"]
`, testImage)
	f := filepath.Join(t.TempDir(), "echo.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "apply", "-f", f)
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=120s")
	c.kubectl(t, "create", "serviceaccount", "dashboard-user")
	c.kubectl(t, "create", "clusterrolebinding", "dashboard-user", "--clusterrole=cluster-admin", "--serviceaccount=default:dashboard-user")
	token := strings.TrimSpace(c.kubectl(t, "create", "token", "dashboard-user"))

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(cfg.Host, "/")

	// Without credentials: 401, for pages and data alike.
	ca := cfg.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no cluster CA in the admin kubeconfig")
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer anon.CloseIdleConnections()
	for _, p := range []string{"/dashboard/", "/dashboard/api/api/v1/pods"} {
		resp, err := anon.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, resp.StatusCode)
		}
	}

	// The browser talks only to this server: no background traffic, no
	// first-run or sync; as root it needs --no-sandbox. It does not know
	// the cluster CA, so certificate errors are ignored.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless,
		chromedp.IgnoreCertErrors, chromedp.WindowSize(1400, 1000), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-gpu", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	dir := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		p := filepath.Join(dir, "dashboard-"+name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot %s", p)
	}
	// step runs actions with a bound on each, and keeps a screenshot of
	// the page where one fails. Chromium aborts what is in flight when the
	// host's network changes (a pod's veth appearing or gaining its
	// link-local address): a step that met that is run again, so each
	// step starts by loading its page and may run twice.
	step := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			sctx, cancel := context.WithTimeout(ctx, timeout)
			err := chromedp.Do(sctx, actions...)
			cancel()
			if err == nil {
				return
			}
			if attempt < 3 && (errors.Is(err, errNetworkChanged) || strings.Contains(err.Error(), "ERR_NETWORK_CHANGED")) {
				t.Logf("%s: the browser saw the network change; again", what)
				continue
			}
			shot("failed")
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, html)
		}
	}
	// waitFor waits until expr is true on the page; a click that leaves
	// the page loses the poll's context, so it is asked again on the next.
	waitFor := func(expr string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			for {
				_, err := chromedp.Poll[bool](`document.URL.startsWith('chrome-error:') || (`+expr+`)`, chromedp.WithPollingTimeout(0))(ctx, tg)
				if err == nil {
					u, err := chromedp.Evaluate[string](`document.URL`)(ctx, tg)
					if err == nil && strings.HasPrefix(u, "chrome-error:") {
						return chromedp.Void{}, errNetworkChanged
					}
					if err == nil {
						return chromedp.Void{}, nil
					}
				}
				select {
				case <-ctx.Done():
					return chromedp.Void{}, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	present := func(css string) chromedp.Action[chromedp.Void] {
		return waitFor(`!!document.querySelector('` + css + `')`)
	}
	click := func(css string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`void document.querySelector('` + css + `').click()`)
	}

	// Log in: the page without credentials is the login form.
	step("login form", 30*time.Second,
		chromedp.Navigate(base+"/dashboard/"),
		present("#token"))
	shot("login")
	step("log in", 60*time.Second,
		chromedp.Navigate(base+"/dashboard/login"),
		present("#token"),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login-submit")),
		present("#nodes"),
		waitFor(`document.getElementById('user').textContent === 'system:serviceaccount:default:dashboard-user'`),
		// The node, ready, with its usage from the metrics API.
		waitFor(`[...document.querySelectorAll('#nodes tr[data-node]')].some(r => r.textContent.includes('Ready') && r.querySelector('.bar-gauge'))`),
		waitFor(`document.querySelector('#namespaces').textContent.includes('kube-system')`))
	shot("cluster")

	// The Deployment, complete, and its pod.
	step("workloads", 60*time.Second,
		chromedp.Navigate(base+"/dashboard/workloads?namespace=default"),
		waitFor(`(document.querySelector('tr[data-deployment="default/echo"]') || {textContent: ''}).textContent.includes('complete')`))
	shot("workloads")
	step("the deployment's pods", 60*time.Second,
		chromedp.Navigate(base+"/dashboard/workloads?namespace=default"),
		present(`tr[data-deployment="default/echo"] a`),
		click(`tr[data-deployment="default/echo"] a`),
		waitFor(`document.querySelectorAll('#pods tr[data-pod]').length === 1 && document.querySelector('#pods').textContent.includes('Running')`))
	shot("pods")
	podsURL := base + "/dashboard/pods?namespace=default&selector=app%3Decho"

	// The pod's page: its log line, its events, and a command in its shell.
	step("pod", 60*time.Second,
		chromedp.Navigate(podsURL),
		present(`#pods tr[data-pod] a`),
		click(`#pods tr[data-pod] a`),
		waitFor(`document.getElementById('logs').textContent.includes('dashboard-line-from-echo-')`),
		waitFor(`document.getElementById('events').textContent.includes('Started')`),
		click("#shell-open"),
		waitFor(`!document.getElementById('shell-input').disabled`),
		chromedp.SendKeys(chromedp.CSS("#shell-input"), "echo sum=$((6*7))"+kb.Enter),
		waitFor(`document.getElementById('shell').textContent.includes('sum=42')`))
	shot("pod")

	// Scale from the workloads page, and see the second pod.
	step("scale", 90*time.Second,
		chromedp.Navigate(base+"/dashboard/workloads?namespace=default"),
		present(`input[data-scale="default/echo"]`),
		chromedp.Evaluate[chromedp.Void](`(() => {
			document.querySelector('input[data-scale="default/echo"]').value = '2';
			document.querySelector('button[data-scale-apply="default/echo"]').click();
		})()`),
		waitFor(`(document.querySelector('tr[data-deployment="default/echo"]') || {textContent: ''}).textContent.includes('2/2')`))
	shot("scaled")
	step("new pod", 60*time.Second,
		chromedp.Navigate(podsURL),
		waitFor(`document.querySelectorAll('#pods tr[data-pod]').length === 2 && [...document.querySelectorAll('#pods tr[data-pod]')].every(r => r.textContent.includes('Running'))`))
	shot("scaled-pods")
	if out := c.kubectl(t, "get", "deployment", "echo", "-o", "jsonpath={.spec.replicas}"); out != "2" {
		t.Errorf("replicas after scaling from the page = %q, want 2", out)
	}

	// Edit the Deployment's YAML and apply it (server-side apply).
	step("apply YAML", 60*time.Second,
		chromedp.Navigate(base+"/dashboard/yaml?path=/apis/apps/v1/namespaces/default/deployments/echo"),
		present("#yaml"),
		chromedp.Evaluate[chromedp.Void](`(() => {
			const y = document.getElementById('yaml');
			if (!y.value.includes('edited:')) y.value = y.value.replace('\n  name: echo\n', '\n  labels:\n    edited: from-the-dashboard\n  name: echo\n');
			document.getElementById('apply').click();
		})()`),
		waitFor(`document.getElementById('apply-result').textContent.startsWith('applied')`))
	shot("yaml")
	if out := c.kubectl(t, "get", "deployment", "echo", "-o", "jsonpath={.metadata.labels.edited}"); out != "from-the-dashboard" {
		t.Errorf("label applied from the page = %q", out)
	}
	if out := c.kubectl(t, "get", "deployment", "echo", "-o", "jsonpath={.metadata.managedFields[*].manager}"); !strings.Contains(out, "skiff-dashboard") {
		t.Errorf("field managers %q, want skiff-dashboard among them", out)
	}

	// The Service and the Ingress in front of it.
	c.kubectl(t, "expose", "deployment", "echo", "--port=80", "--target-port=8080")
	c.kubectl(t, "create", "ingress", "echo", "--rule=echo.example/*=echo:80")
	step("services", 60*time.Second,
		chromedp.Navigate(base+"/dashboard/network?namespace=default"),
		waitFor(`document.getElementById('services').textContent.includes('80/TCP') && document.getElementById('ingresses').textContent.includes('echo.example/ → echo:80')`))
	shot("network")

	// Log out: the cookie is gone and the page asks for a token again.
	step("log out", 30*time.Second,
		chromedp.Navigate(base+"/dashboard/"),
		present("#logout, #token"),
		chromedp.Evaluate[chromedp.Void](`void (document.getElementById('logout') && document.getElementById('logout').click())`),
		present("#token"),
		chromedp.Navigate(base+"/dashboard/"),
		present("#token"))
}

// errNetworkChanged is a page Chromium replaced by its error page.
var errNetworkChanged = errors.New("the browser shows an error page (network changed)")
