package server_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/bench"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// createClients is how many clients create at once in
// BenchmarkCreateServers.
const createClients = 50

// BenchmarkCreateServers creates b.N ConfigMaps with 50 concurrent clients
// spread round-robin over the API servers of one server and of a cluster
// of three (each on its own embedded etcd member, all voting), and
// reports per create:
//
//	p50-ms, p99-ms  latency percentiles
//	creates/s       throughput
//
// A cluster commits every write on a quorum of members, so the difference
// between the two is what the replication costs. Servers are started (and
// stopped) for every run, outside the timer.
//
// Run with: go test ./internal/server -run '^$' -bench CreateServers -benchtime 2000x
func BenchmarkCreateServers(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			servers := startServers(b, n)
			clients := createClientsFor(b, servers)
			const ns = "bench"
			ctx := context.Background()
			if _, err := servers[0].Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			// Every client creates once before the timer: its connection is
			// open and its server knows the namespace (admission refuses
			// objects in a namespace it has not seen yet).
			for i, c := range clients {
				servertest.Wait(b, "first create through each client", func(ctx context.Context) (bool, error) {
					_, err := c.CoreV1().ConfigMaps(ns).Create(ctx, configMap(ns, fmt.Sprintf("warm-%d", i), nil), metav1.CreateOptions{})
					return err == nil, err
				})
			}

			samples := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for _, c := range clients {
				wg.Go(func() {
					cms := c.CoreV1().ConfigMaps(ns)
					for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
						t0 := time.Now()
						if _, err := cms.Create(ctx, configMap(ns, fmt.Sprintf("cm-%d", i), nil), metav1.CreateOptions{}); err != nil {
							b.Errorf("create %d: %v", i, err)
							return
						}
						samples[i] = time.Since(t0)
					}
				})
			}
			wg.Wait()
			total := time.Since(start)
			b.StopTimer()
			if b.Failed() {
				return
			}
			l := bench.Summarise("create", total, samples)
			b.ReportMetric(float64(l.P50)/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(l.P99)/float64(time.Millisecond), "p99-ms")
			b.ReportMetric(l.PerSecond, "creates/s")
		})
	}
}

// startServers starts one default server, or a cluster of n: a first
// server that initialises the etcd cluster and n-1 that join it, once
// all members vote.
func startServers(b *testing.B, n int) []*servertest.Server {
	b.Helper()
	if n == 1 {
		return []*servertest.Server{servertest.Start(b, nil)}
	}
	first := servertest.Start(b, func(c *server.Config) {
		c.ClusterInit = true
		c.AdvertiseAddress = net.ParseIP("192.0.2.41")
	})
	servers := []*servertest.Server{first}
	for i := 2; i <= n; i++ {
		servers = append(servers, joinServer(b, first, b.TempDir(), fmt.Sprintf("192.0.2.%d", 40+i)))
	}
	waitVoters(b, first, n)
	return servers
}

// createClientsFor returns createClients admin clients, dealt round-robin
// to servers, each with a connection of its own as separate client
// processes would have (client-go shares one transport, and so one HTTP/2
// connection, among clients of equal TLS configuration unless they dial
// themselves). They send protobuf and are not rate limited.
func createClientsFor(b *testing.B, servers []*servertest.Server) []kubernetes.Interface {
	b.Helper()
	clients := make([]kubernetes.Interface, createClients)
	for i := range clients {
		clients[i] = servers[i%len(servers)].ClientFor(b, func(rc *rest.Config) {
			rc.QPS, rc.Burst = -1, 0
			rc.ContentType = "application/vnd.kubernetes.protobuf"
			rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
			rc.Dial = (&net.Dialer{}).DialContext
		})
	}
	return clients
}
