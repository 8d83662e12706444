package server_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestEtcdNoSpaceRecovery fills the embedded etcd to a small quota with
// the history of one large ConfigMap: etcd raises NOSPACE and refuses
// the write; the server compacts, defragments and disarms, says so in an
// event and a metric, and writes succeed again.
func TestEtcdNoSpaceRecovery(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) {
		c.EtcdQuotaBackendBytes = 8 << 20
		c.EtcdMaintenanceInterval = 100 * 1e6
	})
	ctx := context.Background()
	cms := ts.Client.CoreV1().ConfigMaps("default")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"v": strings.Repeat("x", 900<<10)}}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := 0; refused == nil; i++ {
		if i == 100 {
			t.Fatal("100 writes of 900 KiB fit an 8 MiB quota")
		}
		cm.Data["v"] = strings.Repeat(string(rune('a'+i%26)), 900<<10)
		_, refused = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if !strings.Contains(refused.Error(), "database space exceeded") {
		t.Fatalf("write refused with %v, want NOSPACE", refused)
	}
	servertest.Wait(t, "writes accepted again", func(ctx context.Context) (bool, error) {
		cm.Data["v"] = "small"
		_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err == nil, err
	})
	servertest.Wait(t, "EtcdNoSpace event", func(ctx context.Context) (bool, error) {
		evs, err := ts.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "EtcdNoSpace" && e.InvolvedObject.Kind == "Node" && e.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	})
	metrics, err := ts.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"skiff_etcd_nospace_recoveries_total 1", `skiff_etcd_alarms{alarm="NOSPACE"} 0`, `skiff_etcd_defragmentations_total{cause="nospace"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	body, err := ts.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").Param("verbose", "").DoRaw(ctx)
	if err != nil || !strings.Contains(string(body), "[+]etcd ok") {
		t.Errorf("readyz: %s %v", body, err)
	}
}
