package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

const (
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate lets peers whose clocks run a little behind accept a
	// certificate made a moment ago.
	backdate = 5 * time.Minute
)

// CA is the cluster certificate authority: it signs serving and client
// certificates, and its certificate is what clients and the API server trust.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer

	certPEM  []byte
	certFile string
	// chain is what follows a leaf in its file: during a CA rotation, this
	// CA cross-signed by the previous one (ca-cross.crt); else nothing.
	chain []byte
	// now is the clock used for validity windows; time.Now outside tests.
	now func() time.Time
}

// LoadCA returns the CA stored in dir as ca.crt and ca.key. ca.crt may
// hold more certificates after the first (CAs still trusted during a CA
// rotation, see RotateCA); the first is the one ca.key belongs to and that
// signs. A missing file is an error wrapping fs.ErrNotExist.
func LoadCA(dir string) (*CA, error) {
	certFile := filepath.Join(dir, "ca.crt")
	keyFile := filepath.Join(dir, "ca.key")
	cert, key, certPEM, err := readCertAndKey(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	if !keyMatches(cert, key) {
		return nil, fmt.Errorf("load CA: %s does not match %s", keyFile, certFile)
	}
	ca := &CA{Cert: cert, Key: key, certPEM: certPEM, certFile: certFile, now: time.Now}
	// A cross-signed certificate for another key is left over from an
	// earlier rotation, and of no use.
	if crossPEM, err := os.ReadFile(filepath.Join(dir, crossFileName)); err == nil {
		if cross, err := parseCert(crossPEM); err == nil && keyMatches(cross, key) && time.Now().Before(cross.NotAfter) {
			ca.chain = encodeCert(cross.Raw)
		}
	}
	return ca, nil
}

// LoadOrCreateCA returns the CA stored in dir (LoadCA), creating
// dir and a new self-signed ECDSA P-256 CA valid for ten years if there is
// none. A ca.key without ca.crt is an interrupted first start and is
// replaced; a ca.crt without its key is an error, because certificates
// already handed out may trust it.
func LoadOrCreateCA(dir string) (*CA, error) {
	certFile := filepath.Join(dir, "ca.crt")
	keyFile := filepath.Join(dir, "ca.key")
	ca, err := LoadCA(dir)
	switch {
	case err == nil:
		return ca, nil
	case errors.Is(err, fs.ErrNotExist):
		if _, statErr := os.Stat(certFile); statErr == nil {
			return nil, fmt.Errorf("load CA: %s exists but %s is missing", certFile, keyFile)
		}
	default:
		return nil, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	ca, err = newCA(time.Now())
	if err != nil {
		return nil, err
	}
	if err := writeCertAndKey(certFile, keyFile, ca.Cert.Raw, nil, ca.Key); err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	ca.certFile = certFile
	return ca, nil
}

// newCA makes a self-signed CA in memory.
func newCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	tmpl := &x509.Certificate{
		// The timestamp makes each cluster's CA name distinct, so a client
		// holding an old cluster's CA gets a clear "unknown authority".
		Subject:               pkix.Name{CommonName: fmt.Sprintf("skiff-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	// A nil SerialNumber makes CreateCertificate pick a random one.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA: %w", err)
	}
	return &CA{Cert: cert, Key: key, certPEM: encodeCert(der), now: time.Now}, nil
}

// CertFile returns the path of ca.crt.
func (ca *CA) CertFile() string { return ca.certFile }

// CertPEM returns ca.crt in PEM form, as kubeconfigs embed it: the CA
// certificate, followed during a CA rotation by the CAs still trusted.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Pool returns a pool holding the CA certificate and, during a CA
// rotation, the CAs still trusted, for verifying client certificates
// (tls.Config.ClientCAs) or the server (RootCAs).
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, c := range parseCerts(ca.certPEM) {
		pool.AddCert(c)
	}
	return pool
}

// SetClock makes the CA read the time from now when it decides whether a
// certificate is due and when it signs one; time.Now by default.
func (ca *CA) SetClock(now func() time.Time) { ca.now = now }
