package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/etcd"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
	etcdstore "skiff/internal/storage/etcd"
)

// etcdClient dials the embedded etcd of ts with the API server's own
// client certificate.
func etcdClient(t *testing.T, ts *servertest.Server) *clientv3.Client {
	t.Helper()
	dir := filepath.Join(ts.DataDir, "tls", "etcd")
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "apiserver-etcd-client.crt"), filepath.Join(dir, "apiserver-etcd-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cl, err := etcdstore.Dial([]string{ts.EtcdClientURL()}, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// allKeys reads every key and value of the etcd behind cl (at rev, if
// not zero).
func allKeys(t *testing.T, cl *clientv3.Client, rev int64) map[string]string {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithFromKey()}
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cl.Get(context.Background(), "\x00", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// TestEtcdSnapshotRestore: a snapshot saved through the API, the data
// dir's etcd replaced by it with --cluster-reset, holds every key and
// value etcd held at the snapshot's revision, and nothing written later;
// the server then starts on it. A damaged snapshot is refused before the
// data is touched.
func TestEtcdSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	ts := servertest.Start(t, nil)
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "snap"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := ts.Client.CoreV1().ConfigMaps("snap").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := server.SaveEtcdSnapshot(ctx, ts.Client, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sn.Name, "on-demand-") || sn.Size == 0 {
		t.Errorf("snapshot %+v", sn)
	}
	list, err := server.ListEtcdSnapshots(ctx, ts.Client)
	if err != nil || len(list) != 1 || list[0].Name != sn.Name {
		t.Fatalf("list: %+v, %v", list, err)
	}
	path := filepath.Join(server.SnapshotDir(ts.DataDir), sn.Name)
	st, err := etcd.ReadSnapshotStatus(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := etcdClient(t, ts)
	want := allKeys(t, cl, st.Revision)
	if len(want) != st.Keys || !slices.ContainsFunc(slices.Collect(maps.Keys(want)), func(k string) bool { return strings.HasSuffix(k, "/snap/cm-19") }) {
		t.Fatalf("%d keys at revision %d, snapshot has %d", len(want), st.Revision, st.Keys)
	}
	// Written after the snapshot: not in the restored data.
	if _, err := ts.Client.CoreV1().ConfigMaps("snap").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Client.CoreV1().ConfigMaps("snap").Delete(ctx, "cm-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ts.Close()
	reset := server.ResetConfig{Server: server.Config{DataDir: ts.DataDir, EtcdClientURL: "https://127.0.0.1:0",
		EtcdPeerURL: "https://127.0.0.1:0", Logger: servertest.Logger()}}

	// A damaged copy is refused, and the data stays as it was.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "damaged")
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	reset.RestorePath = bad
	if _, err := server.ResetCluster(ctx, reset); err == nil {
		t.Fatal("a damaged snapshot was restored")
	} else {
		t.Logf("damaged snapshot: %v", err)
	}
	if entries, _ := filepath.Glob(filepath.Join(ts.DataDir, "etcd-old-*")); len(entries) != 0 {
		t.Errorf("a refused restore left %v", entries)
	}

	reset.RestorePath = path
	old, err := server.ResetCluster(ctx, reset)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(old, "member")); err != nil {
		t.Errorf("the previous data was not kept: %v", err)
	}
	e, err := etcd.Start(ctx, etcd.Config{DataDir: filepath.Join(ts.DataDir, "etcd"), ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	got := allKeys(t, e.Client(), 0)
	resp, err := e.Client().Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		var diff []string
		for k := range want {
			if got[k] != want[k] {
				diff = append(diff, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diff = append(diff, "+"+k)
			}
		}
		t.Fatalf("restored keys differ from the snapshot's revision: %v", diff)
	}
	if resp.Header.Revision <= st.Revision {
		t.Errorf("restored revision %d, not past the snapshot's %d", resp.Header.Revision, st.Revision)
	}

	again := servertest.Start(t, func(c *server.Config) { c.DataDir = ts.DataDir })
	if _, err := again.Client.CoreV1().ConfigMaps("snap").Get(ctx, "cm-0", metav1.GetOptions{}); err != nil {
		t.Errorf("cm-0 after restore: %v", err)
	}
	if _, err := again.Client.CoreV1().ConfigMaps("snap").Get(ctx, "later", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a ConfigMap made after the snapshot: %v", err)
	}
	// Resource versions go on growing past those served before.
	cm, err := again.Client.CoreV1().ConfigMaps("snap").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-restore"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rv int64
	fmt.Sscan(cm.ResourceVersion, &rv)
	if rv <= st.Revision+2 {
		t.Errorf("resourceVersion %s after restore, snapshot at %d", cm.ResourceVersion, st.Revision)
	}

	// Delete through the API; an unknown name is a 404.
	if err := server.DeleteEtcdSnapshots(ctx, again.Client, []string{sn.Name}); err != nil {
		t.Fatal(err)
	}
	if err := server.DeleteEtcdSnapshots(ctx, again.Client, []string{sn.Name}); !apierrors.IsNotFound(err) {
		t.Errorf("deleting a missing snapshot: %v", err)
	}
	if _, err := server.SaveEtcdSnapshot(ctx, again.Client, "../escape"); !apierrors.IsBadRequest(err) {
		t.Errorf("a name with a slash: %v", err)
	}
}

// TestScheduledEtcdSnapshots: the server snapshots on its schedule and
// keeps only the newest --etcd-snapshot-retention of them.
func TestScheduledEtcdSnapshots(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) {
		c.EtcdSnapshotSchedule = "@every 1s"
		c.EtcdSnapshotRetention = 2
	})
	seen := map[string]bool{}
	servertest.Wait(t, "three scheduled snapshots, two kept", func(ctx context.Context) (bool, error) {
		list, err := server.ListEtcdSnapshots(ctx, ts.Client)
		if err != nil {
			return false, err
		}
		for _, sn := range list {
			if !strings.HasPrefix(sn.Name, "etcd-snapshot-") {
				return false, fmt.Errorf("scheduled snapshot named %s", sn.Name)
			}
			seen[sn.Name] = true
		}
		return len(seen) >= 3 && len(list) == 2, nil
	})
}
