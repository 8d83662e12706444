package encryption

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/nacl/secretbox"
)

// Config is a validated EncryptionConfiguration: the resources it covers,
// in order, and their transformers.
type Config struct {
	rules []rule
	kms   []*kmsProvider
}

// Close closes the connections to the configuration's KMS plugins.
func (c *Config) Close() error {
	var errs []error
	for _, p := range c.kms {
		errs = append(errs, p.close())
	}
	return errors.Join(errs...)
}

// ProbeKMS asks every KMS plugin of the configuration for its status now
// (instead of at most once a minute): a plugin whose key ID changed gets
// a new seed to encrypt with, and values under the old key ID read as
// stale from then on.
func (c *Config) ProbeKMS(ctx context.Context) error {
	var errs []error
	for _, p := range c.kms {
		errs = append(errs, p.probe(ctx))
	}
	return errors.Join(errs...)
}

// HasKMS reports whether the configuration uses a KMS plugin.
func (c *Config) HasKMS() bool { return len(c.kms) > 0 }

// CheckKMS is the kms-providers health check: every plugin's last status,
// asked again when it is over a minute old (10 s after a failure). A
// server calls it at least once a minute, so that a plugin's new key ID is
// taken up without waiting for a write.
func (c *Config) CheckKMS(ctx context.Context) error {
	var errs []error
	for _, p := range c.kms {
		errs = append(errs, p.check(ctx, false))
	}
	return errors.Join(errs...)
}

type rule struct {
	resource string
	prefix   string
	t        *transformer
}

// forKey returns the transformer of the first rule whose resource owns key,
// or nil.
func (c *Config) forKey(key string) *transformer {
	for _, r := range c.rules {
		if strings.HasPrefix(key, r.prefix) {
			return r.t
		}
	}
	return nil
}

// WriteProvider describes what a new value under key is written with:
// "identity", or "<provider>:<key name>" such as "aescbc:key1".
func (c *Config) WriteProvider(key string) string {
	t := c.forKey(key)
	if t == nil {
		return "identity"
	}
	return t.providers[0].String()
}

// staleKMS reports whether value, written by the kms provider that writes
// under key, was written under another key ID than the plugin's current
// one.
func (c *Config) staleKMS(key string, value []byte) bool {
	t := c.forKey(key)
	if t == nil || t.providers[0].kms == nil {
		return false
	}
	p := t.providers[0]
	return bytes.HasPrefix(value, p.prefix) && p.kms.stale(value[len(p.prefix):])
}

// ReadProvider says which provider and key a stored value was written
// with: "identity" for a value without an encryption prefix.
func ReadProvider(value []byte) string {
	if !bytes.HasPrefix(value, []byte("k8s:enc:")) {
		return "identity"
	}
	parts := strings.SplitN(string(value), ":", 6)
	if len(parts) < 6 {
		return "unknown"
	}
	return parts[2] + ":" + parts[4]
}

// ErrDecrypt is returned when a stored value carries an encryption prefix
// that no configured provider and key can read, or its data is corrupt.
var ErrDecrypt = errors.New("cannot decrypt stored value")

// transformer is the provider list of one resources entry: the first
// writes, all read.
type transformer struct {
	providers []provider
}

type provider struct {
	kind   string
	key    string
	prefix []byte
	cipher valueCipher  // aescbc, aesgcm, secretbox
	kms    *kmsProvider // kms
}

func (t *transformer) kmsProviders() []*kmsProvider {
	var out []*kmsProvider
	for _, p := range t.providers {
		if p.kms != nil {
			out = append(out, p.kms)
		}
	}
	return out
}

func (p provider) String() string {
	if p.kind == "identity" {
		return "identity"
	}
	return p.kind + ":" + p.key
}

// valueCipher seals and opens one value; ad is the store key, bound to
// the ciphertext where the algorithm allows it.
type valueCipher interface {
	seal(plain, ad []byte) ([]byte, error)
	open(sealed, ad []byte) ([]byte, error)
}

func (t *transformer) encrypt(ctx context.Context, key string, plain []byte) ([]byte, error) {
	p := t.providers[0]
	var (
		sealed []byte
		err    error
	)
	switch {
	case p.kms != nil:
		sealed, err = p.kms.seal(ctx, plain, []byte(key))
	case p.cipher != nil:
		sealed, err = p.cipher.seal(plain, []byte(key))
	default:
		return plain, nil
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt %s with %s: %w", key, p, err)
	}
	return append(append(make([]byte, 0, len(p.prefix)+len(sealed)), p.prefix...), sealed...), nil
}

// decrypt opens value with the provider its prefix names; a value without
// an encryption prefix is returned as it is. stale reports that the value
// was not written with the first provider, or (kms) under another key ID
// than the plugin's current one.
func (t *transformer) decrypt(ctx context.Context, key string, value []byte) (plain []byte, stale bool, err error) {
	if !bytes.HasPrefix(value, []byte("k8s:enc:")) {
		return value, t.providers[0].kind != "identity", nil
	}
	for i, p := range t.providers {
		if p.kind == "identity" || !bytes.HasPrefix(value, p.prefix) {
			continue
		}
		sealed := value[len(p.prefix):]
		if p.kms != nil {
			plain, stale, err := p.kms.open(ctx, sealed, []byte(key))
			if errors.Is(err, ErrKMS) {
				return nil, false, fmt.Errorf("decrypt %s with %s: %w", key, p, err)
			}
			if err != nil {
				return nil, false, fmt.Errorf("decrypt %s with %s: %w: %v", key, p, ErrDecrypt, err)
			}
			return plain, stale || i != 0, nil
		}
		plain, err := p.cipher.open(sealed, []byte(key))
		if err != nil {
			return nil, false, fmt.Errorf("decrypt %s with %s: %w: %v", key, p, ErrDecrypt, err)
		}
		return plain, i != 0, nil
	}
	return nil, false, fmt.Errorf("decrypt %s: %w: no provider for %s", key, ErrDecrypt, ReadProvider(value))
}

func newCipher(kind string, secret []byte) (valueCipher, error) {
	switch kind {
	case "aescbc", "aesgcm":
		if n := len(secret); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("an AES key is 16, 24 or 32 bytes, got %d", n)
		}
		block, err := aes.NewCipher(secret)
		if err != nil {
			return nil, err
		}
		if kind == "aescbc" {
			return cbc{block}, nil
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		return gcm{aead}, nil
	case "secretbox":
		if len(secret) != 32 {
			return nil, fmt.Errorf("a secretbox key is 32 bytes, got %d", len(secret))
		}
		var k [32]byte
		copy(k[:], secret)
		return box{k}, nil
	}
	return nil, fmt.Errorf("unknown provider %q", kind)
}

// cbc is AES-CBC with a random IV in front and PKCS#7 padding.
type cbc struct{ block cipher.Block }

func (c cbc) seal(plain, _ []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	pad := bs - len(plain)%bs
	out := make([]byte, bs+len(plain)+pad)
	if _, err := rand.Read(out[:bs]); err != nil {
		return nil, err
	}
	copy(out[bs:], plain)
	for i := bs + len(plain); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, out[:bs]).CryptBlocks(out[bs:], out[bs:])
	return out, nil
}

func (c cbc) open(sealed, _ []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	if len(sealed) < 2*bs || len(sealed)%bs != 0 {
		return nil, errors.New("ciphertext is not a whole number of blocks")
	}
	out := make([]byte, len(sealed)-bs)
	cipher.NewCBCDecrypter(c.block, sealed[:bs]).CryptBlocks(out, sealed[bs:])
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs {
		return nil, errors.New("bad padding")
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, errors.New("bad padding")
		}
	}
	return out[:len(out)-pad], nil
}

// gcm is AES-GCM with a random nonce in front, the store key as
// additional data.
type gcm struct{ aead cipher.AEAD }

func (g gcm) seal(plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, g.aead.NonceSize(), g.aead.NonceSize()+len(plain)+g.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.aead.Seal(nonce, nonce, plain, ad), nil
}

func (g gcm) open(sealed, ad []byte) ([]byte, error) {
	n := g.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("ciphertext too short")
	}
	return g.aead.Open(nil, sealed[:n], sealed[n:], ad)
}

// box is NaCl secretbox with a random 24-byte nonce in front.
type box struct{ key [32]byte }

func (b box) seal(plain, _ []byte) ([]byte, error) {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return secretbox.Seal(nonce[:], plain, &nonce, &b.key), nil
}

func (b box) open(sealed, _ []byte) ([]byte, error) {
	if len(sealed) < 24 {
		return nil, errors.New("ciphertext too short")
	}
	var nonce [24]byte
	copy(nonce[:], sealed[:24])
	out, ok := secretbox.Open(nil, sealed[24:], &nonce, &b.key)
	if !ok {
		return nil, errors.New("authentication failed")
	}
	return out, nil
}
