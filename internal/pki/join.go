package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// joinTokenPrefix starts every join token, so that a token from somewhere
// else is told apart at once.
const joinTokenPrefix = "skiff1"

const pemCertificateRequest = "CERTIFICATE REQUEST"

// JoinToken is what a node presents to join the cluster: the SHA-256 of
// the cluster CA's certificate (so the node can trust the server it talks
// to before it has any certificate) and a secret only the servers know.
type JoinToken struct {
	CAHash string
	Secret string
}

// String is the token as users pass it: skiff1::<ca-sha256>::<secret>.
func (t JoinToken) String() string {
	return joinTokenPrefix + "::" + t.CAHash + "::" + t.Secret
}

// ParseJoinToken reads a token made by String.
func ParseJoinToken(s string) (JoinToken, error) {
	parts := strings.Split(strings.TrimSpace(s), "::")
	if len(parts) != 3 || parts[0] != joinTokenPrefix || len(parts[1]) != 64 || parts[2] == "" {
		return JoinToken{}, errors.New("malformed join token: want skiff1::<ca-sha256>::<secret>")
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return JoinToken{}, fmt.Errorf("malformed join token: CA hash: %w", err)
	}
	return JoinToken{CAHash: parts[1], Secret: parts[2]}, nil
}

// MatchesSecret says, in constant time, whether secret is the token's.
func (t JoinToken) MatchesSecret(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1
}

// CertHash is the hex SHA-256 of a DER certificate, as join tokens carry it.
func CertHash(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// joinTokenFile keeps the static join token's secret in a CA's folder.
const joinTokenFile = "join-token.secret"

// LoadOrCreateJoinToken returns the cluster's join token, keeping its
// secret in dir/join-token.secret (created on first use).
func (ca *CA) LoadOrCreateJoinToken(dir string) (JoinToken, error) {
	t, err := ReadJoinToken(dir, ca)
	if errors.Is(err, os.ErrNotExist) {
		return ca.RotateJoinToken(dir, "")
	}
	return t, err
}

// ReadJoinToken returns the join token whose secret is in
// dir/join-token.secret.
func ReadJoinToken(dir string, ca *CA) (JoinToken, error) {
	secret, err := os.ReadFile(filepath.Join(dir, joinTokenFile))
	if err != nil {
		return JoinToken{}, err
	}
	return JoinToken{CAHash: CertHash(ca.Cert.Raw), Secret: strings.TrimSpace(string(secret))}, nil
}

// RotateJoinToken replaces the join token's secret in dir with secret, or
// with a new random one when secret is empty, and returns the new token:
// the old one stops working at once. Nodes that already joined keep their
// certificates.
func (ca *CA) RotateJoinToken(dir, secret string) (JoinToken, error) {
	if secret == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return JoinToken{}, err
		}
		secret = hex.EncodeToString(b)
	}
	if len(secret) < 16 || strings.ContainsAny(secret, ": \t\n") {
		return JoinToken{}, errors.New("a join token secret needs at least 16 characters and no colons or spaces")
	}
	if err := WriteFileAtomic(filepath.Join(dir, joinTokenFile), []byte(secret), 0o600); err != nil {
		return JoinToken{}, err
	}
	return JoinToken{CAHash: CertHash(ca.Cert.Raw), Secret: secret}, nil
}

// ClientCertFromCSR signs the public key of a PEM certificate request as a
// client certificate for user and groups; what the request itself asks for
// is ignored. It returns the certificate in PEM.
func (ca *CA) ClientCertFromCSR(csrPEM []byte, user string, groups []string) ([]byte, error) {
	if user == "" {
		return nil, errors.New("empty user")
	}
	return ca.signCSR(csrPEM, leafSpec{commonName: user, orgs: groups, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// ServingCertFromCSR signs the public key of a PEM certificate request as a
// serving certificate for sans, named name.
func (ca *CA) ServingCertFromCSR(csrPEM []byte, name string, sans SANs) ([]byte, error) {
	return ca.signCSR(csrPEM, leafSpec{commonName: name, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, sans: sans.Merge(SANs{})})
}

func (ca *CA) signCSR(csrPEM []byte, spec leafSpec) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != pemCertificateRequest {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	der, err := ca.sign(spec, csr.PublicKey)
	if err != nil {
		return nil, err
	}
	return append(encodeCert(der), ca.chain...), nil
}

// KeyAndCSR is a new private key (PEM) and a certificate request for it.
type KeyAndCSR struct {
	KeyPEM, CSRPEM []byte
}

// NewKeyAndCSR makes an ECDSA P-256 key and a request naming cn.
func NewKeyAndCSR(cn string) (KeyAndCSR, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyAndCSR{}, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return KeyAndCSR{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyAndCSR{}, err
	}
	return KeyAndCSR{KeyPEM: keyPEM, CSRPEM: pem.EncodeToMemory(&pem.Block{Type: pemCertificateRequest, Bytes: der})}, nil
}

// WritePair stores a certificate and its key as dir/name.crt and
// dir/name.key and returns their paths.
func WritePair(dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := WriteFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := WriteFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// WriteCACert stores the cluster CA's certificate (no key) as dir/ca.crt.
func WriteCACert(dir string, certPEM []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f := filepath.Join(dir, "ca.crt")
	return f, WriteFileAtomic(f, certPEM, 0o644)
}

// pairMinLeft is how much life a node's certificate must have left to be
// used at start; one closer to its end is replaced by joining again.
const pairMinLeft = 90 * 24 * time.Hour

// PairValid says whether dir/name.{crt,key} exist, match, are signed by
// one of the CA certificates in caFile (a bundle during a CA rotation) and
// have more than 90 days left.
func PairValid(caFile, certFile, keyFile string) bool {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return false
	}
	cert, key, _, err := readCertAndKey(certFile, keyFile)
	if err != nil || !keyMatches(cert, key) {
		return false
	}
	signed := slices.ContainsFunc(parseCerts(caPEM), func(ca *x509.Certificate) bool { return cert.CheckSignatureFrom(ca) == nil })
	return signed && time.Until(cert.NotAfter) > pairMinLeft
}
