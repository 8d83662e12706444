package manager_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"skiff/internal/controller"
	"skiff/internal/controller/manager"
	"skiff/internal/pki"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

// probe is a controller that records which manager runs it.
type probe struct {
	mu      sync.Mutex
	running map[string]bool
	max     int
	started chan string
}

func (p *probe) ctor(identity string) controller.Constructor {
	return func(controller.Context) (controller.Controller, error) { return probeController{p, identity}, nil }
}

type probeController struct {
	p        *probe
	identity string
}

func (c probeController) Run(ctx context.Context, workers int) error {
	c.p.mu.Lock()
	c.p.running[c.identity] = true
	c.p.max = max(c.p.max, len(c.p.running))
	c.p.mu.Unlock()
	c.p.started <- c.identity
	<-ctx.Done()
	c.p.mu.Lock()
	delete(c.p.running, c.identity)
	c.p.mu.Unlock()
	return nil
}

func TestNewValidates(t *testing.T) {
	noop := func(controller.Context) (controller.Controller, error) { return nil, nil }
	tests := []struct {
		name    string
		cfg     manager.Config
		wantErr bool
	}{
		{"no REST config", manager.Config{}, true},
		{"unknown disabled controller", manager.Config{RESTConfig: &rest.Config{Host: "https://x"}, Controllers: map[string]controller.Constructor{"a": noop}, Disabled: map[string]bool{"b": true}}, true},
		{"ok", manager.Config{RESTConfig: &rest.Config{Host: "https://x"}, Controllers: map[string]controller.Constructor{"a": noop, "b": noop}, Disabled: map[string]bool{"b": true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manager.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff([]string{"a"}, m.Enabled()); diff != "" {
					t.Errorf("enabled (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestOneLeaderActs runs two managers on one API server: only one runs
// its controllers at a time, and the other takes over when it stops.
func TestOneLeaderActs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = server.Components })
	rc := rest.CopyConfig(s.Config)
	p := &probe{running: map[string]bool{}, started: make(chan string, 2)}
	start := func(identity string) (stop func()) {
		m, err := manager.New(manager.Config{
			RESTConfig: rc, Identity: identity,
			Controllers:   map[string]controller.Constructor{"probe": p.ctor(identity)},
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := m.Run(mctx); err != nil && mctx.Err() == nil {
				t.Errorf("manager %s: %v", identity, err)
			}
		}()
		return func() { mcancel(); <-done }
	}
	stopA := start("a")
	if got := <-p.started; got != "a" {
		t.Fatalf("first leader = %s, want a", got)
	}
	stopB := start("b")
	defer stopB()
	stopA()
	if got := <-p.started; got != "b" {
		t.Fatalf("second leader = %s, want b", got)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max != 1 {
		t.Errorf("%d managers ran controllers at once, want 1", p.max)
	}
}

// TestControllersRunInServer checks the wiring: a full control plane (its
// controller manager and scheduler included) runs a StatefulSet, a
// DaemonSet and a Job to running pods, and gives the node a pod CIDR.
// This package has no goroutine-leak check (servertest.Main): a server running its
// controller manager leaves client-go's client certificate rotation
// goroutines behind.
func TestControllersRunInServer(t *testing.T) {
	e := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = nil })
	c := context.Background()
	if _, err := e.CreateNode(c, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	e.StartKubelet(t, "")
	two := int32(2)
	tmpl := func(l map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l},
			Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	sel := func(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }
	if _, err := e.Client.AppsV1().StatefulSets("default").Create(c, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "w"},
		Spec: appsv1.StatefulSetSpec{Replicas: &two, Selector: sel(map[string]string{"app": "w"}), Template: tmpl(map[string]string{"app": "w"}, "")}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.AppsV1().DaemonSets("default").Create(c, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DaemonSetSpec{Selector: sel(map[string]string{"app": "d"}), Template: tmpl(map[string]string{"app": "d"}, "")}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.BatchV1().Jobs("default").Create(c, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"},
		Spec: batchv1.JobSpec{Template: tmpl(nil, corev1.RestartPolicyNever)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "four running pods", func(context.Context) (bool, error) {
		ps, err := e.Client.CoreV1().Pods("default").List(c, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range ps.Items {
			if p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		return n == 4, nil
	})
	servertest.Wait(t, "a pod CIDR on the node", func(context.Context) (bool, error) {
		n, err := e.Client.CoreV1().Nodes().Get(c, "n1", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR != "", err
	})
}

// captured is a controller constructor that hands its context to the test.
func captured(got chan<- controller.Context) controller.Constructor {
	return func(cc controller.Context) (controller.Controller, error) {
		got <- cc
		return nil, nil
	}
}

// TestControllersActAsTheirServiceAccounts runs a manager as
// system:kube-controller-manager, as skiff server does: a controller with
// a ServiceAccount acts as it (tokens of the account, which the manager
// creates) with only its role's rights; one without acts as the manager.
func TestControllersActAsTheirServiceAccounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = server.Components })
	dir := filepath.Join(s.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueClient(dir, "test-kcm", "system:kube-controller-manager", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rest.Config{Host: s.Config.Host, UserAgent: "test-kcm",
		TLSClientConfig: rest.TLSClientConfig{CAFile: ca.CertFile(), CertFile: cert, KeyFile: key}}
	rsCtx, plainCtx := make(chan controller.Context, 1), make(chan controller.Context, 1)
	m, err := manager.New(manager.Config{
		RESTConfig:      rc,
		Controllers:     map[string]controller.Constructor{"replicaset": captured(rsCtx), "plain": captured(plainCtx)},
		ServiceAccounts: map[string]string{"replicaset": "replicaset-controller"},
	})
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(mctx)
	}()
	defer func() { mcancel(); <-done }()
	rs, plain := <-rsCtx, <-plainCtx

	whoami := func(cc controller.Context) string {
		r, err := cc.Client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("self subject review: %v", err)
		}
		return r.Status.UserInfo.Username
	}
	if got, want := whoami(rs), "system:serviceaccount:kube-system:replicaset-controller"; got != want {
		t.Errorf("replicaset controller acts as %q, want %q", got, want)
	}
	if got, want := whoami(plain), "system:kube-controller-manager"; got != want {
		t.Errorf("a controller without an account acts as %q, want %q", got, want)
	}
	if _, err := s.Client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "replicaset-controller", metav1.GetOptions{}); err != nil {
		t.Errorf("the manager did not create the controller's account: %v", err)
	}
	pod := testobj.Pod("p").Obj()
	if _, err := rs.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Errorf("replicaset controller creates a pod: %v", err)
	}
	for _, tt := range []struct {
		name string
		do   func() error
	}{
		{"replicaset controller reads secrets", func() error {
			_, err := rs.Client.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"replicaset controller deletes a node", func() error {
			return rs.Client.CoreV1().Nodes().Delete(ctx, "n1", metav1.DeleteOptions{})
		}},
		{"replicaset controller's dynamic client reads secrets", func() error {
			_, err := rs.Dynamic.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace("default").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"the manager itself creates a pod", func() error {
			_, err := plain.Client.CoreV1().Pods("default").Create(ctx, testobj.Pod("q").Obj(), metav1.CreateOptions{})
			return err
		}},
	} {
		if err := tt.do(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", tt.name, err)
		}
	}
}
