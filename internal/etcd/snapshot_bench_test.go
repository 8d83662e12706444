package etcd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff/internal/etcd"
	"skiff/internal/etcd/etcdtest"
)

// BenchmarkSnapshot100k measures saving a snapshot of a database of
// 100,000 objects of 1 KiB (ConfigMap-sized), and restoring it into a new
// data dir, hash check included. Run with -benchtime=1x: each iteration
// saves and restores once.
func BenchmarkSnapshot100k(b *testing.B) {
	const objects, batch = 100_000, 128
	e := etcdtest.StartServer(b, func(c *etcd.Config) { c.QuotaBackendBytes = 8 << 30 })
	ctx := context.Background()
	value := strings.Repeat("v", 1024)
	for i := 0; i < objects; i += batch {
		ops := make([]clientv3.Op, 0, batch)
		for j := i; j < min(i+batch, objects); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/configmaps/bench/cm-%06d", j), value))
		}
		if _, err := e.Client().Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	var save, restore time.Duration
	for i := 0; b.Loop(); i++ {
		path := filepath.Join(dir, fmt.Sprintf("snap-%d", i))
		start := time.Now()
		st, err := etcd.SaveSnapshot(ctx, e.Client(), path)
		if err != nil {
			b.Fatal(err)
		}
		save += time.Since(start)
		if st.Keys < objects {
			b.Fatalf("snapshot holds %d keys", st.Keys)
		}
		start = time.Now()
		err = etcd.RestoreSnapshot(etcd.RestoreConfig{SnapshotPath: path, DataDir: filepath.Join(dir, fmt.Sprintf("restored-%d", i))})
		if err != nil {
			b.Fatal(err)
		}
		restore += time.Since(start)
		b.SetBytes(st.Size)
		_ = os.RemoveAll(filepath.Join(dir, fmt.Sprintf("restored-%d", i)))
		_ = os.Remove(path)
	}
	b.ReportMetric(float64(save.Milliseconds())/float64(b.N), "save-ms/op")
	b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms/op")
}
