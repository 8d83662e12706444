package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/node"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// joinServer starts a server that joins the cluster of first.
func joinServer(t testing.TB, first *servertest.Server, dataDir, advertise string) *servertest.Server {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(first.DataDir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, func(c *server.Config) {
		c.DataDir = dataDir
		c.JoinServer = first.URL()
		c.JoinToken = strings.TrimSpace(string(token))
		c.AdvertiseAddress = net.ParseIP(advertise)
	})
}

// waitVoters waits until the cluster, as ts sees it, has exactly want
// members, all voting.
func waitVoters(t testing.TB, ts *servertest.Server, want int) []server.EtcdMember {
	t.Helper()
	var members []server.EtcdMember
	servertest.Wait(t, "etcd members voting", func(ctx context.Context) (bool, error) {
		var err error
		members, err = server.ListEtcdMembers(ctx, ts.Client)
		if err != nil {
			return false, err
		}
		return len(members) == want && !slices.ContainsFunc(members, func(m server.EtcdMember) bool { return m.Learner }), nil
	})
	return members
}

// TestServersJoinEtcd: servers that join the first with its token share
// its CAs and keys, their members are promoted to voters and the objects
// are the same through each; a member removed leaves the list, and a
// server that lost its etcd data joins again under its name.
func TestServersJoinEtcd(t *testing.T) {
	first := servertest.Start(t, func(c *server.Config) {
		c.ClusterInit = true
		c.AdvertiseAddress = net.ParseIP("192.0.2.31")
	})
	second := joinServer(t, first, t.TempDir(), "192.0.2.32")
	thirdDir := t.TempDir()
	third := joinServer(t, first, thirdDir, "192.0.2.33")
	members := waitVoters(t, first, 3)

	for _, f := range []string{"tls/ca.crt", "tls/ca.key", "tls/etcd/ca.crt", "tls/front-proxy/ca.crt", "tls/sa.key", "tls/join-token.secret"} {
		a, err := os.ReadFile(filepath.Join(first.DataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*servertest.Server{second, third} {
			if b, err := os.ReadFile(filepath.Join(s.DataDir, f)); err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s of %s differs from the first server's (%v)", f, s.DataDir, err)
			}
		}
	}
	ctx := t.Context()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := first.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The third server's API, with the first server's admin credentials:
	// one CA.
	if got, err := third.Client.CoreV1().ConfigMaps("default").Get(ctx, "shared", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Fatalf("the third server reads %v, %v", got, err)
	}

	// The bootstrap data opens to the server's token only.
	caPEM, err := os.ReadFile(filepath.Join(first.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err = node.PostJSON(ctx, first.URL(), server.ServerBootstrapPath, "0123456789abcdef0123", caPEM, nil, struct{}{}, &out)
	if refused, ok := err.(*node.RefusedError); !ok || refused.Code != http.StatusUnauthorized {
		t.Errorf("bootstrap with a wrong token: %v, want 401", err)
	}
	err = node.PostJSON(ctx, first.URL(), server.ServerBootstrapPath, "abcdef.0123456789abcdef", caPEM, nil, struct{}{}, &out)
	if refused, ok := err.(*node.RefusedError); !ok || refused.Code != http.StatusForbidden {
		t.Errorf("bootstrap with a bootstrap token: %v, want 403", err)
	}

	var thirdName string
	for _, m := range members {
		if m.Self {
			if err := server.RemoveEtcdMember(ctx, first.Client, m.Name); err == nil {
				t.Error("removing the answering server's own member succeeded")
			}
		}
	}
	nameFile, err := os.ReadFile(filepath.Join(thirdDir, "etcd-member-name"))
	if err != nil {
		t.Fatal(err)
	}
	thirdName = strings.TrimSpace(string(nameFile))

	// The third server loses its etcd data and joins again: the member
	// of its name is replaced.
	third.Close()
	if err := os.RemoveAll(filepath.Join(thirdDir, "etcd")); err != nil {
		t.Fatal(err)
	}
	third = joinServer(t, first, thirdDir, "192.0.2.33")
	members = waitVoters(t, second, 3)
	if !slices.ContainsFunc(members, func(m server.EtcdMember) bool { return m.Name == thirdName }) {
		t.Errorf("members %+v: the third server did not join again as %s", members, thirdName)
	}
	if got, err := third.Client.CoreV1().ConfigMaps("default").Get(ctx, "shared", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
		t.Fatalf("the third server, joined again, reads %v, %v", got, err)
	}

	// Shut down for good and its Node deleted, it leaves the list.
	third.Close()
	host := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "third-host",
		Annotations: map[string]string{server.EtcdMemberAnnotation: thirdName}, Finalizers: []string{server.EtcdMemberFinalizer}}}
	if _, err := first.Client.CoreV1().Nodes().Create(ctx, host, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := first.Client.CoreV1().Nodes().Delete(ctx, host.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitVoters(t, first, 2)
	servertest.Wait(t, "the deleted node gone", func(ctx context.Context) (bool, error) {
		_, err := first.Client.CoreV1().Nodes().Get(ctx, host.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err := server.RemoveEtcdMember(ctx, second.Client, thirdName); err == nil {
		t.Error("removing a removed member succeeded")
	}
}

// TestClusterInitAdvertisesPeerURL: a server first started alone, started
// again with --cluster-init on another peer URL, tells the cluster its new
// URL, so that servers can join it.
func TestClusterInitAdvertisesPeerURL(t *testing.T) {
	dir := t.TempDir()
	alone := servertest.Start(t, func(c *server.Config) { c.DataDir = dir })
	alone.Close()
	seed := servertest.Start(t, func(c *server.Config) {
		c.DataDir = dir
		c.ClusterInit = true
		c.EtcdPeerURL = "https://127.0.0.2:0"
	})
	members := waitVoters(t, seed, 1)
	if len(members[0].PeerURLs) != 1 || !strings.HasPrefix(members[0].PeerURLs[0], "https://127.0.0.2:") {
		t.Errorf("peer URLs %v, want the new one on 127.0.0.2", members[0].PeerURLs)
	}
}
