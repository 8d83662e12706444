package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"skiff/internal/etcd"
)

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") {
			fmt.Print(strings.Join(strings.Fields(l), " "), " ")
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return fmt.Sprintf("heapInuse=%dMB", m.HeapInuse>>20)
}

func main() {
	snap, _ := strconv.ParseUint(os.Args[1], 10, 64)
	n, _ := strconv.Atoi(os.Args[2])
	dir, _ := os.MkdirTemp("", "rss")
	defer os.RemoveAll(dir)
	fmt.Println("before:", rss())
	t0 := time.Now()
	s, err := etcd.Start(context.Background(), etcd.Config{DataDir: dir, ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0", SnapshotCount: snap})
	if err != nil {
		panic(err)
	}
	fmt.Println("start took", time.Since(t0))
	fmt.Println("idle:", rss())
	val := strings.Repeat("x", 2048)
	ctx := context.Background()
	for i := range n {
		if _, err := s.Client().Put(ctx, fmt.Sprintf("/k/%d", i%2000), val); err != nil {
			panic(err)
		}
	}
	time.Sleep(2 * time.Second)
	fmt.Println("after", n, "puts (2000 keys x 2KiB):", rss())
	s.Close()
}
