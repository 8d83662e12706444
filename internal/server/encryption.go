package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
