package encryption

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"skiff/internal/apiserver/encryption/kmstest"
	"skiff/internal/etcd/etcdtest"
	"skiff/internal/storage/etcd"
)

func kmsConfig(t *testing.T, plugin *kmstest.Plugin) *Config {
	t.Helper()
	cfg := mustParse(t, config("  - kms: {apiVersion: v2, name: vault, endpoint: '"+plugin.Endpoint+"', timeout: 2s}\n  - identity: {}\n"))
	t.Cleanup(func() { _ = cfg.Close() })
	return cfg
}

// fakeClock is a settable clock for the KMS provider's TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestKMS runs a Secret's value through a store with a KMS v2 provider and
// the test plugin: upstream's stored format, one seed for many writes, a
// key ID rotation that makes older values stale, and a plugin outage that
// stops writes once the seed's TTL is over while cached seeds still read.
func TestKMS(t *testing.T) {
	ctx := context.Background()
	plugin := kmstest.Start(t)
	cfg := kmsConfig(t, plugin)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	kp := cfg.kms[0]
	kp.now = clock.Now
	srv := etcdtest.StartServer(t, nil)
	inner := etcd.New(srv.Client(), etcd.Config{})
	s := NewStore(inner, cfg)

	const keyA, keyB = "/registry/secrets/ns/a", "/registry/secrets/ns/b"
	plain := []byte("kms-plain-value-6c1d")
	if _, err := s.Create(ctx, keyA, plain); err != nil {
		t.Fatal(err)
	}
	raw, err := inner.Get(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "k8s:enc:kms:v2:vault:"
	if !bytes.HasPrefix(raw.Value, []byte(prefix)) || bytes.Contains(raw.Value, plain) {
		t.Fatalf("stored value %q: want the kms prefix and no plain text", raw.Value)
	}
	obj, err := unmarshalEncryptedObject(raw.Value[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	if obj.keyID != plugin.KeyID() || obj.dekSourceType != dekHKDFSeed || string(obj.annotations["kmstest.skiff.io/plugin"]) != "v1" {
		t.Errorf("encrypted object: key ID %q, type %d, annotations %v", obj.keyID, obj.dekSourceType, obj.annotations)
	}
	if _, err := s.Create(ctx, keyB, []byte("second")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, keyA)
	if err != nil || !bytes.Equal(got.Value, plain) || got.Stale {
		t.Fatalf("Get = %q, stale %v, %v", got.Value, got.Stale, err)
	}
	if enc, dec := plugin.Calls(); enc != 1 || dec != 0 {
		t.Errorf("plugin calls: %d encrypts, %d decrypts; want one seed encrypted and none decrypted (cached)", enc, dec)
	}

	// Another store on the same plugin has no cached seed: one Decrypt
	// for both values, which share a seed.
	other := NewStore(inner, kmsConfig(t, plugin))
	for _, k := range []string{keyA, keyB} {
		if _, err := other.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, dec := plugin.Calls(); dec != 1 {
		t.Errorf("a new store decrypted %d seeds, want 1", dec)
	}

	// Key ID rotation: values under the old key ID are stale; new writes
	// use a new seed under the new key ID.
	oldID, newID := plugin.KeyID(), plugin.Rotate()
	if err := cfg.ProbeKMS(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, keyA); err != nil || !got.Stale {
		t.Errorf("Get after rotation: stale %v, %v; want stale", got.Stale, err)
	}
	st, err := s.Status(ctx, "/registry/secrets/")
	if err != nil || st.Total != 2 || st.Current != 0 || st.WriteProvider != "kms:vault" {
		t.Errorf("Status after rotation = %+v, %v; want 2 values, none current", st, err)
	}
	if _, _, err := s.Update(ctx, keyA, plain, got.ModRevision); err != nil {
		t.Fatal(err)
	}
	raw, _ = inner.Get(ctx, keyA)
	if obj, err := unmarshalEncryptedObject(raw.Value[len(prefix):]); err != nil || obj.keyID != newID {
		t.Errorf("rewritten value under key ID %v (%v), want %s (was %s)", obj, err, newID, oldID)
	}
	if got, err := s.Get(ctx, keyA); err != nil || got.Stale || !bytes.Equal(got.Value, plain) {
		t.Errorf("Get after rewrite = %q, stale %v, %v", got.Value, got.Stale, err)
	}

	// Plugin down: cached seeds read, writes go on until the seed's TTL
	// is over, then fail with ErrKMS.
	plugin.Stop()
	clock.Step(2 * time.Minute)
	if got, err := s.Get(ctx, keyB); err != nil || string(got.Value) != "second" {
		t.Errorf("Get of a cached seed's value with the plugin down = %q, %v", got.Value, err)
	}
	if _, err := s.Create(ctx, "/registry/secrets/ns/c", []byte("c")); err != nil {
		t.Errorf("Create within the seed's TTL with the plugin down: %v", err)
	}
	clock.Step(2 * time.Minute)
	if _, err := s.Create(ctx, "/registry/secrets/ns/d", []byte("d")); !errors.Is(err, ErrKMS) {
		t.Errorf("Create after the seed's TTL with the plugin down: %v, want ErrKMS", err)
	}
	if got, err := s.Get(ctx, keyA); err != nil || !bytes.Equal(got.Value, plain) {
		t.Errorf("Get with the plugin down = %q, %v", got.Value, err)
	}
	// Values not cached cannot be read.
	if _, err := NewStore(inner, kmsConfig(t, plugin)).Get(ctx, keyA); !errors.Is(err, ErrKMS) {
		t.Errorf("Get of an uncached seed with the plugin down: %v, want ErrKMS", err)
	}
	// Back up and unhealthy: still refused; healthy: writes again.
	plugin.Restart(t)
	plugin.SetHealthz("disk on fire")
	clock.Step(time.Minute)
	if _, err := s.Create(ctx, "/registry/secrets/ns/d", []byte("d")); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Create with an unhealthy plugin: %v", err)
	}
	plugin.SetHealthz("ok")
	clock.Step(time.Minute)
	if _, err := s.Create(ctx, "/registry/secrets/ns/d", []byte("d")); err != nil {
		t.Errorf("Create with the plugin healthy again: %v", err)
	}
}

func TestEncryptedObjectRoundTrip(t *testing.T) {
	o := &encryptedObject{encryptedData: []byte("data"), keyID: "k1", encryptedDEKSource: []byte("dek"),
		annotations: map[string][]byte{"a.example.com": []byte("1"), "b.example.com": nil}, dekSourceType: dekHKDFSeed}
	got, err := unmarshalEncryptedObject(o.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o, got, cmp.AllowUnexported(encryptedObject{}), cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, {0x0a}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, (&encryptedObject{encryptedData: []byte("x")}).marshal(),
		(&encryptedObject{encryptedData: []byte("x"), keyID: "k", encryptedDEKSource: []byte("d"), dekSourceType: 7}).marshal()} {
		if _, err := unmarshalEncryptedObject(bad); err == nil {
			t.Errorf("unmarshal %x succeeded, want an error", bad)
		}
	}
}

// FuzzEncryptedObject: any stored bytes decode to an error or an object
// that encodes back to an equal object, without a panic.
func FuzzEncryptedObject(f *testing.F) {
	f.Add((&encryptedObject{encryptedData: []byte("data"), keyID: "k1", encryptedDEKSource: []byte("dek"),
		annotations: map[string][]byte{"a": []byte("1")}, dekSourceType: dekHKDFSeed}).marshal())
	f.Add([]byte{0x22, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := unmarshalEncryptedObject(b)
		if err != nil {
			return
		}
		again, err := unmarshalEncryptedObject(o.marshal())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.marshal(), o.marshal()) {
			t.Fatal("re-encode differs")
		}
	})
}
