package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
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
	if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
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
	return WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), 0o644)
}

// ServiceAccountVerifyDir is the folder, under the directory of sa.key,
// of public keys that service account tokens still verify with but that
// no longer sign: the keys RotateServiceAccountKey retired. Deleting a
// file there makes the tokens its key signed invalid.
const ServiceAccountVerifyDir = "sa-verify"

// LoadServiceAccountKeys returns the signing key of
// LoadOrCreateServiceAccountKey and the public keys of dir/sa-verify/*.pub,
// in name order.
func LoadServiceAccountKeys(dir string) (crypto.Signer, []crypto.PublicKey, error) {
	key, err := LoadOrCreateServiceAccountKey(dir)
	if err != nil {
		return nil, nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, ServiceAccountVerifyDir, "*.pub"))
	if err != nil {
		return nil, nil, fmt.Errorf("load service account keys: %w", err)
	}
	slices.Sort(files)
	var pubs []crypto.PublicKey
	for _, f := range files {
		p, err := ReadPublicKeys(f)
		if err != nil {
			return nil, nil, fmt.Errorf("load service account keys: %w", err)
		}
		pubs = append(pubs, p...)
	}
	return key, pubs, nil
}

// RotateServiceAccountKey retires the signing key in dir, keeping its
// public half in dir/sa-verify/<time>.pub so that the tokens it signed
// keep verifying, and replaces it with a new ECDSA P-256 key. The public
// key is written first: a crash in between leaves the old key signing
// and listed twice, never a token that cannot verify.
func RotateServiceAccountKey(dir string, now time.Time) error {
	old, err := LoadOrCreateServiceAccountKey(dir)
	if err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	verifyDir := filepath.Join(dir, ServiceAccountVerifyDir)
	if err := os.MkdirAll(verifyDir, 0o755); err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	retired := filepath.Join(verifyDir, "sa-"+now.UTC().Format("20060102T150405.000000000Z")+".pub")
	if err := writePublicKey(retired, old.Public()); err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "sa.key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	if err := writePublicKey(filepath.Join(dir, "sa.pub"), key.Public()); err != nil {
		return fmt.Errorf("rotate service account key: %w", err)
	}
	return nil
}

// ReadPublicKeys returns every public key in a PEM file, as upstream's
// --service-account-key-file takes them: public keys, certificates, or
// the public half of private keys (RSA or ECDSA).
func ReadPublicKeys(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub crypto.PublicKey
		switch block.Type {
		case pemPublicKey:
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = c.PublicKey
			}
		case pemECPrivateKey, pemRSAKey, pemPKCS8Key:
			var k crypto.Signer
			if k, err = parseKey(pem.EncodeToMemory(block)); err == nil {
				pub = k.Public()
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		switch pub.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey:
		default:
			return nil, fmt.Errorf("parse %s: unsupported key type %T", path, pub)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("parse %s: no PEM public key, certificate or private key found", path)
	}
	return keys, nil
}
