package encryption

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"skiff/internal/apiserver/encryption/kmstest"
	"skiff/internal/etcd/etcdtest"
	"skiff/internal/storage"
	"skiff/internal/storage/etcd"
	"skiff/internal/storage/storagetest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

var (
	key16 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	key32 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	keyB  = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
)

func config(providers string) string {
	return `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps]
  providers:
` + providers
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string // a part of the error; "" means valid
		write   string // WriteProvider of a Secret's key
	}{
		{"aescbc then identity", config("  - aescbc: {keys: [{name: k1, secret: " + key32 + "}]}\n  - identity: {}\n"), "", "aescbc:k1"},
		{"aesgcm 16-byte key", config("  - aesgcm: {keys: [{name: g, secret: " + key16 + "}]}\n"), "", "aesgcm:g"},
		{"secretbox", config("  - secretbox: {keys: [{name: s, secret: " + key32 + "}]}\n"), "", "secretbox:s"},
		{"identity first writes plain", config("  - identity: {}\n  - aescbc: {keys: [{name: k1, secret: " + key32 + "}]}\n"), "", "identity"},
		{"wrong kind", strings.Replace(config("  - identity: {}\n"), "EncryptionConfiguration", "Foo", 1), "apiVersion/kind", ""},
		{"no providers", config("    []\n"), "at least one provider", ""},
		{"two providers in one entry", config("  - identity: {}\n    aescbc: {keys: [{name: k1, secret: " + key32 + "}]}\n"), "exactly one provider", ""},
		{"bad base64", config("  - aescbc: {keys: [{name: k1, secret: '!!'}]}\n"), "not valid base64", ""},
		{"short AES key", config("  - aescbc: {keys: [{name: k1, secret: " + base64.StdEncoding.EncodeToString([]byte("short")) + "}]}\n"), "16, 24 or 32 bytes", ""},
		{"short secretbox key", config("  - secretbox: {keys: [{name: k1, secret: " + key16 + "}]}\n"), "secretbox key is 32 bytes", ""},
		{"no keys", config("  - aescbc: {keys: []}\n"), "at least one key", ""},
		{"unnamed key", config("  - aescbc: {keys: [{secret: " + key32 + "}]}\n"), "non-empty name", ""},
		{"duplicate key name", config("  - aescbc: {keys: [{name: k, secret: " + key32 + "}, {name: k, secret: " + keyB + "}]}\n"), "used twice", ""},
		{"kms v1 refused", config("  - kms: {name: plugin, endpoint: 'unix:///tmp/k.sock'}\n"), "KMS v2 only", ""},
		{"kms without endpoint", config("  - kms: {apiVersion: v2, name: plugin}\n"), "unix:///path", ""},
		{"kms tcp endpoint", config("  - kms: {apiVersion: v2, name: plugin, endpoint: 'tcp://1.2.3.4:5'}\n"), "unix:///path", ""},
		{"kms cachesize", config("  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///tmp/k.sock', cachesize: 10}\n"), "cachesize is not supported", ""},
		{"kms bad timeout", config("  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///tmp/k.sock', timeout: soon}\n"), "positive duration", ""},
		{"kms name twice", config("  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///tmp/k.sock'}\n  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///tmp/l.sock'}\n"), "used twice", ""},
		{"kms v2", config("  - kms: {apiVersion: v2, name: p, endpoint: 'unix:///tmp/k.sock', timeout: 5s}\n  - identity: {}\n"), "", "kms:p"},
		{"unknown field", config("  - aescbc: {keys: [{name: k1, secret: " + key32 + "}]}\n    foo: 1\n"), "unknown field", ""},
		{"core wildcard refused", strings.Replace(config("  - identity: {}\n"), "[secrets, configmaps]", `["*."]`, 1), "not supported", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse: got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			defer cfg.Close()
			if got := cfg.WriteProvider("/registry/secrets/ns/a"); got != tt.write {
				t.Errorf("WriteProvider(secret) = %q, want %q", got, tt.write)
			}
			if got := cfg.WriteProvider("/registry/pods/ns/a"); got != "identity" {
				t.Errorf("WriteProvider(pod) = %q, want identity", got)
			}
		})
	}
}

func TestKeyPrefix(t *testing.T) {
	tests := []struct{ resource, want string }{
		{"secrets", "/registry/secrets/"},
		{"deployments.apps", "/registry/apps/deployments/"},
		{"*.apps", "/registry/apps/"},
		{"*.*", "/registry/"},
		{"widgets.example.com", "/registry/example.com/widgets/"},
	}
	for _, tt := range tests {
		got, err := keyPrefix(tt.resource)
		if err != nil || got != tt.want {
			t.Errorf("keyPrefix(%q) = %q, %v; want %q", tt.resource, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "Secrets", "se*crets", "*."} {
		if _, err := keyPrefix(bad); err == nil {
			t.Errorf("keyPrefix(%q) succeeded, want an error", bad)
		}
	}
}

// TestRoundTrip writes with each provider, reads back, and reads the value
// after the key moved to second place (rotation), and refuses it once
// the key is gone.
func TestRoundTrip(t *testing.T) {
	const key = "/registry/secrets/ns/a"
	plain := []byte("distinctive-value-0123456789")
	for _, kind := range []string{"aescbc", "aesgcm", "secretbox"} {
		t.Run(kind, func(t *testing.T) {
			old := mustParse(t, config("  - "+kind+": {keys: [{name: old, secret: "+key32+"}]}\n"))
			rotated := mustParse(t, config("  - "+kind+": {keys: [{name: new, secret: "+keyB+"}, {name: old, secret: "+key32+"}]}\n"))
			gone := mustParse(t, config("  - "+kind+": {keys: [{name: new, secret: "+keyB+"}]}\n"))

			sealed, err := old.forKey(key).encrypt(context.Background(), key, plain)
			if err != nil {
				t.Fatal(err)
			}
			if want := "k8s:enc:" + kind + ":v1:old:"; !bytes.HasPrefix(sealed, []byte(want)) {
				t.Fatalf("sealed value %q lacks prefix %q", sealed, want)
			}
			if bytes.Contains(sealed, plain) {
				t.Fatal("sealed value contains the plain text")
			}
			if got := ReadProvider(sealed); got != kind+":old" {
				t.Errorf("ReadProvider = %q", got)
			}
			for name, c := range map[string]*Config{"same config": old, "rotated": rotated} {
				got, stale, err := c.forKey(key).decrypt(context.Background(), key, sealed)
				if err != nil {
					t.Fatalf("%s: decrypt: %v", name, err)
				}
				if want := c == rotated; stale != want {
					t.Errorf("%s: stale = %v, want %v", name, stale, want)
				}
				if diff := cmp.Diff(plain, got); diff != "" {
					t.Errorf("%s: decrypt (-want +got):\n%s", name, diff)
				}
			}
			if _, _, err := gone.forKey(key).decrypt(context.Background(), key, sealed); !errors.Is(err, ErrDecrypt) {
				t.Errorf("decrypt without the key: %v, want ErrDecrypt", err)
			}
			tampered := bytes.Clone(sealed)
			tampered[len(tampered)-1] ^= 0xff
			if got, _, err := old.forKey(key).decrypt(context.Background(), key, tampered); err == nil && bytes.Equal(got, plain) {
				t.Error("a tampered value decrypted to the plain text")
			}
			// Values written before encryption have no prefix: read as they are.
			got, stale, err := old.forKey(key).decrypt(context.Background(), key, []byte(`{"kind":"Secret"}`))
			if err != nil || string(got) != `{"kind":"Secret"}` || !stale {
				t.Errorf("decrypt of a plain value = %q, stale %v, %v; want it as it is, stale", got, stale, err)
			}
		})
	}
}

func mustParse(t *testing.T, doc string) *Config {
	t.Helper()
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStoreContract runs the store contract suite through an encrypting
// store that covers every key, and checks that the values in etcd are
// encrypted.
func TestStoreContract(t *testing.T) {
	srv := etcdtest.StartServer(t, nil)
	inner := etcd.New(srv.Client(), etcd.Config{})
	parsed := mustParse(t, config("  - aesgcm: {keys: [{name: k, secret: "+key32+"}]}\n"))
	cfg := &Config{rules: []rule{{resource: "everything", prefix: "/", t: parsed.rules[0].t}}}
	s := NewStore(inner, cfg)
	storagetest.Run(t, func(*testing.T) storage.Store { return s })

	ctx := context.Background()
	if _, err := s.Create(ctx, "/enc/a", []byte("plain-a")); err != nil {
		t.Fatal(err)
	}
	raw, err := inner.Get(ctx, "/enc/a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw.Value, []byte("k8s:enc:aesgcm:v1:k:")) || bytes.Contains(raw.Value, []byte("plain-a")) {
		t.Errorf("stored value %q is not encrypted", raw.Value)
	}
	// A value written before encryption reads as it is.
	if _, err := inner.Create(ctx, "/enc/old", []byte("plain-old")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "/enc/old")
	if err != nil || string(got.Value) != "plain-old" {
		t.Errorf("Get of a plain value = %q, %v", got.Value, err)
	}
}

// BenchmarkSealOpen measures one encrypt and decrypt of a 4 KiB value per
// provider (kms: with the seed cached, the plugin is not called).
func BenchmarkSealOpen(b *testing.B) {
	const key = "/registry/secrets/ns/a"
	value := bytes.Repeat([]byte("v"), 4096)
	for _, kind := range []string{"aescbc", "aesgcm", "secretbox", "kms"} {
		b.Run(kind, func(b *testing.B) {
			provider := kind + ": {keys: [{name: k, secret: " + key32 + "}]}"
			if kind == "kms" {
				// After the first write the seed is cached: no plugin call.
				provider = "kms: {apiVersion: v2, name: k, endpoint: '" + kmstest.Start(b).Endpoint + "'}"
			}
			c, err := Parse([]byte(config("  - " + provider + "\n")))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			t := c.forKey(key)
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				sealed, err := t.encrypt(context.Background(), key, value)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := t.decrypt(context.Background(), key, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
