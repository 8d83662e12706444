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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate is replaced on start,
	// so a server restarted now and then never serves an expired one.
	renewBefore = 90 * 24 * time.Hour
)

// leafSpec is what a serving or client certificate must say.
type leafSpec struct {
	commonName string
	orgs       []string
	usages     []x509.ExtKeyUsage
	sans       SANs
}

// IssueServing returns dir/name.crt and dir/name.key: a TLS server
// certificate for sans signed by the CA. A certificate already there is kept
// if it is signed by this CA, has its key beside it, is a server certificate,
// has more than 90 days left and covers every wanted name and address (extra
// names are fine); otherwise a new one, valid for a year, replaces it.
func (ca *CA) IssueServing(dir, name string, sans SANs) (certFile, keyFile string, err error) {
	spec := leafSpec{commonName: name, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, sans: sans.Merge(SANs{})}
	certFile, keyFile, err = ca.issue(dir, name, spec)
	if err != nil {
		return "", "", fmt.Errorf("issue serving certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// IssuePeer is IssueServing for a certificate that is also presented as a
// client's, as etcd members present theirs to each other; it is kept and
// replaced under the same rules.
func (ca *CA) IssuePeer(dir, name string, sans SANs) (certFile, keyFile string, err error) {
	spec := leafSpec{commonName: name, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		sans: sans.Merge(SANs{})}
	certFile, keyFile, err = ca.issue(dir, name, spec)
	if err != nil {
		return "", "", fmt.Errorf("issue peer certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// IssueClient returns dir/name.crt and dir/name.key: a TLS client
// certificate with CN=user and one O per group, which the API server reads
// as the user name and groups. It is kept under the same rules as
// IssueServing, and replaced when the user or the set of groups differ.
func (ca *CA) IssueClient(dir, name, user string, groups []string) (certFile, keyFile string, err error) {
	if user == "" {
		return "", "", fmt.Errorf("issue client certificate %s: empty user", name)
	}
	spec := leafSpec{commonName: user, orgs: slices.Clone(groups), usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	certFile, keyFile, err = ca.issue(dir, name, spec)
	if err != nil {
		return "", "", fmt.Errorf("issue client certificate %s: %w", name, err)
	}
	return certFile, keyFile, nil
}

// issue keeps or replaces dir/name.{crt,key} so that they satisfy spec.
func (ca *CA) issue(dir, name string, spec leafSpec) (string, string, error) {
	if name == "" || strings.ContainsRune(name, os.PathSeparator) {
		return "", "", fmt.Errorf("bad file name %q", name)
	}
	certFile := filepath.Join(dir, name+".crt")
	keyFile := filepath.Join(dir, name+".key")
	if cert, key, _, err := readCertAndKey(certFile, keyFile); err == nil {
		if checkLeaf(cert, key, ca.Cert, spec, ca.now()) == nil {
			return certFile, keyFile, nil
		}
	}
	// Anything unreadable or unfit is replaced: these files are ours and
	// can always be made again from the CA.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := ca.sign(spec, key.Public())
	if err != nil {
		return "", "", err
	}
	if err := writeCertAndKey(certFile, keyFile, der, key); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// sign makes a certificate for pub from spec, signed by the CA.
func (ca *CA) sign(spec leafSpec, pub crypto.PublicKey) ([]byte, error) {
	now := ca.now()
	notAfter := now.Add(leafValidity)
	// A certificate outliving its CA would fail verification anyway.
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: spec.commonName, Organization: spec.orgs},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              spec.sans.DNSNames,
		IPAddresses:           spec.sans.IPs,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
}

// checkLeaf says why cert (with key) cannot be kept for spec, or nil if it
// can. It is pure: all it needs is passed in.
func checkLeaf(cert *x509.Certificate, key crypto.Signer, caCert *x509.Certificate, spec leafSpec, now time.Time) error {
	if !keyMatches(cert, key) {
		return errors.New("key does not match certificate")
	}
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		return fmt.Errorf("not signed by this CA: %w", err)
	}
	if now.Before(cert.NotBefore) {
		return errors.New("not valid yet")
	}
	if cert.NotAfter.Sub(now) < renewBefore {
		return errors.New("expires soon")
	}
	for _, u := range spec.usages {
		if !slices.Contains(cert.ExtKeyUsage, u) {
			return errors.New("wrong extended key usage")
		}
	}
	if cert.Subject.CommonName != spec.commonName {
		return fmt.Errorf("common name is %q, want %q", cert.Subject.CommonName, spec.commonName)
	}
	if !sameSet(cert.Subject.Organization, spec.orgs) {
		return fmt.Errorf("organizations are %q, want %q", cert.Subject.Organization, spec.orgs)
	}
	for _, want := range spec.sans.DNSNames {
		if !slices.ContainsFunc(cert.DNSNames, func(have string) bool { return strings.EqualFold(have, want) }) {
			return fmt.Errorf("missing DNS name %s", want)
		}
	}
	for _, want := range spec.sans.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, want.Equal) {
			return fmt.Errorf("missing IP address %s", want)
		}
	}
	return nil
}

// sameSet reports whether a and b hold the same strings, ignoring order and
// repeats.
func sameSet(a, b []string) bool {
	a = slices.Compact(slices.Sorted(slices.Values(a)))
	b = slices.Compact(slices.Sorted(slices.Values(b)))
	return slices.Equal(a, b)
}
