package main

import (
	"bufio"
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
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure skiff (or any Kubernetes API server)"}
	cmd.AddCommand(newBenchAPICommand(), newBenchSchedulerCommand(), newBenchPodsCommand())
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
			var pid int
			if kubeconfig == "" {
				if dataDir == "" {
					d, err := os.MkdirTemp("", "skiff-bench-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(d)
					dataDir = d
				}
				proc, startup, kc, err := launchServer(ctx, dataDir)
				if err != nil {
					return err
				}
				defer func() {
					_ = proc.Process.Signal(os.Interrupt)
					_ = proc.Wait()
				}()
				pid = proc.Process.Pid
				kubeconfig = kc
				fmt.Fprintf(out, "startup   launch -> /readyz ok: %v\n", startup.Round(time.Millisecond))
				time.Sleep(settle)
				fmt.Fprintf(out, "rss       idle after start: %s\n", rss(pid))
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			if _, err := bench.RunAPI(ctx, bench.APIConfig{Rest: rc, Clients: clients, Objects: objects, Rate: rate}, out); err != nil {
				return err
			}
			if pid != 0 {
				fmt.Fprintf(out, "rss       right after load: %s\n", rss(pid))
				time.Sleep(settle)
				fmt.Fprintf(out, "rss       idle after load: %s\n", rss(pid))
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
	f.DurationVar(&settle, "settle", 5*time.Second, "how long the server idles before RSS is read")
	return cmd
}

// launchServer starts `skiff server` from this binary on free ports and
// returns once /readyz answers ok, with the time that took.
func launchServer(ctx context.Context, dataDir string) (*exec.Cmd, time.Duration, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, "", err
	}
	cmd := exec.CommandContext(ctx, self, "server", "--data-dir", dataDir, "--https-port", "0", "--bind-address", "127.0.0.1",
		"--etcd-client-url", "http://127.0.0.1:0", "--etcd-peer-url", "http://127.0.0.1:0", "--disable-agent", "--log-level", "error")
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

// rss reads a process's resident set size from /proc.
func rss(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) > 0 {
				if kb, err := strconv.Atoi(fields[0]); err == nil {
					return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
				}
			}
		}
	}
	return "unknown"
}
