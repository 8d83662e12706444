package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"skiff/internal/node"
)

func newAgentCommand() *cobra.Command {
	var (
		join      node.JoinConfig
		cfg       node.Config
		nodeIP    string
		tokenFile string
		logLevel  string
		disable   []string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Join a skiff cluster as a node: run pods through containerd and the service proxy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			join.Logger, cfg.Logger = logger, logger
			if nodeIP != "" {
				if join.NodeIP = net.ParseIP(nodeIP); join.NodeIP == nil {
					return fmt.Errorf("--node-ip %q: not an IP address", nodeIP)
				}
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				join.Token = strings.TrimSpace(string(b))
			}
			ctx := cmd.Context()
			joined, err := node.Join(ctx, join)
			if err != nil {
				return err
			}
			cfg.DataDir, cfg.NodeName, cfg.NodeIP = join.DataDir, joined.NodeName, joined.NodeIP
			cfg.ClusterDNS, cfg.ClusterDomain, cfg.ServiceCIDR = joined.ClusterDNS, joined.ClusterDomain, joined.ServiceCIDR
			cfg.Credentials = joined.Credentials
			// The cluster DNS runs on the servers; a simulated node has no
			// network of its own to program.
			cfg.Disable = []string{"dns"}
			if cfg.SimulateRuntime {
				cfg.Disable = append(cfg.Disable, "proxy", "ingress")
			}
			for _, d := range disable {
				for _, part := range strings.Split(d, ",") {
					if part = strings.TrimSpace(part); part != "" && !slices.Contains(cfg.Disable, part) {
						cfg.Disable = append(cfg.Disable, part)
					}
				}
			}
			n, err := node.New(cfg)
			if err != nil {
				return err
			}
			releaseStartupPagesLater(ctx, logger)
			ctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			wg.Go(func() { joined.KeepRenewed(ctx) })
			// The node's clients fail over between the servers the
			// cluster lists; this keeps that list current.
			wg.Go(func() {
				if err := joined.FollowServers(ctx); err != nil {
					logger.Error("following the API servers failed", "err", err)
				}
			})
			logger.Info("skiff agent running", "node", joined.NodeName, "server", join.Server, "servers", joined.Servers.Servers())
			return n.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&join.Server, "server", "", "URL of a skiff server, such as https://10.0.0.1:6443")
	f.StringVar(&join.Token, "token", "", "the server's join token (the server's <data-dir>/node-token)")
	f.StringVar(&tokenFile, "token-file", "", "a file holding the join token")
	f.StringVar(&join.DataDir, "data-dir", "/var/lib/skiff", "folder for the node's credentials, containerd and pods")
	f.StringVar(&join.NodeName, "node-name", "", "node name (default: the hostname)")
	f.StringVar(&nodeIP, "node-ip", "", "the node's address (default: the first host address)")
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "an existing CRI socket to use instead of starting containerd")
	f.BoolVar(&cfg.SimulateRuntime, "simulate-runtime", false, "pretend to run pods (no containers; for demos and tests)")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "folder of static pod manifests to run (default: <data-dir>/agent/pod-manifests)")
	f.StringSliceVar(&disable, "disable", nil, "node components not to run: "+strings.Join(node.Components, ", "))
	f.IntVar(&cfg.IngressHTTPPort, "ingress-http-port", 80, "port the built-in ingress controller serves HTTP on, on every host address")
	f.IntVar(&cfg.IngressHTTPSPort, "ingress-https-port", 443, "port the built-in ingress controller serves HTTPS on, on every host address")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
