package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"skiff/internal/procmem"
	"skiff/internal/server"
)

func newServerCommand() *cobra.Command {
	var (
		cfg          server.Config
		etcdServers  string
		disable      []string
		advertise    string
		logLevel     string
		httpsPort    int
		defaultSC    bool
		enableAPF    bool
		reset        server.ResetConfig
		clusterReset bool
		tokenFile    string
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (API server on embedded etcd) and a node agent for this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if etcdServers != "" {
				cfg.EtcdServers = strings.Split(etcdServers, ",")
			}
			for _, d := range disable {
				for _, part := range strings.Split(d, ",") {
					if part = strings.TrimSpace(part); part != "" {
						cfg.Disable = append(cfg.Disable, part)
					}
				}
			}
			if advertise != "" {
				ip := net.ParseIP(advertise)
				if ip == nil {
					return fmt.Errorf("--advertise-address %q: not an IP address", advertise)
				}
				cfg.AdvertiseAddress = ip
			}
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				cfg.JoinToken = strings.TrimSpace(string(b))
			}
			if cfg.JoinServer != "" && cfg.JoinToken == "" {
				return fmt.Errorf("--server needs --token or --token-file")
			}
			cfg.HTTPSPort = httpsPort
			cfg.NoDefaultStorageClass = !defaultSC
			cfg.DisablePriorityAndFairness = !enableAPF
			if httpsPort == 0 {
				cfg.HTTPSPort = -1 // a free port
			}
			ctx := cmd.Context()
			if clusterReset || reset.RestorePath != "" {
				if !clusterReset {
					return fmt.Errorf("--cluster-reset-restore-path goes with --cluster-reset")
				}
				reset.Server = cfg
				old, err := server.ResetCluster(ctx, reset)
				if err != nil {
					return err
				}
				if old != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "etcd restored from %s; the previous data is in %s\n", reset.RestorePath, old)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "The embedded etcd is now a cluster of this server alone: start skiff server again without --cluster-reset. Other servers must delete their etcd data (<data-dir>/etcd) before they join again.")
				return nil
			}
			s, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "skiff server ready at %s in %s; kubeconfig: %s\n", s.URL(), s.StartedIn.Round(1e6), s.AdminKubeconfig())
			releaseStartupPagesLater(ctx, logger)
			go procmem.NewGCPacer(procmem.GCConfig{Logger: logger}).Run(ctx)
			return s.Wait(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "folder for certificates, kubeconfigs and the embedded etcd")
	f.StringVar(&etcdServers, "etcd-servers", "", "client URLs of an external etcd cluster (comma-separated) instead of the embedded one")
	f.StringVar(&cfg.EtcdCAFile, "etcd-cafile", "", "CA file that the external etcd's serving certificates chain to")
	f.StringVar(&cfg.EtcdCertFile, "etcd-certfile", "", "client certificate file presented to the external etcd")
	f.StringVar(&cfg.EtcdKeyFile, "etcd-keyfile", "", "key file of --etcd-certfile")
	f.StringVar(&cfg.EtcdClientURL, "etcd-client-url", "", "where the embedded etcd serves clients, over mutual TLS only (default https://127.0.0.1:2379)")
	f.StringVar(&cfg.EtcdPeerURL, "etcd-peer-url", "", "where the embedded etcd talks to peers, over mutual TLS only (default https://127.0.0.1:2380)")
	f.BoolVar(&clusterReset, "cluster-reset", false, "make the embedded etcd a cluster of this server alone, keeping its data (or a snapshot's, with --cluster-reset-restore-path), then exit")
	f.StringVar(&reset.RestorePath, "cluster-reset-restore-path", "", "with --cluster-reset, the etcd snapshot to restore (its hash is checked first; the current data is kept in <data-dir>/etcd-old-<time>)")
	f.StringVar(&cfg.EtcdSnapshotDir, "etcd-snapshot-dir", "", "folder of the embedded etcd's snapshots (default <data-dir>/db/snapshots)")
	f.StringVar(&cfg.EtcdSnapshotSchedule, "etcd-snapshot-schedule-cron", server.DefaultSnapshotSchedule, "when to snapshot the embedded etcd, in cron format")
	f.IntVar(&cfg.EtcdSnapshotRetention, "etcd-snapshot-retention", server.DefaultSnapshotRetention, "scheduled snapshots to keep")
	f.BoolVar(&cfg.EtcdDisableSnapshots, "etcd-disable-snapshots", false, "take no scheduled snapshots")
	f.Int64Var(&cfg.EtcdQuotaBackendBytes, "etcd-quota-backend-bytes", 0, "size at which the embedded etcd refuses writes with NOSPACE, which the server then clears by compacting and defragmenting (0: etcd's 2 GiB)")
	f.BoolVar(&cfg.ClusterInit, "cluster-init", false, "make the embedded etcd the seed of a cluster of servers: it serves peers at the advertise address, port 2380, so that others join with --server")
	f.StringVar(&cfg.JoinServer, "server", "", "join the servers of the cluster of this server (https://IP:6443): copy its CAs and keys and add the embedded etcd as a member")
	f.StringVar(&cfg.JoinToken, "token", "", "with --server, the first server's join token (its <data-dir>/node-token)")
	f.StringVar(&tokenFile, "token-file", "", "a file holding --token")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.IntVar(&httpsPort, "https-port", 6443, "port the API server listens on (0: any free port)")
	f.StringVar(&advertise, "advertise-address", "", "address the kubernetes Service points at (default: the first host address)")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra host names or IP addresses for the serving certificate")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "range ClusterIPs are allocated from")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", "10.43.0.10", "ClusterIP of the cluster DNS Service (kube-dns)")
	f.StringVar(&cfg.NodeName, "node-name", "", "this host's node name (default: the hostname)")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "folder of static pod manifests the node agent runs (default: <data-dir>/agent/pod-manifests)")
	f.BoolVar(&cfg.EnableAggregatorRouting, "enable-aggregator-routing", false, "send APIService requests to an endpoint of the Service instead of its ClusterIP")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "run no node agent on this host")
	f.IntVar(&cfg.IngressHTTPPort, "ingress-http-port", 80, "port the built-in ingress controller serves HTTP on, on every host address")
	f.IntVar(&cfg.IngressHTTPSPort, "ingress-https-port", 443, "port the built-in ingress controller serves HTTPS on, on every host address")
	f.BoolVar(&defaultSC, "default-storage-class", true, "create the default StorageClass local-path (provisioner skiff.io/local-path, WaitForFirstConsumer) if it is missing; false creates none and leaves an existing one alone")
	f.StringVar(&cfg.AdmissionControlConfigFile, "admission-control-config-file", "", "an AdmissionConfiguration file; skiff reads the PodSecurity plugin's PodSecurityConfiguration from it")
	f.StringVar(&cfg.AuditPolicyFile, "audit-policy-file", "", "an audit.k8s.io/v1 Policy file; with --audit-log-path, requests are recorded in the audit log")
	f.StringVar(&cfg.AuditLog.Path, "audit-log-path", "", "the audit log file (JSON lines), - for standard output; with --audit-policy-file")
	f.IntVar(&cfg.AuditLog.MaxSizeMB, "audit-log-maxsize", 100, "size in megabytes at which the audit log is rotated")
	f.IntVar(&cfg.AuditLog.MaxBackups, "audit-log-maxbackup", 0, "rotated audit log files to keep (0: all)")
	f.IntVar(&cfg.AuditLog.MaxAgeDays, "audit-log-maxage", 0, "days to keep rotated audit log files (0: no limit)")
	f.IntVar(&cfg.MaxRequestsInflight, "max-requests-inflight", 400, "with --max-mutating-requests-inflight, the API server's concurrency that API Priority and Fairness shares among priority levels")
	f.IntVar(&cfg.MaxMutatingRequestsInflight, "max-mutating-requests-inflight", 200, "see --max-requests-inflight")
	f.BoolVar(&enableAPF, "enable-priority-and-fairness", true, "API Priority and Fairness; off, at most --max-requests-inflight reads and --max-mutating-requests-inflight writes are served at once and the rest refused with 429")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", time.Minute, "how long an API request but a watch or other long-running one may take before it is answered 504")
	f.IntVar(&cfg.MaxWatchesPerUser, "max-watches-per-user", 1000, "concurrent watches one user may hold (-1: no limit); over it a watch is refused with 429")
	f.DurationVar(&cfg.MetricsResolution, "metric-resolution", 15*time.Second, "how often the API server reads every Ready node's cpu and memory usage for the metrics API (kubectl top), as metrics-server's flag")
	f.DurationVar(&cfg.HPA.SyncPeriod, "horizontal-pod-autoscaler-sync-period", 15*time.Second, "how often the horizontal pod autoscaler evaluates each HorizontalPodAutoscaler")
	f.DurationVar(&cfg.HPA.CPUInitializationPeriod, "horizontal-pod-autoscaler-cpu-initialization-period", 5*time.Minute, "how long after a pod's start its cpu usage counts only once it is ready and measured entirely after it became so")
	f.DurationVar(&cfg.HPA.InitialReadinessDelay, "horizontal-pod-autoscaler-initial-readiness-delay", 30*time.Second, "how long after a pod's start a pod that is not ready is taken as never having been ready")
	f.StringVar(&cfg.EncryptionProviderConfig, "encryption-provider-config", "", "an EncryptionConfiguration file (identity, aescbc, aesgcm, secretbox): the resources it names are encrypted in etcd")
	f.BoolVar(&cfg.SecretsEncryption, "secrets-encryption", false, "encrypt Secrets in etcd with an aescbc key generated on first start into <data-dir>/tls/encryption-config.json")
	f.StringVar(&cfg.SchedulerConfigFile, "scheduler-config", "", "a KubeSchedulerConfiguration file (profiles, plugins, weights)")
	f.BoolVar(&cfg.SimulateAgent, "simulate-agent", false, "run this host's agent with the simulated runtime (no containers; for demos and scale tests)")
	f.StringVar(&cfg.ContainerRuntimeEndpoint, "container-runtime-endpoint", "", "an existing CRI socket to use instead of starting containerd")
	f.StringSliceVar(&disable, "disable", nil, "built-in components not to run: "+strings.Join(server.Components, ", "))
	f.StringVar(&cfg.ServiceAccountIssuer, "service-account-issuer", "", "iss claim of service account tokens and issuer of /.well-known/openid-configuration (default https://kubernetes.default.svc.<cluster-domain>)")
	f.StringArrayVar(&cfg.ServiceAccountKeyFiles, "service-account-key-file", nil, "PEM file of extra public keys service account tokens verify with (never sign with); may be repeated")
	f.StringVar(&cfg.AuthenticationConfigFile, "authentication-config", "", "an AuthenticationConfiguration file (apiserver.config.k8s.io/v1): JWT issuers whose tokens are accepted; reloaded on change")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
