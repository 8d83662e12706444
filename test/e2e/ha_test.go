package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/bench"
	"skiff/internal/server"
)

// haHostAddress is the test host's address on the bridge of an HA test,
// so that the test's clients reach every server. It is not the nodes'
// gateway (.254), which nobody holds: their other traffic still goes
// nowhere.
const haHostAddress = netSubnet + "250"

// haServer is one server of the HA test and the admin client for it.
type haServer struct {
	*netNode
	args   []string
	client kubernetes.Interface
}

// TestHAServers runs three servers on embedded etcd and one agent, each in
// its own network namespace. Under a bounded create load it kills -9 the
// server holding the scheduler's and controllers' Leases, and checks that
// the others answer, the components resume, every acknowledged create is
// kept and the agent's node stays Ready; the killed server rejoins. Then
// two servers die: the last refuses writes and stale reads, and
// --cluster-reset makes it a working single server with every object.
func TestHAServers(t *testing.T) {
	bin := binDir(t)
	nc := newNetCluster(t, 4)
	run(t, "ip", "addr", "add", haHostAddress+"/24", "dev", nc.bridge)
	servers := make([]*haServer, 3)
	for i, n := range nc.nodes[:3] {
		servers[i] = &haServer{netNode: n, args: []string{"server", "--data-dir", n.dataDir, "--node-name", n.name,
			"--https-port", "6443", "--bind-address", "0.0.0.0", "--advertise-address", n.ip,
			"--etcd-client-url", "https://127.0.0.1:0", "--disable-agent", "--log-level", "info"}}
	}
	first := servers[0]
	first.args = append(first.args, "--cluster-init")
	first.start(t, bin, first.args...)
	tokenFile := waitToken(t, first.netNode)
	for _, s := range servers[1:] {
		s.args = append(s.args, "--server", "https://"+first.ip+":6443", "--token-file", tokenFile)
		s.start(t, bin, s.args...)
	}
	for _, s := range servers {
		s.client = haClient(t, first.dataDir, s.ip)
	}
	waitUntil(t, 120*time.Second, "three etcd voters", func() (bool, string) {
		return haVoters(servers[2].client) == 3, ""
	})
	agentNode := nc.nodes[3]
	agentNode.start(t, bin, "agent", "--server", "https://"+first.ip+":6443", "--token-file", tokenFile,
		"--data-dir", agentNode.dataDir, "--node-name", agentNode.name, "--node-ip", agentNode.ip, "--log-level", "info")
	waitUntil(t, 120*time.Second, "the agent's node Ready", func() (bool, string) {
		ready, err := nodeReady(servers[1].client, agentNode.name)
		return ready, fmt.Sprint(err)
	})
	// The agent learns every server from the kubernetes endpoints.
	waitUntil(t, 60*time.Second, "the agent knowing every server", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(agentNode.dataDir, "servers.json"))
		return strings.Count(string(b), ":6443") == 3, string(b)
	})

	t.Logf("three servers: %s", createBurst(t, servers, "three"))
	holder := leaseHolder(t, servers, "kube-controller-manager")
	t.Logf("the Leases are held by %s", holder.name)
	ctx := t.Context()
	load := startCreateLoad(ctx, servers)
	time.Sleep(2 * time.Second)
	notReady := watchReady(ctx, servers, agentNode.name)

	killed := time.Now()
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.cmd.Wait()
	var others []*haServer
	for _, s := range servers {
		if s != holder {
			others = append(others, s)
		}
	}
	failover := probeWrites(ctx, others, killed)
	waitUntil(t, 60*time.Second, "a create acknowledged after the kill", func() (bool, string) {
		return failover.Load() > 0 && load.firstAfter(killed) > 0, ""
	})
	t.Logf("failover: from kill -9 to the first acknowledged write %v; the load's first create sent after the kill was acknowledged %v after it",
		time.Duration(failover.Load()).Round(time.Millisecond), load.firstAfter(killed).Round(time.Millisecond))
	newHolder := leaseHolderAmong(t, others, "kube-controller-manager", 90*time.Second)
	t.Logf("the controllers resumed on %s", newHolder.name)
	leaseHolderAmong(t, others, "kube-scheduler", 90*time.Second)
	// The controllers and the scheduler work: a Deployment's pod runs.
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "after-failover", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "after-failover"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "after-failover"}},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: new(int64), Containers: []corev1.Container{{
					Name: "sleep", Image: testImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "3600"}}}},
			},
		},
	}
	if _, err := others[0].client.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 120*time.Second, "the deployment's pod running", func() (bool, string) {
		pods, err := others[1].client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=after-failover"})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 1 && pods.Items[0].Status.Phase == corev1.PodRunning, fmt.Sprint(len(pods.Items))
	})

	// The killed server comes back and catches up.
	holder.start(t, bin, holder.args...)
	waitUntil(t, 120*time.Second, "the killed server serving again", func() (bool, string) {
		return haVoters(holder.client) == 3, ""
	})
	out, err := holder.in(filepath.Join(bin, "skiff"), "etcd", "members", "--kubeconfig", filepath.Join(holder.dataDir, "admin.kubeconfig"))
	if err != nil || strings.Count(out, "voter") != 3 {
		t.Errorf("skiff etcd members on the restarted server: %v\n%s", err, out)
	}
	t.Logf("skiff etcd members:\n%s", out)
	// Long enough past the kill for a node whose leases stopped to be
	// marked NotReady (40 s).
	for time.Since(killed) < 50*time.Second {
		time.Sleep(time.Second)
	}
	acked := load.stop()
	if n := notReady.Load(); n != nil {
		t.Errorf("the agent's node was not Ready: %s", *n)
	}
	t.Logf("%d creates acknowledged, %d refused during the test", len(acked), load.failed.Load())
	for _, s := range servers {
		waitUntil(t, 60*time.Second, "every acknowledged create on "+s.name, func() (bool, string) {
			missing, err := missingConfigMaps(ctx, s.client, acked)
			return err == nil && len(missing) == 0, fmt.Sprintf("%v missing: %v", err, missing)
		})
	}

	// Two of three down: the last refuses writes and serves no stale read.
	last := servers[2]
	for _, s := range servers[:2] {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_, err = last.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "no-quorum"}}, metav1.CreateOptions{})
	t.Logf("create without quorum: %v", err)
	if err == nil {
		t.Error("a create without quorum succeeded")
	}
	if _, err := last.client.CoreV1().ConfigMaps("default").Get(ctx, acked[0], metav1.GetOptions{}); err == nil {
		t.Error("a read without quorum was served")
	} else {
		t.Logf("get without quorum: %v", err)
	}

	// --cluster-reset makes it a cluster of its own, with every object.
	_ = last.cmd.Process.Kill()
	_ = last.cmd.Wait()
	resetArgs := append(slices.Clone(last.args), "--cluster-reset")
	if out, err := last.in(append([]string{filepath.Join(bin, "skiff")}, resetArgs...)...); err != nil {
		t.Fatalf("cluster reset: %v\n%s", err, out)
	}
	last.start(t, bin, last.args...)
	nc.cluster = &cluster{bin: bin, dataDir: last.dataDir, log: last.log, netns: last.netns}
	nc.cmd = last.cmd
	waitUntil(t, 60*time.Second, "the reset server alone", func() (bool, string) {
		return haVoters(last.client) == 1, ""
	})
	out, err = last.in(filepath.Join(bin, "skiff"), "etcd", "members", "--kubeconfig", filepath.Join(last.dataDir, "admin.kubeconfig"))
	if err != nil || strings.Count(out, "voter") != 1 || !strings.Contains(out, last.ip+":2380") {
		t.Errorf("skiff etcd members after the reset: %v\n%s", err, out)
	}
	missing, err := missingConfigMaps(ctx, last.client, acked)
	if err != nil || len(missing) > 0 {
		t.Fatalf("after the reset: %v, missing %v", err, missing)
	}
	if _, err := last.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-reset"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a create after the reset: %v", err)
	}
	t.Logf("one server: %s", createBurst(t, []*haServer{last}, "one"))
}

// createBurst creates 2000 ConfigMaps from 50 clients dealt over the
// servers, and returns their latencies: the figures compare one server
// with three on the same machine.
func createBurst(t *testing.T, servers []*haServer, prefix string) bench.Latencies {
	t.Helper()
	const clients, creates = 50, 2000
	var (
		mu      sync.Mutex
		samples []time.Duration
		next    atomic.Int64
		wg      sync.WaitGroup
		failed  atomic.Pointer[error]
	)
	begin := time.Now()
	for c := range clients {
		client := servers[c%len(servers)].client
		wg.Go(func() {
			for i := next.Add(1); i <= creates; i = next.Add(1) {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%s-%d", prefix, i)}}
				start := time.Now()
				if _, err := client.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				samples = append(samples, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("create burst: %v", *err)
	}
	return bench.Summarise("create", time.Since(begin), samples)
}

// haClient is an admin client of the server at ip, from the host.
func haClient(t *testing.T, dataDir, ip string) kubernetes.Interface {
	t.Helper()
	tlsDir := filepath.Join(dataDir, "tls")
	c, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + ip + ":6443", QPS: -1, Timeout: 15 * time.Second,
		TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(tlsDir, "ca.crt"),
			CertFile: filepath.Join(tlsDir, "client-admin.crt"), KeyFile: filepath.Join(tlsDir, "client-admin.key")}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// haVoters is how many voting members the server's etcd has (0 when it
// does not answer).
func haVoters(c kubernetes.Interface) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	members, err := server.ListEtcdMembers(ctx, c)
	if err != nil {
		return 0
	}
	n := 0
	for _, m := range members {
		if !m.Learner {
			n++
		}
	}
	return n
}

func nodeReady(c kubernetes.Interface, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// leaseHolder is the server holding the Lease name in kube-system.
func leaseHolder(t *testing.T, servers []*haServer, name string) *haServer {
	t.Helper()
	return leaseHolderAmong(t, servers, name, 60*time.Second)
}

// leaseHolderAmong waits until one of servers holds the Lease and
// returns it; the holder identity starts with the server's node name.
func leaseHolderAmong(t *testing.T, servers []*haServer, name string, timeout time.Duration) *haServer {
	t.Helper()
	var holder *haServer
	waitUntil(t, timeout, "a server among the live ones holding Lease "+name, func() (bool, string) {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			l, err := s.client.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
			cancel()
			if err != nil || l.Spec.HolderIdentity == nil {
				continue
			}
			for _, h := range servers {
				if strings.HasPrefix(*l.Spec.HolderIdentity, h.name+"_") {
					holder = h
					return true, ""
				}
			}
			return false, *l.Spec.HolderIdentity
		}
		return false, "no answer"
	})
	return holder
}

// watchReady polls the node's Ready condition through any server that
// answers until ctx is done, and keeps the first observation that is not
// True.
func watchReady(ctx context.Context, servers []*haServer, name string) *atomic.Pointer[string] {
	var seen atomic.Pointer[string]
	go func() {
		for ctx.Err() == nil {
			for _, s := range servers {
				c, cancel := context.WithTimeout(ctx, 3*time.Second)
				n, err := s.client.CoreV1().Nodes().Get(c, name, metav1.GetOptions{})
				cancel()
				if err != nil {
					continue
				}
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
						msg := fmt.Sprintf("%s at %s: %s", cond.Status, time.Now().Format(time.RFC3339), cond.Message)
						seen.CompareAndSwap(nil, &msg)
					}
				}
				break
			}
			time.Sleep(time.Second)
		}
	}()
	return &seen
}

// probeWrites sends a create through one of servers every 100 ms, each
// bounded by 2 s, until one is acknowledged, and then holds how long after
// since it was.
func probeWrites(ctx context.Context, servers []*haServer, since time.Time) *atomic.Int64 {
	var first atomic.Int64
	go func() {
		for i := 0; ctx.Err() == nil && first.Load() == 0; i++ {
			go func() {
				c, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("probe-%d", i)}}
				if _, err := servers[i%len(servers)].client.CoreV1().ConfigMaps("default").Create(c, cm, metav1.CreateOptions{}); err == nil {
					first.CompareAndSwap(0, int64(time.Since(since)))
				}
			}()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return &first
}

// createLoad creates ConfigMaps through the servers from a few clients,
// each moving to the next server when one fails, and records what was
// acknowledged.
type createLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  []string
	// starts are when each acknowledged create was sent.
	starts, ends []time.Time
	failed       atomic.Int64
}

func startCreateLoad(ctx context.Context, servers []*haServer) *createLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &createLoad{cancel: cancel}
	const workers = 6
	for w := range workers {
		l.wg.Go(func() {
			s := w % len(servers)
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("load-%d-%d", w, i)
				start := time.Now()
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := servers[s].client.CoreV1().ConfigMaps("default").Create(rctx,
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.CreateOptions{})
				rcancel()
				switch {
				case err == nil || apierrors.IsAlreadyExists(err):
					// AlreadyExists: an earlier try of this name that
					// timed out had in fact been written.
					l.mu.Lock()
					l.acked = append(l.acked, name)
					l.starts, l.ends = append(l.starts, start), append(l.ends, time.Now())
					l.mu.Unlock()
				case errors.Is(err, context.Canceled):
					return
				default:
					l.failed.Add(1)
					s = (s + 1) % len(servers)
					// The same name again: it may have been written.
					i--
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return l
}

// firstAfter is how long after t the first create sent after t was
// acknowledged; 0 while none was.
func (l *createLoad) firstAfter(t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var best time.Duration
	for i, s := range l.starts {
		if s.After(t) {
			if d := l.ends[i].Sub(t); best == 0 || d < best {
				best = d
			}
		}
	}
	return best
}

// stop ends the load and returns the acknowledged names.
func (l *createLoad) stop() []string {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// missingConfigMaps lists the names that the server does not have.
func missingConfigMaps(ctx context.Context, c kubernetes.Interface, names []string) ([]string, error) {
	list, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, cm := range list.Items {
		have[cm.Name] = true
	}
	var missing []string
	for _, n := range names {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
