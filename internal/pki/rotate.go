package pki

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"time"
)

// crossFileName holds, after RotateCA, the new CA certificate signed by the
// old CA.
const crossFileName = "ca-cross.crt"

// RotateCA replaces the CA in dir with a new one and returns it. Nothing
// issued so far stops working:
//
//   - ca.crt becomes a bundle, the new CA followed by the old one, so every
//     client and server that reads it trusts both; certificates the old CA
//     signed stay valid until they are renewed.
//   - ca.key becomes the new CA's key: from now on the new CA signs.
//   - ca-cross.crt is the new CA signed by the old one. Issue appends it to
//     every certificate it writes, so a peer that still trusts only the old
//     CA (a node that joined before, a kubeconfig copied elsewhere) verifies
//     the new certificates through it.
//
// A CA rotated before the old one is dropped from the bundle.
// The CA certificate and key are replaced one after the other; a reader in
// between sees a key that does not match (LoadCA fails) and must retry.
func RotateCA(dir string, now time.Time) (*CA, error) {
	old, err := LoadCA(dir)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	// The new CA must not share the old one's name (made the same
	// second): peers tell the two apart by it when they build chains.
	if old.Cert.Subject.CommonName == fmt.Sprintf("skiff-ca@%d", now.Unix()) {
		now = now.Add(time.Second)
	}
	next, err := newCA(now)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               next.Cert.Subject,
		SubjectKeyId:          next.Cert.SubjectKeyId,
		NotBefore:             next.Cert.NotBefore,
		NotAfter:              next.Cert.NotAfter,
		KeyUsage:              next.Cert.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	// The cross-signed certificate cannot outlive its issuer.
	if old.Cert.NotAfter.Before(tmpl.NotAfter) {
		tmpl.NotAfter = old.Cert.NotAfter
	}
	crossDER, err := x509.CreateCertificate(rand.Reader, tmpl, old.Cert, next.Key.Public(), old.Key)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: cross-sign: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, crossFileName), encodeCert(crossDER), 0o644); err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	keyPEM, err := encodeKey(next.Key)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	bundle := append(encodeCert(next.Cert.Raw), encodeCert(old.Cert.Raw)...)
	if err := WriteFileAtomic(filepath.Join(dir, "ca.key"), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "ca.crt"), bundle, 0o644); err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	return LoadCA(dir)
}
