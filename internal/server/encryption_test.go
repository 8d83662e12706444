package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"skiff/internal/apiserver/encryption/kmstest"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// encryptionConfig is an EncryptionConfiguration for Secrets with the
// given providers.
func encryptionConfig(t *testing.T, dir, providers string) string {
	t.Helper()
	path := filepath.Join(dir, "encryption.yaml")
	doc := `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
` + providers
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func aesKey(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// etcdFilesContain says whether any file of the embedded etcd (WAL,
// snapshots, database) holds data, raw or base64-encoded as a Secret's
// data is in JSON.
func etcdFilesContain(t *testing.T, dataDir string, data []byte) bool {
	t.Helper()
	forms := [][]byte{data, []byte(base64.StdEncoding.EncodeToString(data))}
	found := false
	err := filepath.WalkDir(filepath.Join(dataDir, "etcd"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range forms {
			if bytes.Contains(b, f) {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func createSecret(t *testing.T, s *servertest.Server, name, value string) {
	t.Helper()
	_, err := s.Client.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string][]byte{"password": []byte(value)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
}

// wantSecrets checks that a get and a list through client-go return each
// Secret's value.
func wantSecrets(t *testing.T, s *servertest.Server, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	for name, value := range want {
		sec, err := s.Client.CoreV1().Secrets("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get secret %s: %v", name, err)
		}
		if got := string(sec.Data["password"]); got != value {
			t.Errorf("secret %s = %q, want %q", name, got, value)
		}
	}
	list, err := s.Client.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sec := range list.Items {
		if _, ok := want[sec.Name]; ok {
			got[sec.Name] = string(sec.Data["password"])
		}
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("listed secret %s = %q, want %q", name, got[name], value)
		}
	}
}

// storedWith returns the provider and key a Secret is stored with in etcd.
func storedWith(t *testing.T, s *servertest.Server, name string) string {
	t.Helper()
	kv, err := s.EtcdStore().Get(context.Background(), "/registry/secrets/default/"+name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(kv.Value, []byte("k8s:enc:")) {
		return "identity"
	}
	parts := strings.SplitN(string(kv.Value), ":", 6)
	return parts[2] + ":" + parts[4]
}

// TestEncryptionAtRest starts without encryption, then with aescbc, then
// rotates to a new key and drops the old one: every Secret stays readable
// through get, list and watch, and the value of an encrypted Secret is
// nowhere in etcd's files.
func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	confDir := t.TempDir()
	ctx := context.Background()

	s := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = dir })
	if _, err := server.EncryptionStatus(ctx, s.Client); !errors.Is(err, server.ErrEncryptionOff) {
		t.Errorf("status without encryption: %v, want ErrEncryptionOff", err)
	}
	createSecret(t, s, "before", "plain-before-7f3a9c")
	servertest.Wait(t, "the plain Secret in etcd's files", func(context.Context) (bool, error) {
		return etcdFilesContain(t, dir, []byte("plain-before-7f3a9c")), nil
	})
	s.Close()

	// aescbc key1 encrypts; identity still reads what came before.
	path := encryptionConfig(t, confDir, "  - aescbc: {keys: [{name: key1, secret: "+aesKey(1)+"}]}\n  - identity: {}\n")
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.EncryptionProviderConfig = dir, path })
	const secretValue = "enc-after-b61e2d04"
	createSecret(t, s, "after", secretValue)
	if got := storedWith(t, s, "after"); got != "aescbc:key1" {
		t.Fatalf("secret stored with %s, want aescbc:key1", got)
	}
	if got := storedWith(t, s, "before"); got != "identity" {
		t.Fatalf("older secret stored with %s, want identity", got)
	}
	// The write is in the files once its prefix is; its value never is.
	servertest.Wait(t, "the encrypted Secret in etcd's files", func(context.Context) (bool, error) {
		return etcdFilesContain(t, dir, []byte("k8s:enc:aescbc:v1:key1:")), nil
	})
	if etcdFilesContain(t, dir, []byte(secretValue)) {
		t.Errorf("etcd's files hold the encrypted Secret's value %q", secretValue)
	}
	wantSecrets(t, s, map[string]string{"before": "plain-before-7f3a9c", "after": secretValue})

	// A watch sees the decrypted value.
	list, err := s.Client.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w, err := s.Client.CoreV1().Secrets("default").Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	createSecret(t, s, "watched", "watched-value-55c1")
	for ev := range w.ResultChan() {
		if sec, ok := ev.Object.(*corev1.Secret); ok && ev.Type == watch.Added && sec.Name == "watched" {
			if got := string(sec.Data["password"]); got != "watched-value-55c1" {
				t.Errorf("watched secret = %q", got)
			}
			break
		}
	}
	w.Stop()
	s.Close()

	// Rotation: key2 first, key1 kept for reading; rewriting a Secret
	// moves it to key2.
	path = encryptionConfig(t, confDir, "  - aescbc: {keys: [{name: key2, secret: "+aesKey(2)+"}, {name: key1, secret: "+aesKey(1)+"}]}\n  - identity: {}\n")
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.EncryptionProviderConfig = dir, path })
	all := map[string]string{"before": "plain-before-7f3a9c", "after": secretValue, "watched": "watched-value-55c1"}
	wantSecrets(t, s, all)
	st, err := server.EncryptionStatus(ctx, s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if st.WriteProvider != "aescbc:key2" || st.Current != 0 || st.Stored["aescbc:key1"] != 2 || st.Stored["identity"] != 1 {
		t.Errorf("status before reencrypt = %+v, want key2 active, 2 Secrets on key1 and 1 plain", st)
	}
	if _, err := server.ReencryptSecrets(ctx, s.Client); err != nil {
		t.Fatal(err)
	}
	for name := range all {
		if got := storedWith(t, s, name); got != "aescbc:key2" {
			t.Errorf("secret %s stored with %s after reencrypt, want aescbc:key2", name, got)
		}
	}
	if st, err = server.EncryptionStatus(ctx, s.Client); err != nil || st.Current != st.Total || st.Total < 3 {
		t.Errorf("status after reencrypt = %+v, %v; want every Secret current", st, err)
	}
	wantSecrets(t, s, all)
	s.Close()

	// key1 gone: everything is still readable.
	path = encryptionConfig(t, confDir, "  - aescbc: {keys: [{name: key2, secret: "+aesKey(2)+"}]}\n")
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.EncryptionProviderConfig = dir, path })
	wantSecrets(t, s, all)
}

// TestEncryptionIdentityFirst: with identity first a new Secret's value is
// in etcd's files as it is.
func TestEncryptionIdentityFirst(t *testing.T) {
	path := encryptionConfig(t, t.TempDir(), "  - identity: {}\n  - aesgcm: {keys: [{name: k, secret: "+aesKey(3)+"}]}\n")
	s := servertest.Start(t, func(cfg *server.Config) { cfg.EncryptionProviderConfig = path })
	createSecret(t, s, "plain", "identity-value-93be")
	servertest.Wait(t, "the Secret's value in etcd's files", func(context.Context) (bool, error) {
		return etcdFilesContain(t, s.DataDir, []byte("identity-value-93be")), nil
	})
	wantSecrets(t, s, map[string]string{"plain": "identity-value-93be"})
}

// TestSecretsEncryption: --secrets-encryption writes a 0600 configuration
// with an aescbc key on first start, keeps it across restarts, and
// encrypts Secrets with it.
func TestSecretsEncryption(t *testing.T) {
	dir := t.TempDir()
	s := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.SecretsEncryption = dir, true })
	path := server.EncryptionConfigPath(dir)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	createSecret(t, s, "generated", "generated-key-value-4e1")
	if got := storedWith(t, s, "generated"); got != "aescbc:aescbckey" {
		t.Errorf("secret stored with %s, want aescbc:aescbckey", got)
	}
	s.Close()
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.SecretsEncryption = dir, true })
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("the generated configuration changed across a restart")
	}
	wantSecrets(t, s, map[string]string{"generated": "generated-key-value-4e1"})

	// rotate-keys: a new first key without a restart, every Secret
	// rewritten with it, the old key kept for reading.
	p, n, err := server.RotateEncryptionKeys(context.Background(), s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 || !strings.HasPrefix(p, "aescbc:aescbckey-") {
		t.Errorf("rotate-keys: %s, %d Secrets rewritten", p, n)
	}
	if got := storedWith(t, s, "generated"); got != p {
		t.Errorf("secret stored with %s after rotate-keys, want %s", got, p)
	}
	createSecret(t, s, "rotated", "rotated-value-0a9")
	if got := storedWith(t, s, "rotated"); got != p {
		t.Errorf("new secret stored with %s, want %s", got, p)
	}
	st, err = os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("rotated configuration: %v, %v; want mode 0600", st, err)
	}
	s.Close()
	s = servertest.Start(t, func(cfg *server.Config) { cfg.DataDir, cfg.SecretsEncryption = dir, true })
	wantSecrets(t, s, map[string]string{"generated": "generated-key-value-4e1", "rotated": "rotated-value-0a9"})
	status, err := server.EncryptionStatus(context.Background(), s.Client)
	if err != nil || status.WriteProvider != p || status.Current != status.Total {
		t.Errorf("status after rotate-keys and a restart = %+v, %v", status, err)
	}
}

// TestEncryptionConfigInvalid: a bad file stops the start with an error
// that names the problem.
func TestEncryptionConfigInvalid(t *testing.T) {
	path := encryptionConfig(t, t.TempDir(), "  - aescbc: {keys: [{name: k, secret: c2hvcnQ=}]}\n")
	_, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), EncryptionProviderConfig: path, HTTPSPort: -1, BindAddress: "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "16, 24 or 32 bytes") {
		t.Fatalf("start with a 5-byte key: %v, want an error about its length", err)
	}
}

// BenchmarkSecretCreate creates Secrets through client-go with encryption
// at rest off, with aescbc and with aesgcm, and reports the p99 create
// latency besides the mean.
func BenchmarkSecretCreate(b *testing.B) {
	for _, tt := range []struct{ name, providers string }{
		{"off", ""},
		{"aescbc", "  - aescbc: {keys: [{name: k, secret: " + aesKey(1) + "}]}\n"},
		{"aesgcm", "  - aesgcm: {keys: [{name: k, secret: " + aesKey(1) + "}]}\n"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var path string
			if tt.providers != "" {
				path = filepath.Join(b.TempDir(), "encryption.yaml")
				doc := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n" + tt.providers
				if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			s := servertest.Start(b, func(cfg *server.Config) { cfg.EncryptionProviderConfig = path })
			ctx := context.Background()
			value := bytes.Repeat([]byte("x"), 1024)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				_, err := s.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%d", i)},
					Data:       map[string][]byte{"v": value},
				}, metav1.CreateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// TestEncryptionKMS encrypts Secrets with a KMS v2 plugin (the in-process
// test plugin on a unix socket): upstream's prefix in etcd and not the
// value, a key ID rotation that reencrypt follows, reads that go on while
// the plugin is down, and a write that needs the plugin failing with a
// 500 InternalError Status.
func TestEncryptionKMS(t *testing.T) {
	ctx := context.Background()
	plugin := kmstest.Start(t)
	kms := "  - kms: {apiVersion: v2, name: vault, endpoint: '" + plugin.Endpoint + "', timeout: 2s}\n  - identity: {}\n"
	path := encryptionConfig(t, t.TempDir(), kms)
	s := servertest.Start(t, func(cfg *server.Config) { cfg.EncryptionProviderConfig = path })
	const value = "kms-secret-value-d41f7"
	createSecret(t, s, "one", value)
	createSecret(t, s, "two", "kms-second-9a0c")
	for _, name := range []string{"one", "two"} {
		if got := storedWith(t, s, name); got != "kms:vault" {
			t.Fatalf("secret %s stored with %s, want kms:vault", name, got)
		}
	}
	servertest.Wait(t, "the KMS-encrypted Secret in etcd's files", func(context.Context) (bool, error) {
		return etcdFilesContain(t, s.DataDir, []byte("k8s:enc:kms:v2:vault:")), nil
	})
	if etcdFilesContain(t, s.DataDir, []byte(value)) {
		t.Errorf("etcd's files hold the Secret's value %q", value)
	}
	all := map[string]string{"one": value, "two": "kms-second-9a0c"}
	wantSecrets(t, s, all)

	// The plugin's key ID changes: the Secrets are stale until reencrypt.
	oldID, newID := plugin.KeyID(), plugin.Rotate()
	st, err := server.EncryptionStatus(ctx, s.Client)
	if err != nil || st.WriteProvider != "kms:vault" || st.Current != 0 || st.Total < 2 {
		t.Errorf("status after the key ID rotation = %+v, %v; want no Secret current", st, err)
	}
	if _, err := server.ReencryptSecrets(ctx, s.Client); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		kv, err := s.EtcdStore().Get(ctx, "/registry/secrets/default/"+name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(kv.Value, []byte(newID)) || bytes.Contains(kv.Value, []byte(oldID)) {
			t.Errorf("secret %s after reencrypt is not under key ID %s only", name, newID)
		}
	}
	if st, err := server.EncryptionStatus(ctx, s.Client); err != nil || st.Current != st.Total {
		t.Errorf("status after reencrypt = %+v, %v; want every Secret current", st, err)
	}

	if body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").Param("verbose", "").DoRaw(ctx); err != nil || !strings.Contains(string(body), "[+]kms-providers ok") {
		t.Errorf("readyz with the plugin up: %s %v", body, err)
	}

	// Plugin down: what was read or written under a cached seed reads.
	plugin.Stop()
	wantSecrets(t, s, all)
	s.Close()

	// A fresh server has no seed: with the plugin down, a Secret cannot
	// be written, and the client gets a 500 InternalError Status.
	s = servertest.Start(t, func(cfg *server.Config) { cfg.EncryptionProviderConfig = path })
	_, err = s.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "refused"}, Data: map[string][]byte{"password": []byte("x")},
	}, metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "kms plugin vault") {
		t.Errorf("create with the plugin down: %v, want a 500 InternalError naming the plugin", err)
	}
	if body, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/readyz/kms-providers").DoRaw(ctx); err == nil {
		t.Errorf("readyz/kms-providers with the plugin down: %s", body)
	}
	plugin.Restart(t)
	createSecret(t, s, "three", "kms-third-71b2")
	if _, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/readyz/kms-providers").DoRaw(ctx); err != nil {
		t.Errorf("readyz/kms-providers with the plugin back: %v", err)
	}
	wantSecrets(t, s, map[string]string{"three": "kms-third-71b2"})
}
