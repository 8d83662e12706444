package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"skiff/internal/apiserver/encryption"
)

// EncryptionConfigPath is where --secrets-encryption keeps its generated
// EncryptionConfiguration.
func EncryptionConfigPath(dataDir string) string {
	return filepath.Join(dataDir, "tls", "encryption-config.json")
}

// loadEncryption reads the configuration that --encryption-provider-config
// names, or the one --secrets-encryption generates on first start; nil
// when neither is set.
func loadEncryption(cfg Config) (*encryption.Config, error) {
	path := cfg.EncryptionProviderConfig
	if cfg.SecretsEncryption {
		path = EncryptionConfigPath(cfg.DataDir)
		if err := generateEncryptionConfig(path); err != nil {
			return nil, err
		}
	}
	if path == "" {
		return nil, nil
	}
	c, err := encryption.Load(path)
	if err != nil {
		return nil, fmt.Errorf("encryption provider config: %w", err)
	}
	return c, nil
}

// generateEncryptionConfig writes, if path does not exist, a configuration
// that encrypts Secrets with a new 32-byte aescbc key and still reads
// Secrets written in plain text (identity second), as k3s does.
func generateEncryptionConfig(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("encryption config: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("encryption key: %w", err)
	}
	file := encryption.File{
		APIVersion: "apiserver.config.k8s.io/v1",
		Kind:       "EncryptionConfiguration",
		Resources: []encryption.ResourceConfiguration{{
			Resources: []string{"secrets"},
			Providers: []encryption.ProviderConfiguration{
				{AESCBC: &encryption.AESConfiguration{Keys: []encryption.Key{{Name: "aescbckey", Secret: base64.StdEncoding.EncodeToString(key)}}}},
				{Identity: &encryption.IdentityConfiguration{}},
			},
		}},
	}
	return writeEncryptionConfig(path, file)
}

// writeEncryptionConfig writes file to path, 0600, atomically.
func writeEncryptionConfig(path string, file encryption.File) error {
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("encryption config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("encryption config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("encryption config: %w", err)
	}
	return nil
}

// EncryptionStatusPath serves, when encryption at rest is on, how the
// Secrets are stored (an encryption.Status in JSON). It is a non-resource
// URL: system:masters may read it.
const EncryptionStatusPath = "/skiff/v1/encryption/status"

// ErrEncryptionOff is returned by EncryptionStatus when the server does
// not encrypt at rest.
var ErrEncryptionOff = errors.New("encryption at rest is off on this server")

const secretsPrefix = "/registry/secrets/"

func encryptionStatusHandler(st *encryption.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		status, err := st.Status(r.Context(), secretsPrefix)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status)
	})
}

// EncryptionStatus asks the API server how its Secrets are stored.
func EncryptionStatus(ctx context.Context, client kubernetes.Interface) (encryption.Status, error) {
	var st encryption.Status
	body, err := client.CoreV1().RESTClient().Get().AbsPath(EncryptionStatusPath).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return st, ErrEncryptionOff
	}
	if err != nil {
		return st, fmt.Errorf("encryption status: %w", err)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("encryption status: %w", err)
	}
	return st, nil
}

// ReencryptSecrets writes every Secret again through the API, so that
// each is stored with the current first provider and key; the server
// keeps serving meanwhile. A Secret changed or deleted in between is read
// again or skipped. It returns how many Secrets it wrote.
//
// It asks for the encryption status first: a server with a KMS plugin then
// asks the plugin for its current key ID, so that Secrets written under an
// older one are rewritten.
func ReencryptSecrets(ctx context.Context, client kubernetes.Interface) (int, error) {
	if _, err := EncryptionStatus(ctx, client); err != nil && !errors.Is(err, ErrEncryptionOff) {
		return 0, err
	}
	secrets := client.CoreV1().Secrets(metav1.NamespaceAll)
	n := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := secrets.List(ctx, opts)
		if err != nil {
			return n, fmt.Errorf("list secrets: %w", err)
		}
		for _, item := range list.Items {
			c := client.CoreV1().Secrets(item.Namespace)
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur, err := c.Get(ctx, item.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
				return err
			})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return n, fmt.Errorf("rewrite secret %s/%s: %w", item.Namespace, item.Name, err)
			}
			n++
		}
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

// EncryptionRotatePath, with --secrets-encryption, adds a new aescbc key
// in front of the generated configuration (the old keys stay, for
// reading) and makes it the one new writes use, without a restart. A
// non-resource URL: system:masters may POST to it.
const EncryptionRotatePath = "/skiff/v1/encryption/rotate-keys"

// keyRotator rotates the key of the configuration --secrets-encryption
// generated.
type keyRotator struct {
	mu    sync.Mutex
	path  string
	store *encryption.Store
	now   func() time.Time
}

func (k *keyRotator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, err := k.rotate()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"writeProvider": "aescbc:" + name})
}

// rotate writes the configuration with a new first key, then loads it.
func (k *keyRotator) rotate() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	data, err := os.ReadFile(k.path)
	if err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	var file encryption.File
	if err := json.Unmarshal(data, &file); err != nil {
		return "", fmt.Errorf("rotate keys: %s: %w", k.path, err)
	}
	if len(file.Resources) == 0 || len(file.Resources[0].Providers) == 0 || file.Resources[0].Providers[0].AESCBC == nil {
		return "", fmt.Errorf("rotate keys: %s does not start with an aescbc provider", k.path)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	name := fmt.Sprintf("aescbckey-%s", k.now().UTC().Format("2006-01-02T15-04-05Z"))
	p := file.Resources[0].Providers[0].AESCBC
	for _, key := range p.Keys {
		if key.Name == name {
			return "", fmt.Errorf("rotate keys: key %s exists; try again in a second", name)
		}
	}
	p.Keys = append([]encryption.Key{{Name: name, Secret: base64.StdEncoding.EncodeToString(secret)}}, p.Keys...)
	if err := writeEncryptionConfig(k.path, file); err != nil {
		return "", err
	}
	cfg, err := encryption.Load(k.path)
	if err != nil {
		return "", fmt.Errorf("rotate keys: %w", err)
	}
	k.store.SetConfig(cfg)
	return name, nil
}

// RotateEncryptionKeys asks a server started with --secrets-encryption to
// encrypt with a new key from now on, then rewrites every Secret with it.
// It returns the new provider and key and how many Secrets it rewrote.
func RotateEncryptionKeys(ctx context.Context, client kubernetes.Interface) (string, int, error) {
	body, err := client.CoreV1().RESTClient().Post().AbsPath(EncryptionRotatePath).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return "", 0, errors.New("rotate keys: the server does not run with --secrets-encryption")
	}
	if err != nil {
		return "", 0, fmt.Errorf("rotate keys: %w", err)
	}
	var out struct {
		WriteProvider string `json:"writeProvider"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", 0, fmt.Errorf("rotate keys: %w", err)
	}
	n, err := ReencryptSecrets(ctx, client)
	return out.WriteProvider, n, err
}
