package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Supervisor runs containerd as a child process and keeps it running.
type Supervisor struct {
	cfg       Config
	log       *slog.Logger
	ready     chan struct{}
	readyOnce sync.Once
}

// New returns a Supervisor for cfg; Run starts containerd.
func New(cfg Config, log *slog.Logger) (*Supervisor, error) {
	if cfg.Dir == "" {
		return nil, errors.New("containerd: Dir is required")
	}
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{cfg: cfg, log: log, ready: make(chan struct{})}, nil
}

// Config returns the effective configuration.
func (s *Supervisor) Config() Config { return s.cfg }

// Socket is the CRI socket to dial.
func (s *Supervisor) Socket() string { return s.cfg.Socket() }

// Ready is closed once containerd first answers on its socket.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Run writes the configuration, starts containerd and restarts it whenever
// it exits, until ctx is done; then it stops containerd (running pods keep
// running in their shims) and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	if err := writeConfig(s.cfg); err != nil {
		return fmt.Errorf("containerd config: %w", err)
	}
	backoff := time.Second
	for {
		started := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Error("containerd exited; restarting", "err", err, "after", backoff)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// runOnce runs containerd until it exits or ctx is done.
func (s *Supervisor) runOnce(ctx context.Context) error {
	_ = os.Remove(s.cfg.Socket())
	logFile, err := os.OpenFile(filepath.Join(s.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{s.cfg.Binary, "--config", s.cfg.configFile()}
	if s.cfg.NetNS != "" {
		// nsenter, not `ip netns exec`: the latter remounts /sys and hides
		// the cgroup mounts runc needs.
		args = append([]string{"nsenter", "--net=" + s.cfg.NetNS}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// containerd dies with skiff; the shims it started do not, so pods live on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go s.waitSocket(ctx, exited)
	select {
	case err := <-exited:
		return fmt.Errorf("containerd exited: %w", err)
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return ctx.Err()
	}
}

// waitSocket marks the supervisor ready once the socket accepts connections.
func (s *Supervisor) waitSocket(ctx context.Context, exited <-chan error) {
	for {
		c, err := net.DialTimeout("unix", s.cfg.Socket(), time.Second)
		if err == nil {
			c.Close()
			s.readyOnce.Do(func() { close(s.ready) })
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		if len(exited) > 0 {
			return
		}
	}
}

// ImportImage loads a docker-archive or OCI tarball into the CRI's image
// namespace (k8s.io).
func (s *Supervisor) ImportImage(ctx context.Context, file string) error {
	return ImportImage(ctx, s.cfg.CtrBinary, s.cfg.Socket(), file)
}

// ImportImage loads an image tarball into the k8s.io namespace of the
// containerd at socket, with containerd's own CLI.
func ImportImage(ctx context.Context, ctr, socket, file string) error {
	out, err := exec.CommandContext(ctx, ctr, "--address", socket, "--namespace", "k8s.io", "images", "import", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("import %s: %w: %s", file, err, out)
	}
	return nil
}
