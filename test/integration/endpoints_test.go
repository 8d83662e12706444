package integration

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/etcd/etcdtest"
	"skiff/internal/node"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// kubernetesEndpoints is what default/kubernetes lists: the Endpoints'
// addresses and the EndpointSlice's, each joined.
func kubernetesEndpoints(ctx context.Context, c kubernetes.Interface) (string, string, error) {
	ep, err := c.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	var a []string
	for _, s := range ep.Subsets {
		for _, addr := range s.Addresses {
			a = append(a, addr.IP)
		}
	}
	es, err := c.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	var b []string
	for _, e := range es.Endpoints {
		b = append(b, e.Addresses...)
	}
	slices.Sort(a)
	slices.Sort(b)
	return strings.Join(a, ","), strings.Join(b, ","), nil
}

// TestKubernetesEndpointsListEveryServer: two servers on one etcd both
// (advertising documentation addresses nothing dials here)
// appear in the kubernetes Service's endpoints; one that stops leaves at
// once, and one that dies without a word leaves when its Lease expires.
func TestKubernetesEndpointsListEveryServer(t *testing.T) {
	e := etcdtest.StartServer(t, nil)
	start := func(ip string) *servertest.Server {
		return servertest.Start(t, func(c *server.Config) {
			c.EtcdServers = []string{e.ClientURL()}
			c.AdvertiseAddress = net.ParseIP(ip)
			c.EndpointReconcileInterval = 100 * time.Millisecond
		})
	}
	a := start("192.0.2.1")
	b := start("192.0.2.2")
	wantEndpoints := func(what, want string) {
		t.Helper()
		servertest.Wait(t, what, func(ctx context.Context) (bool, error) {
			eps, slice, err := kubernetesEndpoints(ctx, a.Client)
			return eps == want && slice == want, err
		})
	}
	wantEndpoints("both servers in the endpoints", "192.0.2.1,192.0.2.2")

	// A server that vanished renews no more: gone once its Lease expires.
	ctx := context.Background()
	ttl := int32(3)
	now := metav1.NewMicroTime(time.Now())
	holder := "192.0.2.9"
	_, err := a.Client.CoordinationV1().Leases("kube-system").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "apiserver-endpoint-192-0-2-9", Labels: map[string]string{"apiserver.skiff.dev/kubernetes-endpoint": "true"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &ttl, RenewTime: &now},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantEndpoints("a third, briefly", "192.0.2.1,192.0.2.2,192.0.2.9")
	wantEndpoints("the third gone after its TTL", "192.0.2.1,192.0.2.2")

	b.Close()
	wantEndpoints("the stopped server gone", "192.0.2.1")
	if _, err := a.Client.CoordinationV1().Leases("kube-system").Get(ctx, "apiserver-endpoint-192-0-2-2", metav1.GetOptions{}); err == nil {
		t.Error("the stopped server's Lease is still there")
	}
}

// TestNodeLearnsServers: a node, reading as itself under the Node
// authorizer, learns the cluster's servers from default/kubernetes into
// the pool its clients dial through.
func TestNodeLearnsServers(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		c.AdvertiseAddress = net.ParseIP("192.0.2.1")
		c.EndpointReconcileInterval = 100 * time.Millisecond
	})
	addr, err := node.ServerAddress(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := node.NewServerPool(node.ServerPoolConfig{Default: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	want := net.JoinHostPort("192.0.2.1", port)
	nc := s.NodeClient(t, "n1")
	servertest.Wait(t, "the node to list the server", func(ctx context.Context) (bool, error) {
		if err := pool.Refresh(ctx, nc); err != nil {
			return false, err
		}
		return slices.Contains(pool.Servers(), want), fmt.Errorf("servers %v", pool.Servers())
	})
}
