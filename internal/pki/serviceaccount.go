package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateServiceAccountKey returns the key that signs service account
// tokens, stored in dir as sa.key, creating an ECDSA P-256 key (tokens are
// then ES256) the first time. Its public half is kept beside it as sa.pub
// (PKIX PEM) for verifiers that have no business holding the private key.
// An operator-supplied RSA sa.key is returned as is.
func LoadOrCreateServiceAccountKey(dir string) (crypto.Signer, error) {
	keyFile := filepath.Join(dir, "sa.key")
	pubFile := filepath.Join(dir, "sa.pub")
	data, err := os.ReadFile(keyFile)
	switch {
	case err == nil:
		key, err := parseKey(data)
		if err != nil {
			return nil, fmt.Errorf("load service account key: parse %s: %w", keyFile, err)
		}
		// sa.pub is derived; write it again if an older start left none.
		if _, err := os.Stat(pubFile); errors.Is(err, fs.ErrNotExist) {
			if err := writePublicKey(pubFile, key.Public()); err != nil {
				return nil, fmt.Errorf("load service account key: %w", err)
			}
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load service account key: %w", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	if err := writePublicKey(pubFile, key.Public()); err != nil {
		return nil, fmt.Errorf("create service account key: %w", err)
	}
	return key, nil
}

// writePublicKey writes pub as a PKIX PUBLIC KEY PEM file.
func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), 0o644)
}
