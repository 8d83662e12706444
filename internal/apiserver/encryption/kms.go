package encryption

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
)

// Upstream's KMS v2 timings (apiserver/pkg/server/options/encryptionconfig):
// the plugin's Status is asked at most once a minute while it is healthy,
// and a seed may encrypt for three minutes after the last Status that
// confirmed it, so writes fail soon after the plugin goes away while reads
// of values whose seed is cached go on.
const (
	kmsDefaultTimeout  = 3 * time.Second
	kmsStatusInterval  = time.Minute
	kmsNegativeRetry   = 10 * time.Second
	kmsWriteSeedMaxTTL = 3 * time.Minute
	kmsSeedSize        = 32
	kmsInfoSize        = 32
	kmsDEKCacheSize    = 1000
)

// ErrKMS wraps the failures of a KMS plugin: unreachable, unhealthy, or an
// answer that breaks the API's rules.
var ErrKMS = errors.New("kms plugin")

// kmsProvider is one "kms" provider with apiVersion v2: a gRPC client of
// the plugin at endpoint, the seed new values are encrypted with, and a
// cache of the seeds it decrypted, by encrypted seed.
type kmsProvider struct {
	name    string
	timeout time.Duration
	conn    *grpc.ClientConn
	client  kmsapi.KeyManagementServiceClient
	now     func() time.Time

	// checkMu serializes status checks; the plugin is called without mu,
	// so that reads of cached seeds never wait on it.
	checkMu sync.Mutex

	mu sync.Mutex
	// write is the seed new values are written with; nil until the first
	// write or status check.
	write *kmsWriteState
	// keyID is the plugin's key ID at the last successful Status.
	keyID string
	// nextCheck is when Status is asked again.
	nextCheck time.Time
	// lastErr is the error of the last status check, for writes.
	lastErr error
	// seeds caches opened seeds (and plain DEKs) by cacheKey.
	seeds map[string]seedKey
}

type kmsWriteState struct {
	seed    seedKey
	obj     encryptedObject // without encryptedData
	expires time.Time
}

// newKMSProvider validates a kms provider's configuration and builds its
// client; nothing is dialled until the first call.
func newKMSProvider(c *KMSConfiguration) (*kmsProvider, error) {
	if c.APIVersion != "v2" {
		return nil, fmt.Errorf("apiVersion %q is not supported: skiff supports KMS v2 only (apiVersion: v2)", c.APIVersion)
	}
	if c.Name == "" || strings.Contains(c.Name, ":") {
		return nil, errors.New("name: a non-empty name without ':' is required")
	}
	if c.CacheSize != nil {
		return nil, errors.New("cachesize is not supported in version v2")
	}
	path, ok := strings.CutPrefix(c.Endpoint, "unix://")
	if !ok || path == "" {
		return nil, fmt.Errorf("endpoint %q: a unix:///path/to/socket endpoint is required", c.Endpoint)
	}
	timeout := kmsDefaultTimeout
	if c.Timeout != nil {
		d, err := time.ParseDuration(*c.Timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("timeout %q: a positive duration is required", *c.Timeout)
		}
		timeout = d
	}
	// As upstream: calls wait for the connection up to their timeout. The
	// plugin is local, so reconnecting is retried at least every second.
	bo := backoff.DefaultConfig
	bo.MaxDelay = time.Second
	conn, err := grpc.NewClient(c.Endpoint,
		grpc.WithAuthority("localhost"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: time.Second}))
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %v", c.Endpoint, err)
	}
	return &kmsProvider{
		name: c.Name, timeout: timeout, conn: conn,
		client: kmsapi.NewKeyManagementServiceClient(conn),
		now:    time.Now,
		seeds:  map[string]seedKey{},
	}, nil
}

func (p *kmsProvider) close() error { return p.conn.Close() }

// check asks the plugin's Status and, when its key ID is not the one the
// write seed was encrypted with, makes a new seed. Without force it asks
// at most once a minute (every 10 s after a failure) and otherwise returns
// the last check's error.
func (p *kmsProvider) check(ctx context.Context, force bool) error {
	p.checkMu.Lock()
	defer p.checkMu.Unlock()
	p.mu.Lock()
	now := p.now()
	if !force && now.Before(p.nextCheck) {
		defer p.mu.Unlock()
		return p.lastErr
	}
	var writeKeyID string
	if p.write != nil {
		writeKeyID = p.write.obj.keyID
	}
	p.mu.Unlock()

	keyID, next, err := p.status(ctx, now, writeKeyID)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if err != nil {
		p.nextCheck = now.Add(kmsNegativeRetry)
		return err
	}
	p.nextCheck = now.Add(kmsStatusInterval)
	p.keyID = keyID
	if next != nil {
		p.cacheLocked(cacheKey(&next.obj), next.seed)
		p.write = next
	} else if p.write != nil {
		// Confirmed: the seed may encrypt for a while longer.
		p.write.expires = now.Add(kmsWriteSeedMaxTTL)
	}
	return nil
}

// status calls Status and, if the key ID is not writeKeyID, makes a new
// seed and has the plugin encrypt it.
func (p *kmsProvider) status(ctx context.Context, now time.Time, writeKeyID string) (string, *kmsWriteState, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := p.client.Status(ctx, &kmsapi.StatusRequest{})
	if err != nil {
		return "", nil, fmt.Errorf("%w %s: status: %v", ErrKMS, p.name, err)
	}
	switch {
	case resp.Healthz != "ok":
		return "", nil, fmt.Errorf("%w %s: status: unhealthy: %q", ErrKMS, p.name, resp.Healthz)
	case resp.Version != "v2":
		return "", nil, fmt.Errorf("%w %s: status: API version %q, want v2", ErrKMS, p.name, resp.Version)
	}
	if err := validateKeyID(resp.KeyId); err != nil {
		return "", nil, fmt.Errorf("%w %s: status: %v", ErrKMS, p.name, err)
	}
	if writeKeyID == resp.KeyId {
		return resp.KeyId, nil, nil
	}
	// The TTL starts before the Encrypt call, as upstream's does.
	expires := now.Add(kmsWriteSeedMaxTTL)
	seed := make([]byte, kmsSeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", nil, fmt.Errorf("%w %s: new seed: %v", ErrKMS, p.name, err)
	}
	er, err := p.client.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: seed, Uid: newUID()})
	if err != nil {
		return "", nil, fmt.Errorf("%w %s: encrypt seed: %v", ErrKMS, p.name, err)
	}
	obj := encryptedObject{keyID: er.KeyId, encryptedDEKSource: er.Ciphertext, annotations: er.Annotations,
		dekSourceType: dekHKDFSeed, encryptedData: []byte{0}}
	if err := obj.validate(); err != nil {
		return "", nil, fmt.Errorf("%w %s: encrypt seed: %v", ErrKMS, p.name, err)
	}
	obj.encryptedData = nil
	return resp.KeyId, &kmsWriteState{seed: seedKey{seed: seed, kind: dekHKDFSeed}, obj: obj, expires: expires}, nil
}

// probe asks the plugin's Status now, rotating the write seed if the key
// ID changed.
func (p *kmsProvider) probe(ctx context.Context) error {
	return p.check(ctx, true)
}

// seal encrypts plain for the store key ad: a fresh 32-byte info, the key
// HKDF derives from the seed and it, then AES-GCM; the result is the
// EncryptedObject's protobuf.
func (p *kmsProvider) seal(ctx context.Context, plain, ad []byte) ([]byte, error) {
	p.mu.Lock()
	force := p.write == nil
	p.mu.Unlock()
	err := p.check(ctx, force)
	p.mu.Lock()
	w := p.write
	usable := w != nil && !p.now().After(w.expires)
	p.mu.Unlock()
	if !usable {
		if err == nil {
			err = errors.New("no usable seed")
		}
		return nil, fmt.Errorf("cannot encrypt with %s: %w", p.name, err)
	}
	data, err := w.seed.seal(plain, ad)
	if err != nil {
		return nil, err
	}
	obj := w.obj
	obj.encryptedData = data
	return obj.marshal(), nil
}

// open decrypts an EncryptedObject. stale reports that it was written under
// another key ID than the plugin's current one.
func (p *kmsProvider) open(ctx context.Context, sealed, ad []byte) (plain []byte, stale bool, err error) {
	obj, err := unmarshalEncryptedObject(sealed)
	if err != nil {
		return nil, false, err
	}
	ck := cacheKey(obj)
	// Reads do not ask Status: they take the key ID the last check saw,
	// and never wait on a plugin that is down when the seed is cached.
	p.mu.Lock()
	sk, ok := p.seeds[ck]
	current := p.keyID
	p.mu.Unlock()
	if !ok {
		sk, err = p.decryptSeed(ctx, obj)
		if err != nil {
			return nil, false, err
		}
		p.mu.Lock()
		p.cacheLocked(ck, sk)
		p.mu.Unlock()
	}
	plain, err = sk.open(obj.encryptedData, ad)
	if err != nil {
		return nil, false, err
	}
	return plain, current != "" && obj.keyID != current || obj.dekSourceType != dekHKDFSeed, nil
}

func (p *kmsProvider) decryptSeed(ctx context.Context, obj *encryptedObject) (seedKey, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := p.client.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: obj.encryptedDEKSource, Uid: newUID(),
		KeyId: obj.keyID, Annotations: obj.annotations})
	if err != nil {
		return seedKey{}, fmt.Errorf("%w %s: decrypt DEK: %v", ErrKMS, p.name, err)
	}
	sk := seedKey{seed: resp.Plaintext, kind: obj.dekSourceType}
	if err := sk.check(); err != nil {
		return seedKey{}, fmt.Errorf("%w %s: decrypt DEK: %v", ErrKMS, p.name, err)
	}
	return sk, nil
}

// cacheLocked remembers an opened seed; when the cache is full an
// arbitrary entry makes room (the plugin is asked again for it).
func (p *kmsProvider) cacheLocked(key string, sk seedKey) {
	if _, ok := p.seeds[key]; !ok && len(p.seeds) >= kmsDEKCacheSize {
		for k := range p.seeds {
			delete(p.seeds, k)
			break
		}
	}
	p.seeds[key] = sk
}

// stale reports whether an EncryptedObject was written under another key
// ID than the plugin's current one (as last seen; no call is made).
func (p *kmsProvider) stale(sealed []byte) bool {
	obj, err := unmarshalEncryptedObject(sealed)
	if err != nil {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keyID != "" && obj.keyID != p.keyID || obj.dekSourceType != dekHKDFSeed
}

// cacheKey identifies an encrypted seed: its type, ciphertext, key ID and
// annotations, each length-prefixed, hashed.
func cacheKey(o *encryptedObject) string {
	h := sha256.New()
	put := func(b []byte) {
		_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
		h.Write(b)
	}
	put([]byte{byte(o.dekSourceType)})
	put(o.encryptedDEKSource)
	put([]byte(o.keyID))
	keys := make([]string, 0, len(o.annotations))
	for k := range o.annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		put([]byte(k))
		put(o.annotations[k])
	}
	return string(h.Sum(nil))
}

func newUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seedKey is a decrypted DEK source: an HKDF seed (what skiff writes) or,
// for values written by upstream with KMSv2KDF off, an AES-GCM key.
type seedKey struct {
	seed []byte
	kind dekSourceType
}

func (s seedKey) check() error {
	switch s.kind {
	case dekHKDFSeed:
		if len(s.seed) < kmsSeedSize {
			return fmt.Errorf("seed is %d bytes, want at least %d", len(s.seed), kmsSeedSize)
		}
	case dekAESGCMKey:
		if n := len(s.seed); n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("AES key is %d bytes", n)
		}
	}
	return nil
}

// seal writes info || nonce || AES-GCM(plain, ad) with the key derived
// from the seed and info.
func (s seedKey) seal(plain, ad []byte) ([]byte, error) {
	info := make([]byte, kmsInfoSize)
	if _, err := rand.Read(info); err != nil {
		return nil, err
	}
	aead, err := s.derive(info)
	if err != nil {
		return nil, err
	}
	sealed, err := gcm{aead}.seal(plain, ad)
	if err != nil {
		return nil, err
	}
	return append(info, sealed...), nil
}

func (s seedKey) open(data, ad []byte) ([]byte, error) {
	if s.kind == dekAESGCMKey {
		block, err := aes.NewCipher(s.seed)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		return gcm{aead}.open(data, ad)
	}
	if len(data) < kmsInfoSize {
		return nil, errors.New("encrypted data is shorter than its info")
	}
	aead, err := s.derive(data[:kmsInfoSize])
	if err != nil {
		return nil, err
	}
	return gcm{aead}.open(data[kmsInfoSize:], ad)
}

func (s seedKey) derive(info []byte) (cipher.AEAD, error) {
	key, err := hkdf.Expand(sha256.New, s.seed, string(info), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
