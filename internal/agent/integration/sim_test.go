package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/sim"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// runAgent runs one agent on the sim runtime as a joined node, with node
// name's own credentials (so with only the rights the Node authorizer and
// NodeRestriction give a node), watching its own pods, and returns the
// runtime (to inject faults).
func runAgent(t *testing.T, s *servertest.Server, name string, simCfg sim.Config) *sim.Runtime {
	t.Helper()
	return runAgentAs(t, s.NodeClient(t, name), name, simCfg, false)
}

// runAgentAs runs one agent with client; controlPlane makes it the
// server's own node, which labels itself as one (and so needs more than
// a node's rights).
func runAgentAs(t *testing.T, client kubernetes.Interface, name string, simCfg sim.Config, controlPlane bool) *sim.Runtime {
	t.Helper()
	rt, err := sim.New(simCfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		NodeName: name, Client: client, Runtime: rt, ControlPlane: controlPlane,
		NodeIPs:            []string{"192.0.2.10"},
		LeaseDuration:      2 * time.Second,
		LeaseRenewInterval: 200 * time.Millisecond,
		Logger:             servertest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent run: %v", err)
		}
	})
	return rt
}

func TestNodeRegistersAndHeartbeats(t *testing.T) {
	client := servertest.Start(t, nil).Client
	runAgentAs(t, client, "node-a", sim.Config{}, true)
	ctx := context.Background()
	var node *corev1.Node
	servertest.Wait(t, "node registered", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		node = n
		return err == nil && len(n.Status.Conditions) == 4, err
	})
	wantLabels := map[string]string{
		"kubernetes.io/hostname": "node-a", "kubernetes.io/os": runtime.GOOS, "kubernetes.io/arch": runtime.GOARCH,
		"node-role.kubernetes.io/control-plane": "",
	}
	for k, v := range wantLabels {
		if got, ok := node.Labels[k]; !ok || got != v {
			t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, c := range node.Status.Conditions {
		want := corev1.ConditionFalse
		if c.Type == corev1.NodeReady {
			want = corev1.ConditionTrue
			if c.Reason != "KubeletReady" || c.Message != "kubelet is posting ready status" {
				t.Errorf("Ready condition reason %q message %q", c.Reason, c.Message)
			}
		}
		if c.Status != want {
			t.Errorf("condition %s = %s, want %s", c.Type, c.Status, want)
		}
	}
	if got := node.Status.Allocatable.Pods().String(); got != "110" {
		t.Errorf("allocatable pods = %s, want 110", got)
	}
	if node.Status.NodeInfo.ContainerRuntimeVersion != "sim://"+sim.Version || node.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("nodeInfo = %+v", node.Status.NodeInfo)
	}
	if len(node.Status.Addresses) == 0 || node.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}) {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}

	var first *coordv1.Lease
	servertest.Wait(t, "lease created", func(ctx context.Context) (bool, error) {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-a", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		first = l
		return err == nil, err
	})
	if ptr.Deref(first.Spec.HolderIdentity, "") != "node-a" || len(first.OwnerReferences) != 1 || first.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease holder %v owners %v", first.Spec.HolderIdentity, first.OwnerReferences)
	}
	servertest.Wait(t, "lease renewed", func(ctx context.Context) (bool, error) {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-a", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first.Spec.RenewTime.Time), err
	})
	_ = ctx
}

// busyboxPod is a pod on the node with an init container and a container
// with a TCP readiness probe, both of image busybox, and the API server's
// default grace period: its deletion waits for the agent.
func busyboxPod(name, node string) *testobj.PodBuilder {
	return testobj.Pod(name).Node(node).Grace(corev1.DefaultTerminationGracePeriodSeconds).
		Containers("main").Image("busybox").ReadinessTCP(80).InitContainer("init", "busybox")
}

func createPod(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	return p
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func waitPod(t *testing.T, client kubernetes.Interface, name, what string, cond func(p *corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	servertest.Wait(t, "pod "+name+" "+what, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return cond(p), nil
	})
	return pod
}

func TestPods(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	runAgent(t, s, "node-a", sim.Config{StartDelay: 50 * time.Millisecond, RunTime: 100 * time.Millisecond, FakeCIDR: "10.99.0.0/24"})

	t.Run("Always pod goes Running and Ready", func(t *testing.T) {
		createPod(t, client, busyboxPod("web", "node-a").RestartPolicy(corev1.RestartPolicyAlways).Obj())
		p := waitPod(t, client, "web", "Ready", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady) == corev1.ConditionTrue
		})
		for _, typ := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady} {
			if podCondition(p, typ) != corev1.ConditionTrue {
				t.Errorf("condition %s = %q, want True", typ, podCondition(p, typ))
			}
		}
		if !strings.HasPrefix(p.Status.PodIP, "10.99.0.") || p.Status.HostIP != "192.0.2.10" || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("podIP %q hostIP %q startTime %v qos %q", p.Status.PodIP, p.Status.HostIP, p.Status.StartTime, p.Status.QOSClass)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || !strings.HasPrefix(cs[0].ContainerID, "sim://") || cs[0].ImageID == "" {
			t.Errorf("container statuses = %+v", cs)
		}
		if ics := p.Status.InitContainerStatuses; len(ics) != 1 || ics[0].State.Terminated == nil || ics[0].State.Terminated.Reason != "Completed" {
			t.Errorf("init container statuses = %+v", ics)
		}
	})

	t.Run("pod reads its secret and config map with the node's rights", func(t *testing.T) {
		ctx := context.Background()
		if _, err := client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret"},
			StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
			Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := busyboxPod("app", "node-a").RestartPolicy(corev1.RestartPolicyAlways).Obj()
		// A required key of a secret or config map the agent could not
		// read would keep the container from starting.
		pod.Spec.Containers[0].Env = []corev1.EnvVar{
			{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "app-secret"}, Key: "k"}}},
			{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}, Key: "k"}}},
		}
		createPod(t, client, pod)
		waitPod(t, client, "app", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	})

	t.Run("Never pod ends Succeeded", func(t *testing.T) {
		createPod(t, client, busyboxPod("job", "node-a").RestartPolicy(corev1.RestartPolicyNever).Obj())
		p := waitPod(t, client, "job", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("main container state = %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("exit-code annotation fails the pod with that code", func(t *testing.T) {
		createPod(t, client, busyboxPod("fail", "node-a").RestartPolicy(corev1.RestartPolicyNever).Annotations(sim.AnnotationExitCode, "42").Obj())
		p := waitPod(t, client, "fail", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 42 || term.Reason != "Error" {
			t.Errorf("main container state = %+v", p.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("exit code under Always restarts with a count", func(t *testing.T) {
		createPod(t, client, busyboxPod("crash", "node-a").RestartPolicy(corev1.RestartPolicyAlways).Annotations(sim.AnnotationExitCode, "1").Obj())
		p := waitPod(t, client, "crash", "restarted", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase = %s, want Running", p.Status.Phase)
		}
		waitPod(t, client, "crash", "in CrashLoopBackOff", func(p *corev1.Pod) bool {
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CrashLoopBackOff" && p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
		})
	})

	t.Run("deleting a pod removes it", func(t *testing.T) {
		waitPod(t, client, "web", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if err := client.CoreV1().Pods("default").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "pod web gone", func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	})
}

// TestRuntimeFaults checks what a user sees when the runtime fails: a
// container whose image cannot be pulled waits in ErrImagePull or
// ImagePullBackOff and runs once the pull works, and a pod whose sandbox
// dies gets a new one and runs again in new containers.
func TestRuntimeFaults(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	rt := runAgent(t, s, "node-f", sim.Config{})
	ready := func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady) == corev1.ConditionTrue
	}

	t.Run("failed pulls", func(t *testing.T) {
		const image = "registry.example/app:1"
		rt.FailPulls(image, errors.New("registry unreachable"))
		createPod(t, client, busyboxPod("unpulled", "node-f").RestartPolicy(corev1.RestartPolicyAlways).Image(image).Obj())
		waitPod(t, client, "unpulled", "waiting for its image", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			if len(cs) != 1 || cs[0].State.Waiting == nil {
				return false
			}
			r := cs[0].State.Waiting.Reason
			return r == "ErrImagePull" || r == "ImagePullBackOff"
		})
		rt.FailPulls(image, nil)
		waitPod(t, client, "unpulled", "Ready once the image pulls", ready)
	})

	t.Run("crashed sandbox", func(t *testing.T) {
		createPod(t, client, busyboxPod("crashed", "node-f").RestartPolicy(corev1.RestartPolicyAlways).Obj())
		p := waitPod(t, client, "crashed", "Ready", ready)
		before := p.Status.ContainerStatuses[0].ContainerID
		if n := rt.CrashSandbox(p.UID); n != 1 {
			t.Fatalf("CrashSandbox crashed %d sandboxes, want 1", n)
		}
		waitPod(t, client, "crashed", "Ready in a new container", func(p *corev1.Pod) bool {
			return ready(p) && p.Status.ContainerStatuses[0].ContainerID != before
		})
	})
}

func TestClusterOf200Nodes(t *testing.T) {
	client := servertest.Start(t, nil).Client
	runCluster(t, client, 200)
	servertest.Wait(t, "200 nodes Ready with leases", func(ctx context.Context) (bool, error) {
		return countReady(ctx, client) == 200, nil
	})
	// A pod bound to one of them runs.
	createPod(t, client, busyboxPod("p", "sim-137").RestartPolicy(corev1.RestartPolicyAlways).Obj())
	waitPod(t, client, "p", "Ready", func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
}

func runCluster(t testing.TB, client kubernetes.Interface, n int) {
	t.Helper()
	c, err := sim.NewCluster(sim.ClusterConfig{Client: client, Nodes: n, Logger: servertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func countReady(ctx context.Context, client kubernetes.Interface) int {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sim.LabelSimulated + "=true"})
	if err != nil {
		return -1
	}
	leases, err := client.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
	if err != nil {
		return -1
	}
	if len(leases.Items) < len(nodes.Items) {
		return 0
	}
	n := 0
	for _, node := range nodes.Items {
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

// TestMemoryOfManyNodes measures one process holding many simulated nodes
// (with the in-process API server, unless SKIFF_SIM_KUBECONFIG names
// another). Run with SKIFF_SIM_NODES=5000.
func TestMemoryOfManyNodes(t *testing.T) {
	n := 0
	fmt.Sscan(os.Getenv("SKIFF_SIM_NODES"), &n)
	if n == 0 {
		t.Skip("set SKIFF_SIM_NODES to measure")
	}
	var client kubernetes.Interface
	if kc := os.Getenv("SKIFF_SIM_KUBECONFIG"); kc != "" {
		// Measure the simulated nodes alone, against a server elsewhere.
		rc, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			t.Fatal(err)
		}
		rc.QPS = -1
		if client, err = kubernetes.NewForConfig(rc); err != nil {
			t.Fatal(err)
		}
	} else {
		client = servertest.Start(t, nil).Client
	}
	start := time.Now()
	runCluster(t, client, n)
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		return countReady(ctx, client) == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d nodes: %v", n, err)
	}
	t.Logf("%d nodes registered in %s", n, time.Since(start).Round(time.Millisecond))
	runtime.GC()
	if f := os.Getenv("SKIFF_SIM_HEAPPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(out)
		out.Close()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	var rss string
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			rss += strings.Join(strings.Fields(l), " ") + "; "
		}
	}
	t.Logf("%d simulated nodes (API server in process: %v): %sheap in use %d MiB, goroutines %d", n, os.Getenv("SKIFF_SIM_KUBECONFIG") == "", rss, ms.HeapInuse>>20, runtime.NumGoroutine())
}

// TestAdmission checks the node's own admission: a pod bound to the node
// whose host port another pod holds is never started, ends Failed with
// the reason NodePorts, and the first pod keeps running.
func TestAdmission(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	runAgent(t, s, "node-p", sim.Config{})
	withHostPort := func(name string) *corev1.Pod {
		p := busyboxPod(name, "node-p").RestartPolicy(corev1.RestartPolicyAlways).Obj()
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		return p
	}
	createPod(t, client, withHostPort("first"))
	waitPod(t, client, "first", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	createPod(t, client, withHostPort("second"))
	p := waitPod(t, client, "second", "rejected", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "NodePorts" || len(p.Status.ContainerStatuses) != 0 && p.Status.ContainerStatuses[0].State.Running != nil {
		t.Errorf("rejected pod status: reason %q, containers %+v", p.Status.Reason, p.Status.ContainerStatuses)
	}
	if p, err := client.CoreV1().Pods("default").Get(context.Background(), "first", metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodRunning {
		t.Errorf("the first pod: %v %v", p.Status.Phase, err)
	}
}

// TestDeletedPodEndsTerminal checks that a running pod being deleted
// reaches a terminal phase before the agent removes it, as upstream's
// kubelet does: controllers counting failures (a Job's pod failure
// policy) wait for it.
func TestDeletedPodEndsTerminal(t *testing.T) {
	s := servertest.Start(t, nil)
	client := s.Client
	runAgent(t, s, "node-d", sim.Config{})
	createPod(t, client, busyboxPod("doomed", "node-d").RestartPolicy(corev1.RestartPolicyAlways).Obj())
	p := waitPod(t, client, "doomed", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	ctx := context.Background()
	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=doomed", ResourceVersion: p.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := client.CoreV1().Pods("default").Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last corev1.PodPhase
	for ev := range w.ResultChan() {
		if ev.Type == watch.Deleted {
			break
		}
		if pod, ok := ev.Object.(*corev1.Pod); ok {
			last = pod.Status.Phase
		}
	}
	if last != corev1.PodFailed && last != corev1.PodSucceeded {
		t.Errorf("last phase before the pod went: %q, want Failed or Succeeded", last)
	}
}
