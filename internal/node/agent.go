package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/agent"
	"skiff/internal/agent/cri"
	"skiff/internal/agent/csi"
	"skiff/internal/agent/sim"
	"skiff/internal/containerd"
	"skiff/internal/images"
	"skiff/internal/pki"
)

// KubeletClientUser is the identity the API server presents to node
// agents; the agents accept no other.
const KubeletClientUser = "kube-apiserver-kubelet-client"

// agentComponent runs the node agent, its pods as containers of a
// containerd that skiff supervises (or the CRI endpoint configured), or,
// with SimulateRuntime, as pretend ones.
func agentComponent(cfg Config) component {
	return component{
		name: "agent",
		user: AgentUser(cfg.NodeName),
		run: func(ctx context.Context, rc *rest.Config) error {
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return fmt.Errorf("agent client: %w", err)
			}
			var rt agent.Runtime
			var prober agent.Prober
			var mounter agent.ImageMounter
			var wg sync.WaitGroup
			defer wg.Wait()
			if cfg.SimulateRuntime {
				simRT, err := sim.New(sim.Config{})
				if err != nil {
					return err
				}
				rt = simRT
				cfg.Logger.Warn("node agent runs with the simulated runtime: pods are reported running but no container runs", "node", cfg.NodeName)
			} else {
				criRT, m, err := nodeRuntime(ctx, cfg, &wg)
				if err != nil {
					return fmt.Errorf("container runtime: %w", err)
				}
				defer criRT.Close()
				rt = criRT
				prober = cri.NewProber(criRT)
				mounter = m
			}
			acfg := agent.Config{
				NodeName:        cfg.NodeName,
				Client:          client,
				Runtime:         rt,
				Prober:          prober,
				ControlPlane:    cfg.ControlPlane,
				ClusterDomain:   cfg.ClusterDomain,
				PodManifestPath: podManifestPath(cfg),
				NodeIPs:         []string{cfg.NodeIP.String()},
				ImageMounter:    mounter,
				Logger:          cfg.Logger.With("component", "agent"),
			}
			if err := os.MkdirAll(acfg.PodManifestPath, 0o755); err != nil {
				return fmt.Errorf("pod manifest folder: %w", err)
			}
			if !cfg.SimulateRuntime {
				// Pods' volumes live under the agent's data dir.
				acfg.RootDir = filepath.Join(cfg.DataDir, "agent")
				acfg.StorageDir = filepath.Join(cfg.DataDir, "storage")
				acfg.LogDir = filepath.Join(cfg.DataDir, "pods")
				// Pods starting together are synced in parallel, as
				// upstream's per-pod workers do.
				acfg.Workers = 32
				acfg.CgroupRoot, acfg.Events = "/kubepods", true
				// The sandbox image is never garbage collected.
				// So are the images loaded from <data-dir>/images: with no
				// registry behind them, a collected one would be gone.
				acfg.PinnedImages = append([]string{containerd.DefaultSandboxImage}, folderImages(cfg, filepath.Join(cfg.DataDir, "images"))...)
			}
			if cfg.ClusterDNS != "" {
				acfg.ClusterDNS = []string{cfg.ClusterDNS}
			}
			// The pods' cpu and memory usage, read from the cgroups the
			// agent makes; simulated pods have none.
			var stats *agent.StatsCollector
			if !cfg.SimulateRuntime {
				if stats, err = agent.NewStatsCollector(agent.StatsConfig{NodeName: cfg.NodeName, Runtime: rt, CgroupRoot: acfg.CgroupRoot,
					CgroupMount: acfg.CgroupMount, Logger: cfg.Logger.With("component", "agent-stats")}); err != nil {
					return err
				}
			}
			srv, err := agentServer(cfg, acfg.NodeIPs, client, rt, stats)
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
			if stats != nil {
				wg.Go(func() { _ = stats.Run(sctx) })
			}
			if acfg.RootDir != "" {
				// CSI drivers register in <root>/plugins_registry.
				m, err := csi.New(csi.Config{NodeName: cfg.NodeName, Client: client, RootDir: acfg.RootDir, Logger: acfg.Logger})
				if err != nil {
					return err
				}
				acfg.CSI = m
				wg.Go(func() { _ = m.Run(sctx) })
			}
			a, err := agent.New(acfg)
			if err != nil {
				return err
			}
			return a.Run(ctx)
		},
	}
}

// agentServer builds this node's kubelet API (logs, exec, attach,
// port-forward, resource usage from stats when not nil) with the serving
// certificate of the node's credentials; it admits only the API server's
// client certificate.
func agentServer(cfg Config, nodeIPs []string, client kubernetes.Interface, rt agent.Runtime, stats *agent.StatsCollector) (*agent.Server, error) {
	certFile, keyFile, pool, err := cfg.Credentials.KubeletServing(cfg.NodeName, nodeIPs)
	if err != nil {
		return nil, fmt.Errorf("agent server: %w", err)
	}
	// Renewed certificates are picked up without a restart.
	pair, err := pki.NewKeyPairReloader(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent server: %w", err)
	}
	streams, _ := rt.(agent.StreamURLs)
	var provider agent.SummaryProvider
	var cgroups agent.CgroupStatsProvider
	if stats != nil {
		provider, cgroups = stats, stats
	}
	return agent.NewServer(agent.ServerConfig{
		TLS: &tls.Config{
			GetCertificate: pair.GetCertificate,
			ClientAuth:     tls.RequireAndVerifyClientCert,
			ClientCAs:      pool,
			MinVersion:     tls.VersionTLS12,
		},
		// Another node on this host (tests, skiff sim next to a server)
		// may hold 10250 already.
		AnyPortIfBusy: true,
		AllowedUsers:  []string{KubeletClientUser},
		NodeName:      cfg.NodeName,
		Client:        client,
		Runtime:       rt,
		Streams:       streams,
		LogDir:        filepath.Join(cfg.DataDir, "pods"),
		Stats:         provider,
		Cgroups:       cgroups,
		Logger:        cfg.Logger.With("component", "agent-server"),
	})
}

// podManifestPath is the agent's static pod folder: the configured one, or
// <data-dir>/agent/pod-manifests (where k3s keeps its own).
func podManifestPath(cfg Config) string {
	if cfg.PodManifestPath != "" {
		return cfg.PodManifestPath
	}
	return filepath.Join(cfg.DataDir, "agent", "pod-manifests")
}

// folderImages names the images of the tarballs in dir.
func folderImages(cfg Config, dir string) []string {
	tars, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	var out []string
	for _, t := range tars {
		tags, err := images.Tags(t)
		if err != nil {
			cfg.Logger.Warn("read image tags", "file", t, "err", err)
			continue
		}
		for _, t := range tags {
			out = append(out, fullImageName(t))
		}
	}
	return out
}

// fullImageName is the name the runtime lists an image under: a name
// without a registry host is Docker Hub's, in "library" when it has no
// path.
func fullImageName(name string) string {
	first, rest, found := strings.Cut(name, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return name
	}
	if !found {
		return "docker.io/library/" + name
	}
	return "docker.io/" + first + "/" + rest
}
