package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PEM block types used for what this package writes and reads.
const (
	pemCertificate  = "CERTIFICATE"
	pemECPrivateKey = "EC PRIVATE KEY"
	pemRSAKey       = "RSA PRIVATE KEY"
	pemPKCS8Key     = "PRIVATE KEY"
	pemPublicKey    = "PUBLIC KEY"
)

// WriteFileAtomic replaces path with data: it writes a temporary file in the
// same directory, syncs it and renames it over path, so readers and crashes
// see the old contents or the new, never a mix.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Without the sync a power loss after the rename can leave an empty
	// file where the CA used to be.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return nil
}

// encodeCert returns der as a PEM CERTIFICATE block.
func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// encodeKey returns key as PEM: SEC 1 for ECDSA (what openssl and kubeadm
// write), PKCS #8 for anything else.
func encodeKey(key crypto.Signer) ([]byte, error) {
	if ec, ok := key.(*ecdsa.PrivateKey); ok {
		der, err := x509.MarshalECPrivateKey(ec)
		if err != nil {
			return nil, fmt.Errorf("encode key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemECPrivateKey, Bytes: der}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: der}), nil
}

// parseCert returns the first certificate in PEM data.
func parseCert(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if block.Type == pemCertificate {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ReadCertFile returns the certificates in a PEM file: a leaf followed by
// its chain, or a CA bundle.
func ReadCertFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs := parseCerts(data)
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return certs, nil
}

// parseCerts returns every certificate in PEM data that parses.
func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != pemCertificate {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// parseKey returns the first private key in PEM data, in any of the three
// encodings openssl, kubeadm and Go write.
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case pemECPrivateKey:
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case pemRSAKey:
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case pemPKCS8Key:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key of type %T cannot sign", key)
		}
		return signer, nil
	}
}

// readCertAndKey reads a certificate file and its key file.
func readCertAndKey(certFile, keyFile string) (*x509.Certificate, crypto.Signer, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse %s: %w", keyFile, err)
	}
	return cert, key, certPEM, nil
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// writeCertAndKey writes the key first and the certificate (followed by
// chain, PEM, if any) last: a crash in between leaves a certificate that no
// longer matches its key, which the next start detects and replaces.
func writeCertAndKey(certFile, keyFile string, certDER, chain []byte, key crypto.Signer) error {
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(certFile, append(encodeCert(certDER), chain...), 0o644)
}
