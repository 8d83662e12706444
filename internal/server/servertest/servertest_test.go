package servertest_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestStartRestart starts a server, writes an object, and finds it again
// on a second server started on the first one's data dir.
func TestStartRestart(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, testobj.ConfigMap("c", "k", "v"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the configmap listed", func(ctx context.Context) (bool, error) {
		l, err := s.Dynamic(t).Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 1, err
	})
	s.Close()

	again := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = s.DataDir })
	got, err := again.Client.CoreV1().ConfigMaps("default").Get(ctx, "c", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Errorf("after restart data = %v, want k: v", got.Data)
	}
}
