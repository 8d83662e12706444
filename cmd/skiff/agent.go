package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"skiff/internal/server"
)

func newAgentCommand() *cobra.Command {
	var (
		cfg       server.AgentConfig
		nodeIP    string
		tokenFile string
		logLevel  string
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
			cfg.Logger = logger
			if nodeIP != "" {
				if cfg.NodeIP = net.ParseIP(nodeIP); cfg.NodeIP == nil {
					return fmt.Errorf("--node-ip %q: not an IP address", nodeIP)
				}
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				cfg.Token = strings.TrimSpace(string(b))
			}
			releaseStartupPagesLater(cmd.Context(), logger)
			return server.RunAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "URL of a skiff server, such as https://10.0.0.1:6443")
	f.StringVar(&cfg.Token, "token", "", "the server's join token (the server's <data-dir>/node-token)")
	f.StringVar(&tokenFile, "token-file", "", "a file holding the join token")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "folder for the node's credentials, containerd and pods")
	f.StringVar(&cfg.NodeName, "node-name", "", "node name (default: the hostname)")
	f.StringVar(&nodeIP, "node-ip", "", "the node's address (default: the first host address)")
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "an existing CRI socket to use instead of starting containerd")
	f.BoolVar(&cfg.SimulateRuntime, "simulate-runtime", false, "pretend to run pods (no containers; for demos and tests)")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "folder of static pod manifests to run (default: <data-dir>/agent/pod-manifests)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
