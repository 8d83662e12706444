package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/rest"

	"skiff/internal/pki"
)

// AgentConfig is the configuration of `skiff agent`: a node that joins a
// cluster run by `skiff server` elsewhere.
type AgentConfig struct {
	// Server is the API server's URL, such as https://10.0.0.1:6443.
	Server string
	// Token is the server's join token (its <data-dir>/node-token).
	Token string
	// DataDir holds the node's credentials, containerd and pod files.
	DataDir string
	// NodeName defaults to the hostname; NodeIP to the first host address.
	NodeName string
	NodeIP   net.IP
	// ContainerRuntimeEndpoint, when set, is a CRI socket to use instead
	// of a containerd that skiff starts.
	ContainerRuntimeEndpoint string
	// SimulateRuntime pretends to run pods (no containers).
	SimulateRuntime bool
	// PodManifestPath is the folder of static pod manifests (default
	// <DataDir>/agent/pod-manifests).
	PodManifestPath string
	Logger          *slog.Logger
}

// nodeCredentials are the files a joined node holds.
type nodeCredentials struct {
	caFile                    string
	nodeCert, nodeKey         string
	proxyCert, proxyKey       string
	servingCert, servingKey   string
	clusterDNS, clusterDomain string
	serviceCIDR               string
}

// RunAgent joins the cluster (once; the credentials are kept in the data
// dir) and runs this host's node agent and service proxy until ctx is done.
func RunAgent(ctx context.Context, acfg AgentConfig) error {
	if acfg.DataDir == "" {
		acfg.DataDir = "/var/lib/skiff"
	}
	if acfg.Logger == nil {
		acfg.Logger = slog.New(slog.DiscardHandler)
	}
	if acfg.Server == "" {
		return errors.New("--server is required")
	}
	if acfg.NodeIP == nil {
		acfg.NodeIP = firstHostIP()
	}
	cfg := Config{DataDir: acfg.DataDir, NodeName: acfg.NodeName, AdvertiseAddress: acfg.NodeIP,
		ContainerRuntimeEndpoint: acfg.ContainerRuntimeEndpoint, SimulateAgent: acfg.SimulateRuntime,
		PodManifestPath: acfg.PodManifestPath, Logger: acfg.Logger, agentOnly: true}
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	creds, err := joinOnce(ctx, acfg, nodeName(cfg))
	if err != nil {
		return err
	}
	cfg.nodeTLS = creds
	cfg.ClusterDNS, cfg.ClusterDomain, cfg.ServiceCIDR = creds.clusterDNS, creds.clusterDomain, creds.serviceCIDR
	if err := cfg.validate(); err != nil {
		return err
	}
	restFor := func(user, cert, key string) *rest.Config {
		// Upstream's kubelet defaults (kubeAPIQPS 50, kubeAPIBurst 100):
		// client-go's own 5/10 would queue a node's pod starts behind
		// each other's status writes and token requests.
		return &rest.Config{Host: acfg.Server, UserAgent: user, QPS: 50, Burst: 100,
			TLSClientConfig: rest.TLSClientConfig{CAFile: creds.caFile, CertFile: cert, KeyFile: key}}
	}
	type run struct {
		comp component
		rc   *rest.Config
	}
	runs := []run{{agentComponent(cfg), restFor("system:node:"+nodeName(cfg), creds.nodeCert, creds.nodeKey)}}
	// A simulated node has no network of its own to program.
	if !acfg.SimulateRuntime {
		runs = append(runs, run{proxyComponent(cfg), restFor("system:kube-proxy", creds.proxyCert, creds.proxyKey)})
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { supervise(ctx, cfg.Logger, r.comp, r.rc) })
	}
	cfg.Logger.Info("skiff agent running", "node", nodeName(cfg), "server", acfg.Server)
	wg.Wait()
	return nil
}

// joinSettings are the cluster settings a node got when it joined.
type joinSettings struct {
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	ServiceCIDR   string `json:"serviceCIDR"`
}

// joinOnce returns the node's credentials from its data dir, joining the
// cluster first if they are missing or no longer valid.
func joinOnce(ctx context.Context, acfg AgentConfig, name string) (*nodeCredentials, error) {
	dir := filepath.Join(acfg.DataDir, "tls")
	c := &nodeCredentials{
		caFile:   filepath.Join(dir, "ca.crt"),
		nodeCert: filepath.Join(dir, "node.crt"), nodeKey: filepath.Join(dir, "node.key"),
		proxyCert: filepath.Join(dir, "proxy.crt"), proxyKey: filepath.Join(dir, "proxy.key"),
		servingCert: filepath.Join(dir, "serving-kubelet.crt"), servingKey: filepath.Join(dir, "serving-kubelet.key"),
	}
	settingsFile := filepath.Join(acfg.DataDir, "join.json")
	valid := pki.PairValid(c.caFile, c.nodeCert, c.nodeKey) && pki.PairValid(c.caFile, c.proxyCert, c.proxyKey) &&
		pki.PairValid(c.caFile, c.servingCert, c.servingKey)
	var settings joinSettings
	if data, err := os.ReadFile(settingsFile); err == nil && valid && json.Unmarshal(data, &settings) == nil {
		c.clusterDNS, c.clusterDomain, c.serviceCIDR = settings.ClusterDNS, settings.ClusterDomain, settings.ServiceCIDR
		return c, nil
	}
	if acfg.Token == "" {
		return nil, errors.New("this node has not joined yet: --token is required (the server's <data-dir>/node-token)")
	}
	token, err := pki.ParseJoinToken(acfg.Token)
	if err != nil {
		return nil, err
	}
	caPEM, err := fetchClusterCA(ctx, acfg.Server, token)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", acfg.Server, err)
	}
	var keys [3]pki.KeyAndCSR
	for i := range keys {
		if keys[i], err = pki.NewKeyAndCSR(name); err != nil {
			return nil, err
		}
	}
	resp, err := requestJoin(ctx, acfg.Server, token, caPEM, joinRequest{
		NodeName: name, NodeIPs: []string{acfg.NodeIP.String()},
		NodeCSR: string(keys[0].CSRPEM), ProxyCSR: string(keys[1].CSRPEM), ServingCSR: string(keys[2].CSRPEM),
	})
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", acfg.Server, err)
	}
	if _, err := pki.WriteCACert(dir, caPEM); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name string
		cert string
		key  []byte
	}{{"node", resp.NodeCert, keys[0].KeyPEM}, {"proxy", resp.ProxyCert, keys[1].KeyPEM}, {"serving-kubelet", resp.ServingCert, keys[2].KeyPEM}} {
		if _, _, err := pki.WritePair(dir, p.name, []byte(p.cert), p.key); err != nil {
			return nil, err
		}
	}
	settings = joinSettings{ClusterDNS: resp.ClusterDNS, ClusterDomain: resp.ClusterDomain, ServiceCIDR: resp.ServiceCIDR}
	data, _ := json.Marshal(settings)
	if err := os.WriteFile(settingsFile, data, 0o600); err != nil {
		return nil, err
	}
	c.clusterDNS, c.clusterDomain, c.serviceCIDR = settings.ClusterDNS, settings.ClusterDomain, settings.ServiceCIDR
	return c, nil
}
