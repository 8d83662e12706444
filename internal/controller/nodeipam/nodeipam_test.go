package nodeipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/controller/nodeipam"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestNoOverlap joins nodes concurrently with the controller and checks
// that every node gets a distinct /24 of the cluster CIDR, and that a
// deleted node's subnet is handed out again.
func TestNoOverlap(t *testing.T) {
	env := servertest.Start(t, nil)
	ctx := context.Background()
	env.RunController(t, nodeipam.NewWithConfig(nodeipam.Config{ClusterCIDR: "10.42.0.0/16"}), nil)
	const n = 20
	for i := range n {
		if _, err := env.CreateNode(ctx, testobj.Node(fmt.Sprintf("n%d", i)).Capacity("4", "8Gi").Ready().Obj()); err != nil {
			t.Fatal(err)
		}
	}
	cluster := netip.MustParsePrefix("10.42.0.0/16")
	var cidrs map[string]string
	servertest.Wait(t, "every node to have a pod CIDR", func(context.Context) (bool, error) {
		list, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		cidrs = map[string]string{}
		for _, node := range list.Items {
			if node.Spec.PodCIDR == "" {
				return false, nil
			}
			cidrs[node.Name] = node.Spec.PodCIDR
			if len(node.Spec.PodCIDRs) != 1 || node.Spec.PodCIDRs[0] != node.Spec.PodCIDR {
				return false, fmt.Errorf("node %s: podCIDRs %v disagree with podCIDR", node.Name, node.Spec.PodCIDRs)
			}
		}
		return len(cidrs) == n, nil
	})
	seen := map[string]string{}
	for node, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil || p.Bits() != 24 || !cluster.Contains(p.Addr()) {
			t.Errorf("node %s: pod CIDR %s is not a /24 of %s", node, c, cluster)
		}
		if other, dup := seen[c]; dup {
			t.Errorf("nodes %s and %s share pod CIDR %s", node, other, c)
		}
		seen[c] = node
	}

	freed := cidrs["n3"]
	if err := env.Client.CoreV1().Nodes().Delete(ctx, "n3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "n3 to be gone", func(context.Context) (bool, error) {
		_, err := env.Client.CoreV1().Nodes().Get(ctx, "n3", metav1.GetOptions{})
		return err != nil, nil
	})
	if _, err := env.CreateNode(ctx, testobj.Node("late").Capacity("4", "8Gi").Ready().Obj()); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the new node to reuse the freed subnet", func(context.Context) (bool, error) {
		node, err := env.Client.CoreV1().Nodes().Get(ctx, "late", metav1.GetOptions{})
		return err == nil && node.Spec.PodCIDR == freed, err
	})
}
