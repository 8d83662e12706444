package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"skiff/internal/node"
	"skiff/internal/pki"
)

// ServerBootstrapPath is where a joining server (skiff server --server
// URL --token T) fetches what every server of a cluster shares: the CAs
// and their keys, the service account keys, the join token's secret and
// the at-rest encryption keys. Only the server's own join token opens it
// (never a bootstrap token, which joins agents only), and the answer is
// encrypted with a key derived from that token, as k3s does, on top of
// the TLS the joiner pinned to the token's CA hash.
const ServerBootstrapPath = "/skiff/v1/server-bootstrap"

// bootstrapFiles are the data dir's files a joining server copies, by
// path relative to the data dir. Leaf certificates are not among them:
// every server issues its own from the shared CAs.
var bootstrapFiles = []string{
	"tls/ca.crt", "tls/ca.key", "tls/ca-cross.crt",
	"tls/etcd/ca.crt", "tls/etcd/ca.key",
	"tls/front-proxy/ca.crt", "tls/front-proxy/ca.key",
	"tls/sa.key", "tls/sa.pub",
	"tls/join-token.secret",
	"tls/encryption-config.json",
}

// bootstrapDirs are folders whose files are all copied.
var bootstrapDirs = []string{"tls/" + pki.ServiceAccountVerifyDir}

// bootstrapCompleteFile is written last when a joining server stores the
// bootstrap data: present, the server has everything and does not ask
// again.
const bootstrapCompleteFile = "tls/ca.key"

// serverBootstrap is the plain text of a bootstrap answer.
type serverBootstrap struct {
	// Files are the shared files by path relative to the data dir.
	Files map[string][]byte `json:"files"`
	// The cluster's settings, which every server must share.
	ServiceCIDR   string `json:"serviceCIDR"`
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	// SecretsEncryption says the cluster encrypts Secrets with a
	// generated key (--secrets-encryption).
	SecretsEncryption bool `json:"secretsEncryption"`
}

// sealedBootstrap is a bootstrap answer as sent: AES-256-GCM under a key
// derived from the join token's secret with PBKDF2-SHA256.
type sealedBootstrap struct {
	Salt       []byte `json:"salt"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// bootstrapKDFIterations makes guessing a weak user-chosen secret from a
// captured answer slow; a generated secret needs none of it.
const bootstrapKDFIterations = 200_000

func bootstrapAEAD(secret string, salt []byte) (cipher.AEAD, error) {
	key, err := pbkdf2.Key(sha256.New, secret, salt, bootstrapKDFIterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sealBootstrap(secret string, b serverBootstrap) (sealedBootstrap, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return sealedBootstrap{}, err
	}
	s := sealedBootstrap{Salt: make([]byte, 16)}
	if _, err := rand.Read(s.Salt); err != nil {
		return sealedBootstrap{}, err
	}
	aead, err := bootstrapAEAD(secret, s.Salt)
	if err != nil {
		return sealedBootstrap{}, err
	}
	s.Nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(s.Nonce); err != nil {
		return sealedBootstrap{}, err
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, []byte(ServerBootstrapPath))
	return s, nil
}

func openBootstrap(secret string, s sealedBootstrap) (serverBootstrap, error) {
	aead, err := bootstrapAEAD(secret, s.Salt)
	if err != nil {
		return serverBootstrap{}, err
	}
	if len(s.Nonce) != aead.NonceSize() {
		return serverBootstrap{}, errors.New("bootstrap data: bad nonce")
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, []byte(ServerBootstrapPath))
	if err != nil {
		return serverBootstrap{}, errors.New("bootstrap data: cannot decrypt it with this token")
	}
	var b serverBootstrap
	if err := json.Unmarshal(plain, &b); err != nil {
		return serverBootstrap{}, fmt.Errorf("bootstrap data: %w", err)
	}
	return b, nil
}

// checkServerToken accepts the server's static join token only.
func (j *joiner) checkServerToken(r *http.Request) (string, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return "", refuse(http.StatusUnauthorized, "Unauthorized")
	}
	if _, _, isBootstrap := pki.ParseBootstrapToken(secret); isBootstrap {
		return "", refuse(http.StatusForbidden, "a bootstrap token joins agents only; a server joins with the server's token (<data-dir>/node-token)")
	}
	token, err := pki.ReadJoinToken(j.tlsDir, j.currentCA())
	if err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	if !token.MatchesSecret(secret) {
		return "", refuse(http.StatusUnauthorized, "Unauthorized")
	}
	return token.Secret, nil
}

// serveBootstrap answers a joining server with the sealed bootstrap data.
func (j *joiner) serveBootstrap(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	secret, err := j.checkServerToken(r)
	if err == nil {
		var b serverBootstrap
		if b, err = readBootstrap(j.cfg); err == nil {
			var sealed sealedBootstrap
			if sealed, err = sealBootstrap(secret, b); err == nil {
				j.cfg.Logger.Info("server bootstrap data sent", "from", r.RemoteAddr)
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(sealed)
				return
			}
		}
	}
	code := http.StatusInternalServerError
	var je *joinError
	if errors.As(err, &je) {
		code = je.code
	}
	j.cfg.Logger.Warn("server bootstrap refused", "from", r.RemoteAddr, "reason", err)
	http.Error(w, err.Error(), code)
}

// readBootstrap reads the shared files of this server's data dir.
func readBootstrap(cfg Config) (serverBootstrap, error) {
	b := serverBootstrap{Files: map[string][]byte{}, ServiceCIDR: cfg.ServiceCIDR, ClusterDNS: cfg.ClusterDNS,
		ClusterDomain: cfg.ClusterDomain, SecretsEncryption: cfg.SecretsEncryption}
	names := slices.Clone(bootstrapFiles)
	for _, dir := range bootstrapDirs {
		entries, err := os.ReadDir(filepath.Join(cfg.DataDir, dir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return serverBootstrap{}, err
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, dir+"/"+e.Name())
			}
		}
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(cfg.DataDir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return serverBootstrap{}, err
		}
		b.Files[name] = data
	}
	return b, nil
}

// fetchServerBootstrap makes this server's data dir a copy of the shared
// files of the cluster cfg.JoinServer belongs to, unless it has them
// already. It trusts the server only once its CA has the token's hash.
func fetchServerBootstrap(ctx context.Context, cfg Config) error {
	if _, err := os.Stat(filepath.Join(cfg.DataDir, bootstrapCompleteFile)); err == nil {
		return nil
	}
	token, err := pki.ParseJoinToken(cfg.JoinToken)
	if err != nil {
		return err
	}
	if _, _, isBootstrap := pki.ParseBootstrapToken(token.Secret); isBootstrap {
		return errors.New("--token: a bootstrap token joins agents only; a server joins with the first server's token (its <data-dir>/node-token)")
	}
	var caPEM []byte
	var sealed sealedBootstrap
	err = node.RetryJoin(ctx, cfg.Logger, func() (err error) {
		if caPEM, err = node.FetchClusterCA(ctx, cfg.JoinServer, token); err != nil {
			return err
		}
		return node.PostJSON(ctx, cfg.JoinServer, ServerBootstrapPath, token.Secret, caPEM, nil, struct{}{}, &sealed)
	})
	if err != nil {
		return fmt.Errorf("join %s: %w", cfg.JoinServer, err)
	}
	b, err := openBootstrap(token.Secret, sealed)
	if err != nil {
		return err
	}
	if err := checkSharedSettings(cfg, b); err != nil {
		return err
	}
	if err := writeBootstrap(cfg.DataDir, b); err != nil {
		return err
	}
	cfg.Logger.Info("joined the cluster's servers: CAs and keys copied", "server", cfg.JoinServer)
	return nil
}

// checkSharedSettings refuses to join servers whose settings differ: a
// Service's address, the cluster DNS and the encrypted Secrets must read
// the same on every server.
func checkSharedSettings(cfg Config, b serverBootstrap) error {
	for _, s := range []struct{ flag, ours, theirs string }{
		{"--service-cidr", cfg.ServiceCIDR, b.ServiceCIDR},
		{"--cluster-dns", cfg.ClusterDNS, b.ClusterDNS},
		{"--cluster-domain", cfg.ClusterDomain, b.ClusterDomain},
	} {
		if s.ours != s.theirs {
			return fmt.Errorf("%s %s: the cluster's servers run with %s %s; every server needs the same", s.flag, s.ours, s.flag, s.theirs)
		}
	}
	if b.SecretsEncryption != cfg.SecretsEncryption {
		return fmt.Errorf("--secrets-encryption=%t: the cluster's servers run with --secrets-encryption=%t; every server needs the same", cfg.SecretsEncryption, b.SecretsEncryption)
	}
	return nil
}

// writeBootstrap writes the files, the completion marker last, so that
// a join cut short is done again.
func writeBootstrap(dataDir string, b serverBootstrap) error {
	if _, ok := b.Files[bootstrapCompleteFile]; !ok {
		return fmt.Errorf("bootstrap data: no %s", bootstrapCompleteFile)
	}
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		// Only the names this protocol sends: an answer cannot write
		// anywhere else.
		if !slices.Contains(bootstrapFiles, name) && !slices.ContainsFunc(bootstrapDirs, func(d string) bool {
			rest, ok := strings.CutPrefix(name, d+"/")
			return ok && rest != "" && !strings.ContainsAny(rest, `/\`) && rest != ".." && rest != "."
		}) {
			return fmt.Errorf("bootstrap data: unexpected file %q", name)
		}
		if name != bootstrapCompleteFile {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range append(names, bootstrapCompleteFile) {
		path := filepath.Join(dataDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if strings.HasSuffix(name, ".crt") || strings.HasSuffix(name, ".pub") {
			mode = 0o644
		}
		if err := pki.WriteFileAtomic(path, b.Files[name], mode); err != nil {
			return err
		}
	}
	return nil
}
