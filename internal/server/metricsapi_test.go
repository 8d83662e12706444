package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/cmd/top"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"skiff/internal/pki"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// kubeletStub serves a node's /stats/summary over TLS with a serving
// certificate of the cluster CA, to callers with a client certificate of
// the cluster CA, as a node agent does. Each read advances the node's and
// containers' CPU counters by their rate times a 10 s step, so that the
// usage between any two reads is exactly the rate.
type kubeletStub struct {
	mu    sync.Mutex
	reads int
	// cores is the CPU rate in millicores and memory the working set, by
	// "" (the node) or "namespace/pod/container".
	cores  map[string]uint64
	memory map[string]uint64
}

func (k *kubeletStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/stats/summary" {
		http.NotFound(w, r)
		return
	}
	k.mu.Lock()
	k.reads++
	n := uint64(k.reads)
	k.mu.Unlock()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := metav1.NewTime(base.Add(time.Duration(n) * 10 * time.Second))
	reading := func(key string) (*statsv1alpha1.CPUStats, *statsv1alpha1.MemoryStats) {
		cpu := n * 10 * k.cores[key] * 1_000_000 // 10 s of millicores, in core-nanoseconds
		mem := k.memory[key]
		return &statsv1alpha1.CPUStats{Time: at, UsageCoreNanoSeconds: &cpu}, &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: &mem}
	}
	sum := statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n1", StartTime: metav1.NewTime(base)}}
	sum.Node.CPU, sum.Node.Memory = reading("")
	pods := map[string]*statsv1alpha1.PodStats{}
	var order []string
	for key := range k.cores {
		parts := strings.Split(key, "/")
		if len(parts) != 3 {
			continue
		}
		pk := parts[0] + "/" + parts[1]
		if pods[pk] == nil {
			pods[pk] = &statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Namespace: parts[0], Name: parts[1]}}
			order = append(order, pk)
		}
		c := statsv1alpha1.ContainerStats{Name: parts[2], StartTime: metav1.NewTime(base)}
		c.CPU, c.Memory = reading(key)
		pods[pk].Containers = append(pods[pk].Containers, c)
	}
	for _, pk := range order {
		sum.Pods = append(sum.Pods, *pods[pk])
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&sum)
}

// startKubeletStub serves stub on a loopback port and returns the port.
func startKubeletStub(t *testing.T, dataDir string, stub http.Handler) int32 {
	t.Helper()
	ca, err := pki.LoadCA(filepath.Join(dataDir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.IssueServing(t.TempDir(), "kubelet", pki.SANs{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(stub)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return int32(p)
}

// TestMetricsAPI checks that the API server reads a Ready node's stats
// Summary through its kubelet client and serves the usage as
// metrics.k8s.io/v1beta1 to the metrics clientset and to kubectl top.
func TestMetricsAPI(t *testing.T) {
	s := servertest.Start(t, func(cfg *server.Config) { cfg.MetricsResolution = 100 * time.Millisecond })
	ctx := t.Context()
	stub := &kubeletStub{
		cores:  map[string]uint64{"": 1500, "default/web-0/app": 250, "default/web-0/sidecar": 10, "default/db-0/db": 500},
		memory: map[string]uint64{"": 1 << 30, "default/web-0/app": 64 << 20, "default/web-0/sidecar": 16 << 20, "default/db-0/db": 128 << 20},
	}
	port := startKubeletStub(t, s.DataDir, stub)
	node := testobj.Node("n1").Capacity("4", "8Gi").Ready().InternalIP("127.0.0.1").Obj()
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	if _, err := s.CreateNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{
		testobj.Pod("web-0").Namespace("default").Labels("app", "web").Containers("app", "sidecar").Node("n1").Obj(),
		testobj.Pod("db-0").Namespace("default").Labels("app", "db").Containers("db").Node("n1").Obj(),
		testobj.Pod("idle-0").Namespace("default").Labels("app", "web").Node("n1").Obj(),
	} {
		servertest.Wait(t, "create pod "+p.Name, func(ctx context.Context) (bool, error) {
			_, err := s.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err == nil || apierrors.IsAlreadyExists(err), nil
		})
	}

	mc, err := metricsclient.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "NodeMetrics of n1", func(ctx context.Context) (bool, error) {
		_, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "n1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	servertest.Wait(t, "PodMetrics of web-0", func(ctx context.Context) (bool, error) {
		_, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "web-0", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})

	nodes, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type usage struct {
		Name          string
		MilliCPU, Mem int64
	}
	var gotNodes []usage
	for _, n := range nodes.Items {
		gotNodes = append(gotNodes, usage{n.Name, n.Usage.Cpu().MilliValue(), n.Usage.Memory().Value()})
		if n.Window.Duration != 10*time.Second || n.Labels[corev1.LabelHostname] != "n1" {
			t.Errorf("NodeMetrics %s: window %v, labels %v; want 10s and the node's labels", n.Name, n.Window.Duration, n.Labels)
		}
	}
	if diff := cmp.Diff([]usage{{"n1", 1500, 1 << 30}}, gotNodes); diff != "" {
		t.Errorf("NodeMetrics (-want +got):\n%s", diff)
	}

	pods, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var gotPods []usage
	for _, p := range pods.Items {
		for _, c := range p.Containers {
			gotPods = append(gotPods, usage{p.Name + "/" + c.Name, c.Usage.Cpu().MilliValue(), c.Usage.Memory().Value()})
		}
	}
	// idle-0 matches the selector but has no metrics: it is left out.
	if diff := cmp.Diff([]usage{{"web-0/app", 250, 64 << 20}, {"web-0/sidecar", 10, 16 << 20}}, gotPods); diff != "" {
		t.Errorf("PodMetrics app=web (-want +got):\n%s", diff)
	}

	_, err = mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "idle-0", metav1.GetOptions{})
	if want := `podmetrics.metrics.k8s.io "idle-0" not found`; !apierrors.IsNotFound(err) || err.Error() != want {
		t.Errorf("PodMetrics of a pod without metrics: %v; want NotFound %q", err, want)
	}

	// Reading metrics is authorized as any resource: a user bound to the
	// metrics reader role in a namespace reads its pods' metrics, not the
	// nodes'.
	if _, err := s.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:aggregated-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "ann"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	annConfig := rest.CopyConfig(s.Config)
	annConfig.Impersonate = rest.ImpersonationConfig{UserName: "ann"}
	ann, err := metricsclient.NewForConfig(annConfig)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "ann reads the pod metrics of default", func(ctx context.Context) (bool, error) {
		_, err := ann.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
	if _, err := ann.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("ann lists NodeMetrics: %v, want Forbidden", err)
	}
	if _, err := ann.MetricsV1beta1().PodMetricses("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("ann lists PodMetrics of kube-system: %v, want Forbidden", err)
	}

	// kubectl get nodemetrics asks for a Table.
	raw, err := s.Client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cells [][]any
	for _, r := range table.Rows {
		cells = append(cells, r.Cells)
	}
	if diff := cmp.Diff([][]any{{"n1", "1500m", "1Gi", "10s"}}, cells); diff != "" {
		t.Errorf("NodeMetrics table rows (-want +got):\n%s", diff)
	}

	// The types have no OpenAPI definitions; the documents leave them out
	// rather than fail.
	for path, want := range map[string]int{"/openapi/v2": http.StatusOK, "/openapi/v3/apis/metrics.k8s.io/v1beta1": http.StatusNotFound} {
		var code int
		s.Client.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).StatusCode(&code)
		if code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}

	// kubectl top finds the API in discovery and prints the usage.
	kubectl := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		flags := genericclioptions.NewConfigFlags(true)
		kc := s.AdminKubeconfig()
		flags.KubeConfig = &kc
		cmd := top.NewCmdTop(cmdutil.NewFactory(flags), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		// -n and the other global flags are kubectl's root command's.
		flags.AddFlags(cmd.PersistentFlags())
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("kubectl top %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	cmdutil.BehaviorOnFatal(func(msg string, code int) { t.Fatalf("kubectl top: exit %d: %s", code, msg) })
	t.Cleanup(cmdutil.DefaultBehaviorOnFatal)

	rows := func(out string) [][]string {
		var rs [][]string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			rs = append(rs, strings.Fields(line))
		}
		return rs
	}
	nodesOut := kubectl("node")
	if diff := cmp.Diff([][]string{{"n1", "1500m", "37%", "1024Mi", "12%"}}, rows(nodesOut)); diff != "" {
		t.Errorf("kubectl top node (-want +got):\n%s\n%s", diff, nodesOut)
	}
	podsOut := kubectl("pod", "-n", "default", "--containers")
	want := [][]string{{"db-0", "db", "500m", "128Mi"}, {"web-0", "app", "250m", "64Mi"}, {"web-0", "sidecar", "10m", "16Mi"}}
	if diff := cmp.Diff(want, rows(podsOut)); diff != "" {
		t.Errorf("kubectl top pod --containers (-want +got):\n%s\n%s", diff, podsOut)
	}
	webOut := kubectl("pod", "-n", "default", "-l", "app=web")
	if diff := cmp.Diff([][]string{{"web-0", "260m", "80Mi"}}, rows(webOut)); diff != "" {
		t.Errorf("kubectl top pod -l app=web (-want +got):\n%s\n%s", diff, webOut)
	}
}
