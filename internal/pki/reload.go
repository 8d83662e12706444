package pki

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// KeyPairReloader serves a certificate and key from files and loads them
// again when either file changes, so a renewed certificate is served
// without a restart. Its GetCertificate (or GetClientCertificate) goes in
// tls.Config.
type KeyPairReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	pair    *tls.Certificate
	stamp   [2]time.Time
	checked time.Time
}

// NewKeyPairReloader loads the pair once, and fails if it cannot.
func NewKeyPairReloader(certFile, keyFile string) (*KeyPairReloader, error) {
	r := &KeyPairReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// reloadCheckInterval bounds how often the files are looked at.
const reloadCheckInterval = 10 * time.Second

// GetCertificate returns the current pair, first reloading it if the files
// changed (looked at no more than every 10 s). A pair that fails to load
// (say, the key written but not yet its certificate) leaves the old one in
// service.
func (r *KeyPairReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= reloadCheckInterval {
		r.checked = time.Now()
		if s, err := r.stamps(); err == nil && s != r.stamp {
			_ = r.loadLocked()
		}
	}
	return r.pair, nil
}

// GetClientCertificate is GetCertificate for a TLS client.
func (r *KeyPairReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.GetCertificate(nil)
}

// Reload loads the pair now, whatever the files' times say; whoever just
// replaced them calls it. On failure the old pair stays in service.
func (r *KeyPairReloader) Reload() error { return r.load() }

func (r *KeyPairReloader) stamps() ([2]time.Time, error) {
	var s [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = st.ModTime()
	}
	return s, nil
}

func (r *KeyPairReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = time.Now()
	return r.loadLocked()
}

func (r *KeyPairReloader) loadLocked() error {
	s, err := r.stamps()
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load %s: %w", r.certFile, err)
	}
	r.pair, r.stamp = &pair, s
	return nil
}
