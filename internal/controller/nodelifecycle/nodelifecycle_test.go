package nodelifecycle_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"skiff/internal/controller/nodelifecycle"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func pod(name string, tols ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Tolerations: tols,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// TestDeadNodeEviction stops a node's heartbeats: after the grace period
// it turns Unknown and tainted unreachable, and its pods leave as their
// tolerations allow.
func TestDeadNodeEviction(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Now())
	if _, err := env.CreateNode(ctx, testobj.Node("n1").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	renew := metav1.NewMicroTime(time.Now())
	holder := "n1"
	if _, err := env.Client.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Create(ctx, &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	thirty := int64(30)
	unreachable := func(secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: nodelifecycle.TaintUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	// The API server gives pods without their own a 300 s toleration (as
	// upstream's DefaultTolerationSeconds admission does): "plain" opts
	// out with zero seconds, so it leaves at once.
	zero := int64(0)
	for _, p := range []*corev1.Pod{pod("plain", unreachable(&zero)), pod("short", unreachable(&thirty)), pod("forever", unreachable(nil))} {
		if _, err := env.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env.RunController(t, nodelifecycle.NewWithConfig(nodelifecycle.Config{GracePeriod: 5 * time.Second}), clk)

	servertest.Wait(t, "the controller to arm the grace timer", func(context.Context) (bool, error) { return clk.HasWaiters(), nil })
	if n, _ := env.Client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); len(n.Spec.Taints) != 0 {
		t.Fatalf("healthy node tainted: %v", n.Spec.Taints)
	}
	clk.Step(6 * time.Second)

	servertest.Wait(t, "the node to be Unknown and tainted", func(context.Context) (bool, error) {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var taints []string
		for _, t := range n.Spec.Taints {
			taints = append(taints, t.Key+":"+string(t.Effect))
		}
		sort.Strings(taints)
		want := []string{nodelifecycle.TaintUnreachable + ":NoExecute", nodelifecycle.TaintUnreachable + ":NoSchedule"}
		return n.Status.Conditions[0].Status == corev1.ConditionUnknown && cmp.Equal(want, taints), nil
	})
	gone := func(name string) (bool, error) {
		p, err := env.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && p.DeletionTimestamp != nil, err
	}
	servertest.Wait(t, "the intolerant pod to be evicted", func(context.Context) (bool, error) { return gone("plain") })
	for _, name := range []string{"short", "forever"} {
		if g, err := gone(name); g || err != nil {
			t.Fatalf("pod %s evicted before its toleration ran out (err %v)", name, err)
		}
	}
	p, err := env.Client.CoreV1().Pods("default").Get(ctx, "forever", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
			t.Errorf("pod on the unreachable node still Ready")
		}
	}

	clk.Step(31 * time.Second)
	servertest.Wait(t, "the pod with tolerationSeconds=30 to be evicted", func(context.Context) (bool, error) { return gone("short") })
	if g, err := gone("forever"); g || err != nil {
		t.Errorf("pod tolerating forever was evicted (err %v)", err)
	}
}
