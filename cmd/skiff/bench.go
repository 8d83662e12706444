package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/bench"
	"skiff/internal/procmem"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure skiff (or any Kubernetes API server)"}
	cmd.AddCommand(newBenchAPICommand(), newBenchSchedulerCommand(), newBenchPodsCommand(), newBenchScaleCommand())
	return cmd
}

func newBenchAPICommand() *cobra.Command {
	var (
		kubeconfig string
		dataDir    string
		clients    int
		objects    int
		settle     time.Duration
		rate       int
		watchers   int
		listAll    int
		serverPID  int
	)
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Startup time, idle RSS, and create/get/list/watch throughput and latency",
		Long: `Without --kubeconfig, starts its own "skiff server" in a fresh data dir and
reports the time from launch to /readyz and the server's RSS when idle, before
and after the load. With --kubeconfig, measures that API server's throughput only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			pid := serverPID
			if kubeconfig == "" {
				srv, err := spawnBenchServer(ctx, dataDir)
				if err != nil {
					return err
				}
				defer srv.stop()
				pid, kubeconfig = srv.pid, srv.kubeconfig
				startup := srv.startup
				fmt.Fprintf(out, "startup   launch -> /readyz ok: %v\n", startup.Round(time.Millisecond))
				fmt.Fprintf(out, "rss       idle after start: %s\n", idleRSS(pid, settle))
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			// The clients share this process: its collector is paced as
			// the server's is, so that the load's own collections do not
			// stall the requests it times.
			pacing, stopPacing := context.WithCancel(ctx)
			defer stopPacing()
			go procmem.NewGCPacer(procmem.GCConfig{}).Run(pacing)
			if _, err := bench.RunAPI(ctx, bench.APIConfig{Rest: rc, Clients: clients, Objects: objects, Rate: rate, Watchers: watchers, ListAll: listAll, ServerPID: pid}, out); err != nil {
				return err
			}
			if pid != 0 {
				fmt.Fprintf(out, "rss       right after load: %s\n", rss(pid))
				if m, ok := readMemory(pid); ok {
					fmt.Fprintf(out, "rss       peak since launch: %.1f MiB\n", float64(m.peak)/1024)
				}
				fmt.Fprintf(out, "rss       idle after load: %s\n", idleRSS(pid, settle))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "measure this API server instead of starting one")
	f.StringVar(&dataDir, "data-dir", "", "data dir for the server it starts (default: a new temporary one)")
	f.IntVar(&clients, "clients", 50, "concurrent clients")
	f.IntVar(&objects, "objects", 5000, "ConfigMaps to create")
	f.IntVar(&rate, "rate", 0, "pace creates and gets to this many per second in all (0: as fast as the clients go)")
	f.IntVar(&watchers, "watchers", 1, "watches that follow the creates; each must see every one once, in order")
	f.IntVar(&serverPID, "server-pid", 0, "with --kubeconfig: the server's process on this machine, to report its cpu and memory")
	f.IntVar(&listAll, "list-all", 5, "unpaged LISTs of every object to time after the creates")
	f.DurationVar(&settle, "settle", 45*time.Second, "how long the server idles before RSS is read (then it is read once a second for 10s and the largest reading reported)")
	return cmd
}

// benchServer is a `skiff server` a bench command started for its run.
type benchServer struct {
	pid        int
	kubeconfig string
	// startup is the time from launch to /readyz ok.
	startup time.Duration
	// stop interrupts the server, waits for it, and removes the data dir
	// when it was a temporary one.
	stop func()
}

// spawnBenchServer starts `skiff server` (no node agent) in dataDir, or in
// a new temporary data dir when dataDir is empty.
func spawnBenchServer(ctx context.Context, dataDir string) (*benchServer, error) {
	cleanup := func() {}
	if dataDir == "" {
		d, err := os.MkdirTemp("", "skiff-bench-")
		if err != nil {
			return nil, err
		}
		dataDir, cleanup = d, func() { os.RemoveAll(d) }
	}
	proc, startup, kc, err := launchServer(ctx, dataDir)
	if err != nil {
		cleanup()
		return nil, err
	}
	return &benchServer{pid: proc.Process.Pid, kubeconfig: kc, startup: startup, stop: func() {
		_ = proc.Process.Signal(os.Interrupt)
		_ = proc.Wait()
		cleanup()
	}}, nil
}

// launchServer starts `skiff server` from this binary on free ports and
// returns once /readyz answers ok, with the time that took.
func launchServer(ctx context.Context, dataDir string) (*exec.Cmd, time.Duration, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, "", err
	}
	cmd := exec.CommandContext(ctx, self, "server", "--data-dir", dataDir, "--https-port", "0", "--bind-address", "127.0.0.1",
		"--etcd-client-url", "https://127.0.0.1:0", "--etcd-peer-url", "https://127.0.0.1:0", "--disable-agent", "--log-level", "error")
	cmd.Stderr = os.Stderr
	kc := filepath.Join(dataDir, "admin.kubeconfig")
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, "", err
	}
	deadline := start.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cfg, err := clientcmd.LoadFromFile(kc); err == nil {
			for _, cl := range cfg.Clusters {
				resp, err := hc.Get(cl.Server + "/readyz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return cmd, time.Since(start), kc, nil
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, 0, "", fmt.Errorf("server not ready within 60s")
}

// memory is a process's resident set from /proc/<pid>/status, in KiB,
// with the largest it has been (peak).
type memory struct{ rss, anon, file, peak int64 }

func (m memory) String() string {
	return fmt.Sprintf("%.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB)", float64(m.rss)/1024, float64(m.anon)/1024, float64(m.file)/1024)
}

// readMemory reads a process's resident set; ok is false if it is gone.
func readMemory(pid int) (memory, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, false
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rss = kb
		case "RssAnon":
			m.anon = kb
		case "RssFile":
			m.file = kb
		case "VmHWM":
			m.peak = kb
		}
	}
	return m, m.rss > 0
}

// rss reads a process's resident set now.
func rss(pid int) string {
	if m, ok := readMemory(pid); ok {
		return m.String()
	}
	return "unknown"
}

// idleRSS lets a process idle for settle, then reads its resident set once
// a second for ten seconds and reports the largest reading.
func idleRSS(pid int, settle time.Duration) string {
	time.Sleep(settle)
	var peak memory
	for i := range 10 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		m, ok := readMemory(pid)
		if !ok {
			return "unknown"
		}
		if m.rss > peak.rss {
			peak = m
		}
	}
	return peak.String()
}
