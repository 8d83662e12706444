package etcd_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"skiff/internal/etcd"
	"skiff/internal/etcd/etcdtest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

func TestRestartKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd")
	start := func() *etcd.Server {
		s, err := etcd.Start(t.Context(), etcd.Config{
			DataDir:   dir,
			ClientURL: "http://127.0.0.1:0",
			PeerURL:   "http://127.0.0.1:0",
		})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return s
	}

	s := start()
	if _, err := s.Client().Put(t.Context(), "/k", "v1"); err != nil {
		s.Close()
		t.Fatalf("put: %v", err)
	}
	s.Close()
	s.Close() // a second Close is a no-op

	s = start()
	defer s.Close()
	resp, err := s.Client().Get(t.Context(), "/k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	var got []string
	for _, kv := range resp.Kvs {
		got = append(got, string(kv.Key)+"="+string(kv.Value))
	}
	if diff := cmp.Diff([]string{"/k=v1"}, got); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

func TestClientURLServesNetworkClients(t *testing.T) {
	s := etcdtest.StartServer(t, nil)
	if _, err := s.Client().Put(t.Context(), "/k", "v"); err != nil {
		t.Fatalf("put in-process: %v", err)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.ClientURL()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.ClientURL(), err)
	}
	defer c.Close()
	resp, err := c.Get(t.Context(), "/k")
	if err != nil {
		t.Fatalf("get over the network: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Errorf("get over the network = %v, want one key with value v", resp.Kvs)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     etcd.Config
		wantErr string
	}{
		{"no data dir", etcd.Config{}, "data dir is required"},
		{"bad cluster state", etcd.Config{DataDir: t.TempDir(), ClusterState: "joining"}, `cluster state "joining"`},
		{"election shorter than 5 ticks", etcd.Config{DataDir: t.TempDir(), TickMs: 100, ElectionMs: 200}, "election timeout 200ms"},
		{"bad client url", etcd.Config{DataDir: t.TempDir(), ClientURL: "http://[::1"}, "client url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := etcd.Start(t.Context(), tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestStartHonoursContext(t *testing.T) {
	// A member of a three-member cluster whose peers never start cannot
	// become ready; Start must give up when ctx is done.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	peerURL := "http://" + l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = etcd.Start(ctx, etcd.Config{
		DataDir:        t.TempDir(),
		Name:           "a",
		ClientURL:      "http://127.0.0.1:0",
		PeerURL:        peerURL,
		InitialCluster: "a=" + peerURL + ",b=http://127.0.0.1:2,c=http://127.0.0.1:3",
	})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Start with a cancelled ctx = %v, want a context canceled error", err)
	}
}

// BenchmarkStart measures how long a single member takes from Start to
// serving requests.
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		s, err := etcd.Start(b.Context(), etcd.Config{
			DataDir:   dir,
			ClientURL: "http://127.0.0.1:0",
			PeerURL:   "http://127.0.0.1:0",
		})
		if err != nil {
			b.Fatalf("start: %v", err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
