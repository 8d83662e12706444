package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/agent"
	"skiff/internal/agent/cri"
	"skiff/internal/agent/sim"
	"skiff/internal/containerd"
)

// agentComponent runs the node agent for this host, its pods as containers
// of a containerd that skiff supervises (or the CRI endpoint configured),
// or, with SimulateAgent, as pretend ones.
func agentComponent(cfg Config) component {
	name := nodeName(cfg)
	return component{
		name: "agent",
		user: "system:node:" + name,
		run: func(ctx context.Context, rc *rest.Config) error {
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return fmt.Errorf("agent client: %w", err)
			}
			var rt agent.Runtime
			var prober agent.Prober
			var wg sync.WaitGroup
			defer wg.Wait()
			if cfg.SimulateAgent {
				simRT, err := sim.New(sim.Config{})
				if err != nil {
					return err
				}
				rt = simRT
				cfg.Logger.Warn("node agent runs with the simulated runtime: pods are reported running but no container runs", "node", name)
			} else {
				criRT, err := nodeRuntime(ctx, cfg, &wg)
				if err != nil {
					return fmt.Errorf("container runtime: %w", err)
				}
				defer criRT.Close()
				rt = criRT
				prober = cri.NewProber(criRT)
			}
			acfg := agent.Config{
				NodeName:        name,
				Client:          client,
				Runtime:         rt,
				Prober:          prober,
				ControlPlane:    !cfg.agentOnly,
				ClusterDomain:   cfg.ClusterDomain,
				PodManifestPath: podManifestPath(cfg),
				Logger:          cfg.Logger.With("component", "agent"),
			}
			if err := os.MkdirAll(acfg.PodManifestPath, 0o755); err != nil {
				return fmt.Errorf("pod manifest folder: %w", err)
			}
			if !cfg.SimulateAgent {
				// Pods' volumes live under the agent's data dir.
				acfg.RootDir = filepath.Join(cfg.DataDir, "agent")
				// Pods starting together are synced in parallel, as
				// upstream's per-pod workers do.
				acfg.Workers = 32
				acfg.CgroupRoot, acfg.Events = "/kubepods", true
				// The sandbox image is never garbage collected.
				acfg.PinnedImages = []string{containerd.DefaultSandboxImage}
			}
			if cfg.ClusterDNS != "" {
				acfg.ClusterDNS = []string{cfg.ClusterDNS}
			}
			if cfg.AdvertiseAddress != nil {
				acfg.NodeIPs = []string{cfg.AdvertiseAddress.String()}
			}
			srv, err := agentServer(cfg, name, acfg.NodeIPs, client, rt)
			if err != nil {
				return err
			}
			port, err := srv.Listen()
			if err != nil {
				return err
			}
			acfg.KubeletPort = int32(port)
			// The server stops with the agent, whichever way it returns.
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			wg.Go(func() {
				if err := srv.Run(sctx); err != nil {
					cfg.Logger.Error("agent server stopped", "err", err)
				}
			})
			a, err := agent.New(acfg)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
}

// podManifestPath is the agent's static pod folder: the configured one, or
// <data-dir>/agent/pod-manifests (where k3s keeps its own).
func podManifestPath(cfg Config) string {
	if cfg.PodManifestPath != "" {
		return cfg.PodManifestPath
	}
	return filepath.Join(cfg.DataDir, "agent", "pod-manifests")
}

// nodeName is this host's node name: the configured one, or its hostname,
// lowercased as node names must be.
func nodeName(cfg Config) string {
	if cfg.NodeName != "" {
		return cfg.NodeName
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}
