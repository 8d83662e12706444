package etcd

import (
	"testing"
	"time"

	"skiff/internal/etcd/etcdtest"
)

func TestTimingProbe(t *testing.T) {
	t0 := time.Now()
	c := etcdtest.StartCluster(t, 3, nil)
	t.Logf("start %v", time.Since(t0))
	client, _ := Dial(c.ClientURLs, nil)
	defer client.Close()
	l := leaderIndex(t, client, c.ClientURLs)
	t0 = time.Now()
	c.Stop(l)
	t.Logf("stop leader %v", time.Since(t0))
	t0 = time.Now()
	waitForLeader(t, client, c.ClientURLs, l)
	t.Logf("wait leader %v", time.Since(t0))
}
