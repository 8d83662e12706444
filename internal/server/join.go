package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/auth"
	"skiff/internal/controller/nodepassword"
	"skiff/internal/node"
	"skiff/internal/pki"
)

// joinUser is who the join protocol writes node passwords as: it may
// only create Secrets in kube-system.
const joinUser = auth.JoinUser

// joinCluster is what the join protocol reads and writes in the cluster:
// the API server's cache for reads, a loopback client for the one write.
type joinCluster interface {
	// Secret returns kube-system/name.
	Secret(name string) (*corev1.Secret, bool)
	// Nodes returns every Node.
	Nodes() []*corev1.Node
	// GetSecret reads kube-system/name afresh (not from a cache); a
	// missing one is a NotFound error.
	GetSecret(ctx context.Context, name string) (*corev1.Secret, error)
	// CreateSecret creates a Secret in kube-system.
	CreateSecret(ctx context.Context, s *corev1.Secret) error
}

// joiner serves the join protocol: it signs a node's certificates for a
// valid join token (the server's static one or a bootstrap token), and
// renews them for a node that presents its own current certificate.
type joiner struct {
	cfg     Config
	ca      *pki.CA
	tlsDir  string
	cluster joinCluster
	now     func() time.Time
}

// joinError is a refusal with its HTTP status.
type joinError struct {
	code int
	msg  string
}

func (e *joinError) Error() string { return e.msg }

func refuse(code int, format string, args ...any) error {
	return &joinError{code: code, msg: fmt.Sprintf(format, args...)}
}

// handlers are the join protocol's paths.
func (j *joiner) handlers() map[string]http.Handler {
	return map[string]http.Handler{
		node.JoinCAPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(j.currentCA().CertPEM())
		}),
		node.JoinPath: j.serve(func(r *http.Request, req node.JoinRequest) (node.JoinResponse, error) {
			if err := j.checkToken(r); err != nil {
				return node.JoinResponse{}, err
			}
			// The names are checked before the name is claimed, so that a
			// refused join claims nothing.
			if _, err := j.servingSANs(req); err != nil {
				return node.JoinResponse{}, err
			}
			if err := j.claimName(r.Context(), req, false); err != nil {
				return node.JoinResponse{}, err
			}
			return j.sign(req)
		}),
		node.RenewPath: j.serve(func(r *http.Request, req node.JoinRequest) (node.JoinResponse, error) {
			if name := presentedNode(r); name == "" || name != req.NodeName {
				return node.JoinResponse{}, refuse(http.StatusForbidden,
					"renewal needs the client certificate of node %q (system:node:%s)", req.NodeName, req.NodeName)
			}
			if err := j.claimName(r.Context(), req, true); err != nil {
				return node.JoinResponse{}, err
			}
			return j.sign(req)
		}),
	}
}

// currentCA is the CA on disk now, so that after `skiff certificate
// rotate-ca` nodes are signed by the new CA and get the new bundle without
// a restart. While the CA files are being replaced (they do not match for
// a moment) it is the CA the server started with, which is still trusted.
func (j *joiner) currentCA() *pki.CA {
	if ca, err := pki.LoadCA(j.tlsDir); err == nil {
		return ca
	}
	return j.ca
}

// serve decodes a join request, runs f and writes its answer or refusal.
func (j *joiner) serve(f func(*http.Request, node.JoinRequest) (node.JoinResponse, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var req node.JoinRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "bad join request: "+err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := f(r, req)
		if err != nil {
			// A refusal says why; anything else is the server's own
			// trouble (still starting, its store), which the node retries.
			code := http.StatusInternalServerError
			var je *joinError
			if errors.As(err, &je) {
				code = je.code
			}
			j.cfg.Logger.Warn("join refused", "node", req.NodeName, "from", r.RemoteAddr, "path", r.URL.Path, "reason", err)
			http.Error(w, err.Error(), code)
			return
		}
		resp.CA = string(j.currentCA().CertPEM())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
		j.cfg.Logger.Info("node credentials signed", "node", req.NodeName, "from", r.RemoteAddr, "path", r.URL.Path)
	})
}

// checkToken accepts the server's static join token, read afresh so that
// `skiff token rotate` takes effect at once, or a bootstrap token
// (<id>.<secret>) that is valid for authentication and not expired.
func (j *joiner) checkToken(r *http.Request) error {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return refuse(http.StatusUnauthorized, "Unauthorized")
	}
	if id, s, ok := pki.ParseBootstrapToken(secret); ok {
		// Read afresh: a token deleted a moment ago joins nobody.
		sec, err := j.cluster.GetSecret(r.Context(), pki.BootstrapTokenSecretPrefix+id)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("bootstrap token: %w", err)
		}
		if _, _, err := pki.CheckBootstrapToken(sec, id, s, pki.BootstrapTokenUsageAuth, j.now()); err != nil {
			j.cfg.Logger.Warn("join with a bad bootstrap token", "from", r.RemoteAddr, "reason", err)
			return refuse(http.StatusUnauthorized, "Unauthorized")
		}
		return nil
	}
	token, err := pki.ReadJoinToken(j.tlsDir, j.currentCA())
	if err != nil {
		return fmt.Errorf("join token: %w", err)
	}
	if !token.MatchesSecret(secret) {
		return refuse(http.StatusUnauthorized, "Unauthorized")
	}
	return nil
}

// claimName makes sure the node name is this node's: the first join of a
// name stores the hash of the node's password; a later join or renewal
// with the name must present the same password, until the Node is deleted
// (the nodepassword controller then removes the hash). A name that already
// has a Node but no password (the server's own node) cannot be joined; a
// renewing node, which holds the name's certificate, may claim it again.
func (j *joiner) claimName(ctx context.Context, req node.JoinRequest, renewing bool) error {
	if len(req.NodePassword) < 16 {
		return refuse(http.StatusBadRequest, "nodePassword: at least 16 characters are required")
	}
	name := nodepassword.SecretName(req.NodeName)
	check := func(s *corev1.Secret) error {
		if !nodePasswordMatches(s, req.NodePassword) {
			return refuse(http.StatusForbidden, "node %q is already registered by another host (its node password differs); "+
				"to give the name to a new host, delete the node first (kubectl delete node %s)", req.NodeName, req.NodeName)
		}
		return nil
	}
	s, err := j.cluster.GetSecret(ctx, name)
	if err == nil {
		return check(s)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read the node password of %q: %w", req.NodeName, err)
	}
	if !renewing && slices.ContainsFunc(j.cluster.Nodes(), func(n *corev1.Node) bool { return n.Name == req.NodeName }) {
		return refuse(http.StatusForbidden, "node %q already exists and was not joined with a node password; choose another --node-name", req.NodeName)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	err = j.cluster.CreateSecret(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{nodepassword.NodeLabel: req.NodeName}},
		Type: nodepassword.SecretType,
		Data: map[string][]byte{"salt": salt, "hash": nodePasswordHash(salt, req.NodePassword)},
	})
	if apierrors.IsAlreadyExists(err) {
		// Another join of the name won the race: it must be this node's.
		if s, err = j.cluster.GetSecret(ctx, name); err != nil {
			return fmt.Errorf("read the node password of %q: %w", req.NodeName, err)
		}
		return check(s)
	}
	if err != nil {
		return fmt.Errorf("store the node password of %q: %w", req.NodeName, err)
	}
	return nil
}

func nodePasswordHash(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return []byte(hex.EncodeToString(h.Sum(nil)))
}

func nodePasswordMatches(s *corev1.Secret, password string) bool {
	return subtle.ConstantTimeCompare(s.Data["hash"], nodePasswordHash(s.Data["salt"], password)) == 1
}

// presentedNode is the node name of the verified client certificate
// (system:node:<name> in system:nodes), or "".
func presentedNode(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	cert := r.TLS.VerifiedChains[0][0]
	name, ok := strings.CutPrefix(cert.Subject.CommonName, node.AgentUserPrefix)
	if !ok || !slices.Contains(cert.Subject.Organization, node.NodesGroup) {
		return ""
	}
	return name
}

// sign checks what a node asks to be named and signs its certificates.
func (j *joiner) sign(req node.JoinRequest) (node.JoinResponse, error) {
	sans, err := j.servingSANs(req)
	if err != nil {
		return node.JoinResponse{}, err
	}
	ca := j.currentCA()
	var out node.JoinResponse
	step := func(dst *string, f func() ([]byte, error)) {
		if err != nil {
			return
		}
		var b []byte
		b, err = f()
		*dst = string(b)
	}
	step(&out.NodeCert, func() ([]byte, error) {
		return ca.ClientCertFromCSR([]byte(req.NodeCSR), node.AgentUser(req.NodeName), []string{node.NodesGroup})
	})
	step(&out.ProxyCert, func() ([]byte, error) {
		return ca.ClientCertFromCSR([]byte(req.ProxyCSR), node.ProxyUser, nil)
	})
	if req.IngressCSR != "" {
		step(&out.IngressCert, func() ([]byte, error) {
			return ca.ClientCertFromCSR([]byte(req.IngressCSR), node.IngressUser, nil)
		})
	}
	step(&out.ServingCert, func() ([]byte, error) {
		return ca.ServingCertFromCSR([]byte(req.ServingCSR), req.NodeName, sans)
	})
	if err != nil {
		return node.JoinResponse{}, refuse(http.StatusBadRequest, "%v", err)
	}
	out.ClusterDNS, out.ClusterDomain, out.ServiceCIDR = j.cfg.ClusterDNS, j.cfg.ClusterDomain, j.cfg.ServiceCIDR
	return out, nil
}

// servingSANs are the names of a node's serving certificate: its name and
// its own addresses, nothing else. A name or address that belongs to the
// API server (its certificate's names, the service CIDR, loopback) or to
// another node is refused, so that no node can pose as either.
func (j *joiner) servingSANs(req node.JoinRequest) (pki.SANs, error) {
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return pki.SANs{}, refuse(http.StatusBadRequest, "nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	_, serviceCIDR, err := net.ParseCIDR(j.cfg.ServiceCIDR)
	if err != nil {
		return pki.SANs{}, err
	}
	first := slices.Clone(serviceCIDR.IP.To16())
	first[len(first)-1]++
	api := pki.DefaultAPIServerSANs(first, j.cfg.ClusterDomain).Merge(pki.ParseSANs(j.cfg.TLSSANs))
	if slices.ContainsFunc(api.DNSNames, func(n string) bool { return strings.EqualFold(n, req.NodeName) }) {
		return pki.SANs{}, refuse(http.StatusForbidden, "nodeName %q is a name of the API server", req.NodeName)
	}
	if j.cfg.AdvertiseAddress != nil {
		api.IPs = append(api.IPs, j.cfg.AdvertiseAddress)
	}
	others := map[string]string{}
	for _, n := range j.cluster.Nodes() {
		if n.Name == req.NodeName {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				others[a.Address] = n.Name
			}
		}
	}
	sans := pki.SANs{DNSNames: []string{req.NodeName}}
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		switch {
		case ip == nil:
			return pki.SANs{}, refuse(http.StatusBadRequest, "nodeIPs: %q is not an IP address", s)
		case ip.IsLoopback() || ip.IsUnspecified():
			return pki.SANs{}, refuse(http.StatusForbidden, "nodeIPs: %s is not a node's own address", s)
		case serviceCIDR.Contains(ip):
			return pki.SANs{}, refuse(http.StatusForbidden, "nodeIPs: %s is in the service CIDR %s", s, j.cfg.ServiceCIDR)
		case slices.ContainsFunc(api.IPs, ip.Equal):
			return pki.SANs{}, refuse(http.StatusForbidden, "nodeIPs: %s is an address of the API server", s)
		case others[ip.String()] != "":
			return pki.SANs{}, refuse(http.StatusForbidden, "nodeIPs: %s is an address of node %q", s, others[ip.String()])
		}
		sans.IPs = append(sans.IPs, ip)
	}
	return sans, nil
}

// setUpJoin makes (or keeps) the cluster's join token, writes it to
// <data-dir>/node-token for `skiff agent --token-file`, and returns the
// join protocol's handlers.
func setUpJoin(cfg Config, cluster joinCluster, members *etcdMembers) (map[string]http.Handler, error) {
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return nil, err
	}
	token, err := ca.LoadOrCreateJoinToken(tlsDir)
	if err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "node-token"), []byte(token.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	j := &joiner{cfg: cfg, ca: ca, tlsDir: tlsDir, cluster: cluster, now: time.Now}
	h := j.handlers()
	// Servers join only a server whose etcd is embedded: with an external
	// one, each server is started with its address instead.
	if members != nil {
		h[ServerBootstrapPath] = http.HandlerFunc(j.serveBootstrap)
		h[EtcdJoinPath] = members.serveJoin(j)
	}
	return h, nil
}

// apiJoinCluster is the joinCluster of a running server: reads from the
// API server's cache, fresh reads and writes through a loopback client.
type apiJoinCluster struct {
	s      *Server
	once   sync.Once
	client kubernetes.Interface
	err    error
}

var _ joinCluster = (*apiJoinCluster)(nil)

func (c *apiJoinCluster) Secret(name string) (*corev1.Secret, bool) {
	if c.s.api == nil {
		return nil, false
	}
	o, ok := c.s.api.Object("", "v1", "secrets", metav1.NamespaceSystem, name)
	if !ok {
		return nil, false
	}
	sec, ok := o.(*corev1.Secret)
	return sec, ok
}

func (c *apiJoinCluster) Nodes() []*corev1.Node {
	if c.s.api == nil {
		return nil
	}
	var out []*corev1.Node
	for _, o := range c.s.api.Objects("", "v1", "nodes", "") {
		if n, ok := o.(*corev1.Node); ok {
			out = append(out, n)
		}
	}
	return out
}

func (c *apiJoinCluster) loopback() (kubernetes.Interface, error) {
	c.once.Do(func() {
		var rc *rest.Config
		if rc, c.err = c.s.clientConfig(joinUser); c.err == nil {
			c.client, c.err = kubernetes.NewForConfig(rc)
		}
	})
	return c.client, c.err
}

// GetSecret reads the stored Secret in-process, so that the join user
// needs no right to read Secrets.
func (c *apiJoinCluster) GetSecret(ctx context.Context, name string) (*corev1.Secret, error) {
	if c.s.api == nil {
		return nil, errors.New("no API server")
	}
	o, err := c.s.api.Read(ctx, corev1.SchemeGroupVersion.WithResource("secrets"), metav1.NamespaceSystem, name)
	if err != nil {
		return nil, err
	}
	sec, ok := o.(*corev1.Secret)
	if !ok {
		return nil, fmt.Errorf("secret %s: unexpected %T", name, o)
	}
	return sec, nil
}

func (c *apiJoinCluster) CreateSecret(ctx context.Context, sec *corev1.Secret) error {
	client, err := c.loopback()
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, sec, metav1.CreateOptions{})
	return err
}
