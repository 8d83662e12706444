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
func ReencryptSecrets(ctx context.Context, client kubernetes.Interface) (int, error) {
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
