package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/etcd"
	"skiff/internal/node"
	"skiff/internal/pki"
)

// EtcdJoinPath is where a joining server asks to be added to the embedded
// etcd cluster, as a learner, with the server's join token.
// EtcdMembersPath lists (GET) and removes (DELETE ?name=) the members of a
// running server's embedded etcd; only admins reach it.
const (
	EtcdJoinPath    = "/skiff/v1/etcd-join"
	EtcdMembersPath = "/skiff/v1/etcd-members"
)

// etcdPeerPort is the embedded etcd's peer port when it serves other
// servers (--cluster-init, or a joined server).
const etcdPeerPort = "2380"

// Timing of a member that has, or will have, peers: etcd's own heartbeat
// and election timeout, so that a busy host does not cause elections.
const (
	clusterTickMs     = 100
	clusterElectionMs = 1000
)

// promoteInterval is how often the leader promotes learners that caught
// up.
const promoteInterval = time.Second

// memberNameFile keeps the embedded member's name across restarts.
const memberNameFile = "etcd-member-name"

// clustered says whether the embedded etcd has, or is to have, peers: the
// first server started with --cluster-init, or a server joining another.
func (c *Config) clustered() bool { return c.ClusterInit || c.JoinServer != "" }

// embeddedEtcd is how the embedded member is started: its name, URLs and
// timing. ResetCluster uses it too, so that a reset member keeps its name
// and peer URL.
func embeddedEtcd(cfg Config) (etcd.Config, error) {
	name, err := memberName(cfg)
	if err != nil {
		return etcd.Config{}, err
	}
	ec := etcd.Config{
		DataDir:   filepath.Join(cfg.DataDir, "etcd"),
		Name:      name,
		ClientURL: cmp.Or(cfg.EtcdClientURL, defaultEtcdClientURL),
		PeerURL:   cmp.Or(cfg.EtcdPeerURL, defaultEtcdPeerURL),
		Logger:    cfg.Logger,
		// The upkeep defragments and clears NOSPACE.
		QuotaBackendBytes: cfg.EtcdQuotaBackendBytes,
	}
	if cfg.clustered() {
		if cfg.EtcdPeerURL == "" {
			if cfg.AdvertiseAddress == nil {
				return etcd.Config{}, errors.New("--cluster-init and --server need an address other servers reach this one at: set --advertise-address")
			}
			ec.PeerURL = "https://" + net.JoinHostPort(cfg.AdvertiseAddress.String(), etcdPeerPort)
		}
		ec.TickMs, ec.ElectionMs = clusterTickMs, clusterElectionMs
		ec.CatchUpEntries = etcd.DefaultCatchUpEntries
	}
	return ec, nil
}

// memberName is the embedded member's name: kept in the data dir; for a
// new member, the node name and a random suffix (so that a host that lost
// its data joins under a new name), as k3s names them. A data dir from
// before names were kept has etcd's member under the old fixed name.
func memberName(cfg Config) (string, error) {
	file := filepath.Join(cfg.DataDir, memberNameFile)
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var name string
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "etcd", "member")); err == nil {
		name = etcd.DefaultName
	} else {
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		name = cmp.Or(cfg.NodeName, node.HostName()) + "-" + hex.EncodeToString(suffix)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return "", err
	}
	return name, os.WriteFile(file, []byte(name+"\n"), 0o600)
}

// etcdJoinRequest asks the cluster to add a member.
type etcdJoinRequest struct {
	Name    string `json:"name"`
	PeerURL string `json:"peerURL"`
}

// etcdJoinResponse is what the new member starts with.
type etcdJoinResponse struct {
	// InitialCluster lists every member as name=peerURL, the new one too.
	InitialCluster string `json:"initialCluster"`
}

// EtcdMember is one member of the embedded etcd cluster.
type EtcdMember struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	Learner    bool     `json:"learner,omitempty"`
	// Self marks the member of the server that answered.
	Self bool `json:"self,omitempty"`
}

// etcdMembers manages the embedded member's cluster.
type etcdMembers struct {
	member *etcd.Server
	// name is the member's.
	name   string
	logger *slog.Logger
}

func (m *etcdMembers) client() *clientv3.Client { return m.member.Client() }

// list returns the members.
func (m *etcdMembers) list(ctx context.Context) ([]EtcdMember, error) {
	resp, err := m.client().MemberList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]EtcdMember, 0, len(resp.Members))
	for _, mb := range resp.Members {
		out = append(out, EtcdMember{Name: mb.Name, ID: strconv.FormatUint(mb.ID, 16), PeerURLs: mb.PeerURLs,
			ClientURLs: mb.ClientURLs, Learner: mb.IsLearner, Self: mb.ID == m.member.MemberID()})
	}
	return out, nil
}

// join adds a member as a learner and returns the cluster it starts with.
// A member already there under the name or peer URL (a server that lost
// its data and joins again) is removed first.
func (m *etcdMembers) join(ctx context.Context, req etcdJoinRequest) (etcdJoinResponse, error) {
	u, err := url.Parse(req.PeerURL)
	if req.Name == "" || strings.ContainsAny(req.Name, "=,") || err != nil || u.Scheme != "https" || u.Port() == "" {
		return etcdJoinResponse{}, refuse(http.StatusBadRequest, "a member needs a name (no '=' or ',') and an https peer URL with a port")
	}
	members, err := m.client().MemberList(ctx)
	if err != nil {
		return etcdJoinResponse{}, err
	}
	// Members on loopback reach each other only on one host (tests do
	// that); a member elsewhere could not reach this one.
	if !isLoopbackURL(req.PeerURL) {
		for _, mb := range members.Members {
			if mb.ID == m.member.MemberID() && slices.ContainsFunc(mb.PeerURLs, isLoopbackURL) {
				return etcdJoinResponse{}, refuse(http.StatusConflict,
					"this server's etcd serves peers on loopback only (%s): start the first server with --cluster-init (or an --etcd-peer-url other servers reach) before others join",
					strings.Join(mb.PeerURLs, ","))
			}
		}
	}
	for _, mb := range members.Members {
		if mb.Name != req.Name && !slices.Contains(mb.PeerURLs, req.PeerURL) {
			continue
		}
		if mb.ID == m.member.MemberID() {
			return etcdJoinResponse{}, refuse(http.StatusConflict, "member %s (%s) is this server's own", req.Name, req.PeerURL)
		}
		m.logger.Info("etcd member replaced by a server joining again", "member", mb.Name, "id", strconv.FormatUint(mb.ID, 16), "peerURLs", mb.PeerURLs)
		if _, err := m.client().MemberRemove(ctx, mb.ID); err != nil {
			return etcdJoinResponse{}, fmt.Errorf("remove the old member %s: %w", mb.Name, err)
		}
	}
	added, err := m.client().MemberAddAsLearner(ctx, []string{req.PeerURL})
	if err != nil {
		if strings.Contains(err.Error(), "too many learner members") {
			return etcdJoinResponse{}, refuse(http.StatusServiceUnavailable, "another server is joining (etcd has a learner not yet promoted); try again")
		}
		return etcdJoinResponse{}, err
	}
	var initial []string
	for _, mb := range added.Members {
		name := mb.Name
		if mb.ID == added.Member.ID {
			name = req.Name
		}
		if name == "" {
			// Another member added but not started: etcd names it once
			// it runs; until then the cluster cannot take another.
			return etcdJoinResponse{}, refuse(http.StatusServiceUnavailable, "etcd member %x was added but has not started", mb.ID)
		}
		for _, p := range mb.PeerURLs {
			initial = append(initial, name+"="+p)
		}
	}
	m.logger.Info("etcd learner added", "member", req.Name, "peerURL", req.PeerURL, "id", strconv.FormatUint(added.Member.ID, 16))
	return etcdJoinResponse{InitialCluster: strings.Join(initial, ",")}, nil
}

// remove removes the member of that name (or hex ID); never the answering
// server's own, which would stop the server that removes it.
func (m *etcdMembers) remove(ctx context.Context, name string) error {
	members, err := m.client().MemberList(ctx)
	if err != nil {
		return err
	}
	for _, mb := range members.Members {
		if mb.Name != name && strconv.FormatUint(mb.ID, 16) != name {
			continue
		}
		if mb.ID == m.member.MemberID() {
			return apierrors.NewConflict(schema.GroupResource{Resource: "etcd-members"}, name,
				errors.New("this is the answering server's own member: ask another server to remove it"))
		}
		if _, err := m.client().MemberRemove(ctx, mb.ID); err != nil {
			return err
		}
		m.logger.Info("etcd member removed", "member", mb.Name, "id", strconv.FormatUint(mb.ID, 16))
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{Resource: "etcd-members"}, name)
}

// promoteLearners, while this member leads, promotes every learner that
// has caught up (etcd refuses the others, which are tried again).
func (m *etcdMembers) promoteLearners(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if !m.member.IsLeader() {
			return
		}
		members, err := m.client().MemberList(ctx)
		if err != nil {
			return
		}
		for _, mb := range members.Members {
			if !mb.IsLearner || mb.Name == "" {
				continue
			}
			if _, err := m.client().MemberPromote(ctx, mb.ID); err != nil {
				m.logger.Debug("etcd learner not promoted yet", "member", mb.Name, "reason", err)
				continue
			}
			m.logger.Info("etcd learner promoted", "member", mb.Name, "id", strconv.FormatUint(mb.ID, 16))
		}
	}, promoteInterval)
}

// serveJoin serves EtcdJoinPath for the joiner's token check.
func (m *etcdMembers) serveJoin(j *joiner) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp etcdJoinResponse
		err := func() error {
			if r.Method != http.MethodPost {
				return refuse(http.StatusMethodNotAllowed, "POST only")
			}
			if _, err := j.checkServerToken(r); err != nil {
				return err
			}
			var req etcdJoinRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
				return refuse(http.StatusBadRequest, "bad etcd join request: %v", err)
			}
			var err error
			resp, err = m.join(r.Context(), req)
			return err
		}()
		if err != nil {
			code := http.StatusInternalServerError
			var je *joinError
			if errors.As(err, &je) {
				code = je.code
			}
			m.logger.Warn("etcd join refused", "from", r.RemoteAddr, "reason", err)
			http.Error(w, err.Error(), code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// ServeHTTP serves EtcdMembersPath.
func (m *etcdMembers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var out any
	var err error
	switch r.Method {
	case http.MethodGet:
		var list []EtcdMember
		list, err = m.list(r.Context())
		out = map[string][]EtcdMember{"members": list}
	case http.MethodDelete:
		name := r.URL.Query().Get("name")
		if name == "" {
			err = apierrors.NewBadRequest("name the member to remove")
		} else {
			err = m.remove(r.Context(), name)
			out = map[string]string{"removed": name}
		}
	default:
		err = apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "etcd-members"}, r.Method)
	}
	writeResult(w, out, err)
}

// writeResult writes out as JSON, or err as a Status.
func writeResult(w http.ResponseWriter, out any, err error) {
	if err != nil {
		var st apierrors.APIStatus
		if !errors.As(err, &st) {
			err = apierrors.NewInternalError(err)
			errors.As(err, &st)
		}
		writeStatus(w, &apierrors.StatusError{ErrStatus: st.Status()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// joinEtcd asks cfg.JoinServer to add this server's member as a learner
// and returns the member's configuration for its first start.
func joinEtcd(ctx context.Context, cfg Config, ec etcd.Config) (etcd.Config, error) {
	token, err := pki.ParseJoinToken(cfg.JoinToken)
	if err != nil {
		return ec, err
	}
	caPEM, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "ca.crt"))
	if err != nil {
		return ec, err
	}
	// A data dir with a CA of its own (a server started alone before)
	// cannot join another cluster: its certificates are not the cluster's.
	if block, _ := pem.Decode(caPEM); block == nil || pki.CertHash(block.Bytes) != token.CAHash {
		return ec, fmt.Errorf("join %s: %s holds another cluster's CA than the token names; join with an empty data dir",
			cfg.JoinServer, filepath.Join(cfg.DataDir, "tls"))
	}
	// The cluster is told the member's URL before it listens.
	peerURL, err := etcd.ResolvePort(ec.PeerURL)
	if err != nil {
		return ec, err
	}
	peer := peerURL.String()
	var resp etcdJoinResponse
	err = node.RetryJoin(ctx, cfg.Logger, func() error {
		return node.PostJSON(ctx, cfg.JoinServer, EtcdJoinPath, token.Secret, caPEM, nil,
			etcdJoinRequest{Name: ec.Name, PeerURL: peer}, &resp)
	})
	if err != nil {
		return ec, fmt.Errorf("join etcd through %s: %w", cfg.JoinServer, err)
	}
	ec.PeerURL = peer
	ec.InitialCluster = resp.InitialCluster
	ec.ClusterState = etcd.ClusterStateExisting
	return ec, nil
}

// memberInitialized says whether the member has data of its own.
func memberInitialized(ec etcd.Config) bool {
	_, err := os.Stat(filepath.Join(ec.DataDir, "member"))
	return err == nil
}

// ListEtcdMembers lists the embedded etcd's members through the server
// behind client.
func ListEtcdMembers(ctx context.Context, client kubernetes.Interface) ([]EtcdMember, error) {
	var out struct {
		Members []EtcdMember `json:"members"`
	}
	res := client.CoreV1().RESTClient().Get().AbsPath(EtcdMembersPath).Do(ctx)
	if err := res.Error(); err != nil {
		return nil, fmt.Errorf("etcd members: %w", err)
	}
	body, _ := res.Raw()
	return out.Members, json.Unmarshal(body, &out)
}

// RemoveEtcdMember removes a member (by name or hex ID) through the
// server behind client.
func RemoveEtcdMember(ctx context.Context, client kubernetes.Interface, name string) error {
	if err := client.CoreV1().RESTClient().Delete().AbsPath(EtcdMembersPath).Param("name", name).Do(ctx).Error(); err != nil {
		return fmt.Errorf("remove etcd member: %w", err)
	}
	return nil
}

// isLoopbackURL says whether raw's host is a loopback address.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() || u.Hostname() == "localhost"
}

// The annotation and finalizer a clustered server puts on its own Node:
// the Node deleted, another server removes the member it names, so that
// a server removed from the cluster leaves the quorum too (as k3s does).
const (
	EtcdMemberAnnotation = "etcd.skiff.dev/member-name"
	EtcdMemberFinalizer  = "etcd.skiff.dev/member"
)

// removeMembersOfDeletedNodes removes the etcd member of every Node
// deleted with EtcdMemberFinalizer, then the finalizer, until ctx is
// done. Every server runs it; a server leaves its own member to the
// others.
func (m *etcdMembers) removeMembersOfDeletedNodes(ctx context.Context, client kubernetes.Interface) {
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "nodes", metav1.NamespaceAll, fields.Everything())
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	informer := cache.NewSharedIndexInformer(lw, &corev1.Node{}, 0, cache.Indexers{})
	enqueue := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && n.DeletionTimestamp != nil && slices.Contains(n.Finalizers, EtcdMemberFinalizer) {
			queue.Add(n.Name)
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }})
	go informer.RunWithContext(ctx)
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	for {
		name, quit := queue.Get()
		if quit {
			return
		}
		if err := m.releaseNode(ctx, client, name); err != nil {
			m.logger.Warn("removing the etcd member of a deleted node", "node", name, "err", err)
			queue.AddRateLimited(name)
		} else {
			queue.Forget(name)
		}
		queue.Done(name)
	}
}

// releaseNode removes the member a deleted Node names, then its finalizer.
func (m *etcdMembers) releaseNode(ctx context.Context, client kubernetes.Interface, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if n.DeletionTimestamp == nil || !slices.Contains(n.Finalizers, EtcdMemberFinalizer) {
			return nil
		}
		switch member := n.Annotations[EtcdMemberAnnotation]; {
		case member == m.name:
			// Another server removes this one's member; alone, there is
			// no member to remove, and the Node just goes.
			if members, err := m.list(ctx); err != nil || len(members) > 1 {
				return err
			}
		case member != "":
			if err := m.remove(ctx, member); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		n.Finalizers = slices.DeleteFunc(n.Finalizers, func(f string) bool { return f == EtcdMemberFinalizer })
		_, err = client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// advertisePeerURL makes the member's peer URL in the cluster the one it
// listens on now: a server first started alone advertised loopback, and
// started again with --cluster-init must tell its future peers where it
// is.
func (m *etcdMembers) advertisePeerURL(ctx context.Context, peerURL string) error {
	if u, err := url.Parse(peerURL); err != nil || net.ParseIP(u.Hostname()).IsUnspecified() {
		// Listening everywhere says nothing of where peers reach it.
		return nil
	}
	members, err := m.client().MemberList(ctx)
	if err != nil {
		return err
	}
	for _, mb := range members.Members {
		if mb.ID != m.member.MemberID() || slices.Equal(mb.PeerURLs, []string{peerURL}) {
			continue
		}
		if _, err := m.client().MemberUpdate(ctx, mb.ID, []string{peerURL}); err != nil {
			return err
		}
		m.logger.Info("etcd member's peer URL updated", "member", mb.Name, "from", mb.PeerURLs, "to", peerURL)
	}
	return nil
}
