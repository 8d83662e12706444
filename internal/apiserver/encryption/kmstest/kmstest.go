// Package kmstest is a KMS v2 plugin for tests: a gRPC server on a unix
// socket that encrypts with AES-GCM keys of its own, one per key ID. Tests
// rotate its key ID, make it unhealthy, stop it, and count its calls.
package kmstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	kmsapi "k8s.io/kms/apis/v2"
)

// Plugin is a running test KMS plugin.
type Plugin struct {
	kmsapi.UnimplementedKeyManagementServiceServer

	// Endpoint is the plugin's address for an EncryptionConfiguration,
	// unix:///path.
	Endpoint string

	path string
	srv  *grpc.Server
	done chan struct{}

	mu       sync.Mutex
	keys     map[string]cipher.AEAD
	keyID    string
	next     int
	healthz  string
	encrypts int
	decrypts int
}

// Start runs a plugin on a socket in t's temporary directory; it stops
// when the test ends.
func Start(t testing.TB) *Plugin {
	t.Helper()
	p := &Plugin{path: t.TempDir() + "/kms.sock", keys: map[string]cipher.AEAD{}, healthz: "ok"}
	p.Endpoint = "unix://" + p.path
	p.Rotate()
	if err := p.serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

func (p *Plugin) serve() error {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		return fmt.Errorf("kmstest: %w", err)
	}
	p.srv = grpc.NewServer()
	kmsapi.RegisterKeyManagementServiceServer(p.srv, p)
	p.done = make(chan struct{})
	go func(srv *grpc.Server, done chan struct{}) {
		_ = srv.Serve(ln)
		close(done)
	}(p.srv, p.done)
	return nil
}

// Stop stops the plugin; its keys are kept for Restart.
func (p *Plugin) Stop() {
	if p.srv == nil {
		return
	}
	p.srv.Stop()
	<-p.done
	p.srv = nil
}

// Restart serves again on the same socket after Stop.
func (p *Plugin) Restart(t testing.TB) {
	t.Helper()
	if err := p.serve(); err != nil {
		t.Fatal(err)
	}
}

// Rotate makes a new key the current one; the old keys still decrypt. It
// returns the new key ID.
func (p *Plugin) Rotate() string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	p.keyID = fmt.Sprintf("test-key-%d", p.next)
	p.keys[p.keyID] = aead
	return p.keyID
}

// KeyID is the current key ID.
func (p *Plugin) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keyID
}

// SetHealthz sets what Status answers in healthz ("ok" is healthy).
func (p *Plugin) SetHealthz(h string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healthz = h
}

// Calls returns how many Encrypt and Decrypt calls the plugin answered.
func (p *Plugin) Calls() (encrypts, decrypts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.encrypts, p.decrypts
}

// Status implements the KMS v2 API.
func (p *Plugin) Status(context.Context, *kmsapi.StatusRequest) (*kmsapi.StatusResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &kmsapi.StatusResponse{Version: "v2", Healthz: p.healthz, KeyId: p.keyID}, nil
}

// Encrypt implements the KMS v2 API: nonce || AES-GCM with the current key.
func (p *Plugin) Encrypt(_ context.Context, req *kmsapi.EncryptRequest) (*kmsapi.EncryptResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.encrypts++
	aead := p.keys[p.keyID]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kmsapi.EncryptResponse{Ciphertext: aead.Seal(nonce, nonce, req.Plaintext, nil), KeyId: p.keyID,
		Annotations: map[string][]byte{"kmstest.skiff.io/plugin": []byte("v1")}}, nil
}

// Decrypt implements the KMS v2 API with the key the request names.
func (p *Plugin) Decrypt(_ context.Context, req *kmsapi.DecryptRequest) (*kmsapi.DecryptResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decrypts++
	aead, ok := p.keys[req.KeyId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown key ID %q", req.KeyId)
	}
	n := aead.NonceSize()
	if len(req.Ciphertext) < n {
		return nil, status.Error(codes.InvalidArgument, "ciphertext too short")
	}
	plain, err := aead.Open(nil, req.Ciphertext[:n], req.Ciphertext[n:], nil)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &kmsapi.DecryptResponse{Plaintext: plain}, nil
}
