package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/network"
	"skiff/internal/pki"
)

// Paths of the join protocol, served by `skiff server` next to the
// Kubernetes API. JoinCAPath is public (the node checks the answer against
// the hash in its token); JoinPath needs the token's secret as a bearer
// token; RenewPath needs the node's own current client certificate.
const (
	JoinCAPath = "/skiff/v1/cacerts"
	JoinPath   = "/skiff/v1/join"
	RenewPath  = "/skiff/v1/renew"
)

// JoinRequest is what a node sends: its name and addresses, and one
// certificate request per credential it needs.
type JoinRequest struct {
	NodeName string   `json:"nodeName"`
	NodeIPs  []string `json:"nodeIPs,omitempty"`
	// NodePassword is the node's own secret (<data-dir>/tls/node-password):
	// the first join of a name binds the name to it, so that no other host
	// can join with the name while the Node exists.
	NodePassword string `json:"nodePassword,omitempty"`
	// NodeCSR becomes the node's client certificate (system:node:<name>
	// in system:nodes), ProxyCSR the service proxy's (system:kube-proxy),
	// ServingCSR the serving certificate of the node's kubelet API and
	// IngressCSR the ingress controller's (system:skiff-ingress; nodes
	// of older releases send none).
	NodeCSR    string `json:"nodeCSR"`
	ProxyCSR   string `json:"proxyCSR"`
	ServingCSR string `json:"servingCSR"`
	IngressCSR string `json:"ingressCSR,omitempty"`
}

// JoinResponse carries the signed certificates and the cluster's settings.
type JoinResponse struct {
	CA          string `json:"ca"`
	NodeCert    string `json:"nodeCert"`
	ProxyCert   string `json:"proxyCert"`
	ServingCert string `json:"servingCert"`
	IngressCert string `json:"ingressCert,omitempty"`
	// ClusterDNS, ClusterDomain and ServiceCIDR are the server's, so that
	// nodes need no flags for them.
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	ServiceCIDR   string `json:"serviceCIDR"`
}

// JoinConfig is how a node joins a cluster run by `skiff server` elsewhere.
type JoinConfig struct {
	// Server is the API server's URL, such as https://10.0.0.1:6443.
	Server string
	// Token is the server's join token (its <data-dir>/node-token).
	Token string
	// DataDir keeps the node's credentials (default /var/lib/skiff).
	DataDir string
	// NodeName defaults to the hostname; NodeIP to the first host address.
	NodeName string
	NodeIP   net.IP
	Logger   *slog.Logger
}

// Joined is what a node got when it joined: its name and address, the
// cluster's settings and its credentials.
type Joined struct {
	NodeName                               string
	NodeIP                                 net.IP
	ClusterDNS, ClusterDomain, ServiceCIDR string
	Credentials                            Credentials
	// Servers is the node's pool of API servers; its clients dial
	// through it, and FollowServers keeps it current.
	Servers *ServerPool

	creds  *joinedCredentials
	dir    string
	logger *slog.Logger
}

// joinedCredentials are the files a joined node holds.
type joinedCredentials struct {
	server                  string
	caFile                  string
	nodeUser                string
	nodeCert, nodeKey       string
	proxyCert, proxyKey     string
	ingressCert, ingressKey string
	servingCert, servingKey string
	// pool dials the servers for every client after the join.
	pool *ServerPool
}

var _ Credentials = (*joinedCredentials)(nil)

func (c *joinedCredentials) RESTConfig(user string) (*rest.Config, error) {
	var cert, key string
	switch user {
	case c.nodeUser:
		cert, key = c.nodeCert, c.nodeKey
	case ProxyUser:
		cert, key = c.proxyCert, c.proxyKey
	case IngressUser:
		cert, key = c.ingressCert, c.ingressKey
	default:
		return nil, fmt.Errorf("a joined node holds no credentials for %s", user)
	}
	// Upstream's kubelet defaults (kubeAPIQPS 50, kubeAPIBurst 100):
	// client-go's own 5/10 would queue a node's pod starts behind each
	// other's status writes and token requests.
	// Host stays the joined server's URL, but the pool picks the server
	// each connection goes to; every server's certificate names
	// APIServerName, whichever one answers.
	return &rest.Config{Host: c.server, UserAgent: user, QPS: 50, Burst: 100, Dial: c.pool.DialContext,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.caFile, CertFile: cert, KeyFile: key, ServerName: APIServerName}}, nil
}

func (c *joinedCredentials) KubeletServing(string, []string) (string, string, *x509.CertPool, error) {
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil {
		return "", "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return c.servingCert, c.servingKey, pool, nil
}

// joinSettings are the cluster settings a node got when it joined, kept
// in <data-dir>/join.json.
type joinSettings struct {
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	ServiceCIDR   string `json:"serviceCIDR"`
}

// Join returns the node's credentials from its data dir, joining the
// cluster first if they are missing or no longer valid.
func Join(ctx context.Context, cfg JoinConfig) (*Joined, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "/var/lib/skiff"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Server == "" {
		return nil, errors.New("--server is required")
	}
	if cfg.NodeIP == nil {
		cfg.NodeIP = network.FirstHostIP()
	}
	if cfg.NodeName == "" {
		cfg.NodeName = HostName()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	addr, err := ServerAddress(cfg.Server)
	if err != nil {
		return nil, err
	}
	// The servers the node learnt before are kept beside join.json, so a
	// restart reaches the cluster even when --server's server is down.
	pool, err := NewServerPool(ServerPoolConfig{Default: addr, File: filepath.Join(cfg.DataDir, "servers.json"),
		Logger: cfg.Logger.With("component", "server-pool")})
	if err != nil {
		return nil, err
	}
	name := cfg.NodeName
	dir := filepath.Join(cfg.DataDir, "tls")
	c := &joinedCredentials{
		server:   cfg.Server,
		caFile:   filepath.Join(dir, "ca.crt"),
		nodeUser: AgentUser(name),
		nodeCert: filepath.Join(dir, "node.crt"), nodeKey: filepath.Join(dir, "node.key"),
		proxyCert: filepath.Join(dir, "proxy.crt"), proxyKey: filepath.Join(dir, "proxy.key"),
		ingressCert: filepath.Join(dir, "ingress.crt"), ingressKey: filepath.Join(dir, "ingress.key"),
		servingCert: filepath.Join(dir, "serving-kubelet.crt"), servingKey: filepath.Join(dir, "serving-kubelet.key"),
		pool: pool,
	}
	joined := func(s joinSettings) *Joined {
		return &Joined{NodeName: name, NodeIP: cfg.NodeIP, Credentials: c, Servers: pool,
			ClusterDNS: s.ClusterDNS, ClusterDomain: s.ClusterDomain, ServiceCIDR: s.ServiceCIDR,
			creds: c, dir: dir, logger: cfg.Logger}
	}
	settingsFile := filepath.Join(cfg.DataDir, "join.json")
	valid := pki.PairValid(c.caFile, c.nodeCert, c.nodeKey) && pki.PairValid(c.caFile, c.proxyCert, c.proxyKey) &&
		pki.PairValid(c.caFile, c.servingCert, c.servingKey)
	var settings joinSettings
	if data, err := os.ReadFile(settingsFile); err == nil && valid && json.Unmarshal(data, &settings) == nil {
		j := joined(settings)
		if !pki.PairValid(c.caFile, c.ingressCert, c.ingressKey) {
			// Joined before nodes ran an ingress controller: a renewal
			// brings its certificate. The node starts without it when no
			// server answers soon (its ingress controller retries).
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := j.Renew(rctx); err != nil {
				cfg.Logger.Warn("getting the ingress controller's certificate failed", "err", err)
			}
			cancel()
		}
		return j, nil
	}
	if cfg.Token == "" {
		return nil, errors.New("this node has not joined yet: --token is required (the server's <data-dir>/node-token)")
	}
	token, err := pki.ParseJoinToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	var caPEM []byte
	err = RetryJoin(ctx, cfg.Logger, func() (err error) {
		caPEM, err = FetchClusterCA(ctx, cfg.Server, token)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", cfg.Server, err)
	}
	password, err := nodePassword(dir)
	if err != nil {
		return nil, err
	}
	req, keys, err := newJoinRequest(name, cfg.NodeIP)
	if err != nil {
		return nil, err
	}
	req.NodePassword = password
	var resp JoinResponse
	err = RetryJoin(ctx, cfg.Logger, func() (err error) {
		resp, err = RequestJoin(ctx, cfg.Server, token, caPEM, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", cfg.Server, err)
	}
	if _, err := pki.WriteCACert(dir, caPEM); err != nil {
		return nil, err
	}
	if err := writeJoinPairs(dir, resp, keys); err != nil {
		return nil, err
	}
	settings = joinSettings{ClusterDNS: resp.ClusterDNS, ClusterDomain: resp.ClusterDomain, ServiceCIDR: resp.ServiceCIDR}
	data, _ := json.Marshal(settings)
	if err := os.WriteFile(settingsFile, data, 0o600); err != nil {
		return nil, err
	}
	cfg.Logger.Info("joined the cluster", "node", name, "server", cfg.Server)
	return joined(settings), nil
}

// newJoinRequest makes new keys and the request for their certificates.
func newJoinRequest(name string, ip net.IP) (JoinRequest, [4]pki.KeyAndCSR, error) {
	var keys [4]pki.KeyAndCSR
	for i := range keys {
		var err error
		if keys[i], err = pki.NewKeyAndCSR(name); err != nil {
			return JoinRequest{}, keys, err
		}
	}
	return JoinRequest{
		NodeName: name, NodeIPs: []string{ip.String()},
		NodeCSR: string(keys[0].CSRPEM), ProxyCSR: string(keys[1].CSRPEM), ServingCSR: string(keys[2].CSRPEM),
		IngressCSR: string(keys[3].CSRPEM),
	}, keys, nil
}

// writeJoinPairs stores the signed certificates beside their keys.
func writeJoinPairs(dir string, resp JoinResponse, keys [4]pki.KeyAndCSR) error {
	for _, p := range []struct {
		name string
		cert string
		key  []byte
	}{{"node", resp.NodeCert, keys[0].KeyPEM}, {"proxy", resp.ProxyCert, keys[1].KeyPEM}, {"serving-kubelet", resp.ServingCert, keys[2].KeyPEM},
		{"ingress", resp.IngressCert, keys[3].KeyPEM}} {
		if p.cert == "" {
			continue // a server of an older release signs no ingress certificate
		}
		if _, _, err := pki.WritePair(dir, p.name, []byte(p.cert), p.key); err != nil {
			return err
		}
	}
	return nil
}

// nodePassword returns the node's password, kept in dir/node-password and
// made on first use; the server binds the node's name to it at the first
// join.
func nodePassword(dir string) (string, error) {
	file := filepath.Join(dir, "node-password")
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(b)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

// RenewAt is when the first of the node's certificates is due for renewal.
func (j *Joined) RenewAt() (time.Time, error) {
	var first time.Time
	for _, f := range []string{j.creds.nodeCert, j.creds.proxyCert, j.creds.servingCert, j.creds.ingressCert} {
		data, err := os.ReadFile(f)
		if f == j.creds.ingressCert && errors.Is(err, os.ErrNotExist) {
			// Joined before nodes ran an ingress controller: a renewal
			// brings its certificate. It is due an hour after the last
			// one, so a server that signs none is not asked in a loop.
			st, serr := os.Stat(j.creds.nodeCert)
			if serr != nil {
				return time.Time{}, serr
			}
			if at := st.ModTime().Add(time.Hour); first.IsZero() || at.Before(first) {
				first = at
			}
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		block, _ := pem.Decode(data)
		if block == nil {
			return time.Time{}, fmt.Errorf("%s: no certificate", f)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", f, err)
		}
		if at := pki.RenewAt(cert); first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, nil
}

// Renew replaces the node's certificates with new ones for new keys,
// asking the server with the node's current client certificate. Clients
// and the kubelet API pick the new files up without a restart.
func (j *Joined) Renew(ctx context.Context) error {
	caPEM, err := os.ReadFile(j.creds.caFile)
	if err != nil {
		return err
	}
	req, keys, err := newJoinRequest(j.NodeName, j.NodeIP)
	if err != nil {
		return err
	}
	if req.NodePassword, err = nodePassword(j.dir); err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(j.creds.nodeCert, j.creds.nodeKey)
	if err != nil {
		return fmt.Errorf("renew: the node's client certificate: %w", err)
	}
	// Any server renews: the request goes to the one the pool prefers.
	target := joinTarget{url: j.creds.server, dial: j.creds.pool.DialContext, serverName: APIServerName}
	resp, err := postJoin(ctx, target, RenewPath, "", caPEM, []tls.Certificate{pair}, req)
	if err != nil {
		return fmt.Errorf("renew at %s: %w", j.creds.server, err)
	}
	if err := writeJoinPairs(j.dir, resp, keys); err != nil {
		return err
	}
	// After a CA rotation the server's CA is a bundle of the new CA and
	// the old; trusting both lets the node verify the server however far
	// its own renewal has got.
	if resp.CA != "" {
		if _, err := pki.WriteCACert(j.dir, []byte(resp.CA)); err != nil {
			return err
		}
	}
	j.logger.Info("renewed the node's certificates", "node", j.NodeName)
	return nil
}

// KeepRenewed renews the node's certificates when they are due, until ctx
// is done. It looks again at least hourly, so a changed clock or a renewal
// by hand is noticed, and retries a failed renewal after a minute.
func (j *Joined) KeepRenewed(ctx context.Context) {
	for {
		wait := time.Minute
		if at, err := j.RenewAt(); err != nil {
			j.logger.Warn("node certificates unreadable", "err", err)
		} else if wait = time.Until(at); wait <= 0 {
			wait = time.Minute
			if err := j.Renew(ctx); err != nil {
				j.logger.Warn("renewing the node's certificates failed; retrying in a minute", "err", err)
			} else {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(wait, time.Hour)):
		}
	}
}

// FollowServers keeps the node's pool of API servers equal to the
// servers the cluster lists in default/kubernetes, reading them as the
// node itself (every node may get that object) until ctx is done.
func (j *Joined) FollowServers(ctx context.Context) error {
	rc, err := j.creds.RESTConfig(j.creds.nodeUser)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("server pool client: %w", err)
	}
	return j.Servers.Run(ctx, client)
}

// RefusedError is the server's answer to a join or renewal it did not
// sign.
type RefusedError struct {
	Code int
	Msg  string
}

func (e *RefusedError) Error() string { return e.Msg }

// RetryJoin runs f until it succeeds, the server refuses (a 4xx answer:
// a wrong token, a name another host holds), or ctx is done. A server
// that cannot be reached or fails (5xx: still starting, its policy not in
// place yet) is asked again after 1 s, then twice as long each time up to
// 30 s, as upstream's kubelet keeps trying to bootstrap.
func RetryJoin(ctx context.Context, logger *slog.Logger, f func() error) error {
	wait := time.Second
	for {
		err := f()
		var refused *RefusedError
		if err == nil || errors.As(err, &refused) && refused.Code < 500 || ctx.Err() != nil {
			return err
		}
		logger.Warn("join failed; trying again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// FetchClusterCA reads the server's CA certificate without trusting the
// server yet, and keeps it only if it has the hash the token names.
func FetchClusterCA(ctx context.Context, serverURL string, token pki.JoinToken) ([]byte, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The answer is checked against the token's hash below.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(serverURL, "/")+JoinCAPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &RefusedError{Code: resp.StatusCode, Msg: fmt.Sprintf("%s: %s", JoinCAPath, resp.Status)}
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the server sent no CA certificate")
	}
	if got := pki.CertHash(block.Bytes); got != token.CAHash {
		// Not worth asking again: this is another cluster, or another token.
		return nil, &RefusedError{Code: http.StatusForbidden,
			Msg: fmt.Sprintf("the server's CA has hash %s, the join token names %s: wrong server or token", got, token.CAHash)}
	}
	return body, nil
}

// RequestJoin sends req to the server, trusting only caPEM.
func RequestJoin(ctx context.Context, serverURL string, token pki.JoinToken, caPEM []byte, req JoinRequest) (JoinResponse, error) {
	return PostJoin(ctx, serverURL, JoinPath, token.Secret, caPEM, nil, req)
}

// PostJoin posts req to path on the server, trusting only caPEM, with the
// bearer token or client certificates given.
func PostJoin(ctx context.Context, serverURL, path, bearer string, caPEM []byte, certs []tls.Certificate, req JoinRequest) (JoinResponse, error) {
	return postJoin(ctx, joinTarget{url: serverURL}, path, bearer, caPEM, certs, req)
}

// joinTarget is where postJoin sends a request: the server's URL, and
// optionally a dialer that picks the server and the name its
// certificate is checked against.
type joinTarget struct {
	url        string
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	serverName string
}

func postJoin(ctx context.Context, target joinTarget, path, bearer string, caPEM []byte, certs []tls.Certificate, req JoinRequest) (JoinResponse, error) {
	var out JoinResponse
	err := postJSON(ctx, target, path, bearer, caPEM, certs, req, &out)
	return out, err
}
