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

// leafValidity is how long a serving or client certificate lives; it is
// renewed at two thirds of that (RenewAt).
const leafValidity = 365 * 24 * time.Hour

// RenewAt is when cert is due for renewal: at two thirds of its life, so
// that a third of it (four months for a leaf) is left to notice a renewal
// that keeps failing.
func RenewAt(cert *x509.Certificate) time.Time {
	return cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
}

// leafSpec is what a serving or client certificate must say.
type leafSpec struct {
	commonName string
	orgs       []string
	usages     []x509.ExtKeyUsage
	sans       SANs
}

// LeafKind is what a leaf certificate is for.
type LeafKind int

const (
	// ServingLeaf is a TLS server certificate.
	ServingLeaf LeafKind = iota
	// PeerLeaf is a certificate presented as a server's and as a client's,
	// as etcd members present theirs to each other.
	PeerLeaf
	// ClientLeaf is a TLS client certificate.
	ClientLeaf
)

// Leaf describes a serving, peer or client certificate signed by a CA: what
// Issue keeps on disk and a Renewer keeps current.
type Leaf struct {
	// CADir is the directory of the signing CA (ca.crt, ca.key); only a
	// Renewer reads it.
	CADir string
	// Dir and Name place the files: Dir/Name.crt and Dir/Name.key.
	Dir, Name string
	// Kind is what the certificate is for.
	Kind LeafKind
	// SANs are the names and addresses a serving or peer certificate
	// covers; its common name is Name.
	SANs SANs
	// User and Groups are a client certificate's CN and O.
	User   string
	Groups []string
}

// CertFile is Dir/Name.crt.
func (l Leaf) CertFile() string { return filepath.Join(l.Dir, l.Name+".crt") }

// KeyFile is Dir/Name.key.
func (l Leaf) KeyFile() string { return filepath.Join(l.Dir, l.Name+".key") }

func (l Leaf) spec() (leafSpec, error) {
	switch l.Kind {
	case ServingLeaf:
		return leafSpec{commonName: l.Name, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, sans: l.SANs.Merge(SANs{})}, nil
	case PeerLeaf:
		return leafSpec{commonName: l.Name, usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			sans: l.SANs.Merge(SANs{})}, nil
	case ClientLeaf:
		if l.User == "" {
			return leafSpec{}, errors.New("empty user")
		}
		return leafSpec{commonName: l.User, orgs: slices.Clone(l.Groups), usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil
	}
	return leafSpec{}, fmt.Errorf("unknown kind %d", l.Kind)
}

// Issue keeps or replaces l's files. The certificate already there is kept
// if it is signed by this CA, has its key beside it, is fit for l.Kind, is
// not yet at two thirds of its life (RenewAt), has l's user and groups
// (client) and covers every name and address in l.SANs (extra names are
// fine); otherwise a new one for a new key, valid for a year, replaces it.
// renewed says whether it did. During a CA rotation the new certificate is
// followed in its file by the new CA cross-signed by the old one, so that
// peers that trust only the old CA still accept it.
func (ca *CA) Issue(l Leaf) (renewed bool, err error) {
	spec, err := l.spec()
	if err != nil {
		return false, fmt.Errorf("issue certificate %s: %w", l.Name, err)
	}
	renewed, err = ca.issue(l.Dir, l.Name, spec)
	if err != nil {
		return false, fmt.Errorf("issue certificate %s: %w", l.Name, err)
	}
	return renewed, nil
}

// IssueServing returns dir/name.crt and dir/name.key: a TLS server
// certificate for sans signed by the CA, kept or replaced as Issue does.
func (ca *CA) IssueServing(dir, name string, sans SANs) (certFile, keyFile string, err error) {
	return ca.issueFiles(Leaf{Dir: dir, Name: name, Kind: ServingLeaf, SANs: sans}, "serving")
}

// IssuePeer is IssueServing for a certificate that is also presented as a
// client's, as etcd members present theirs to each other.
func (ca *CA) IssuePeer(dir, name string, sans SANs) (certFile, keyFile string, err error) {
	return ca.issueFiles(Leaf{Dir: dir, Name: name, Kind: PeerLeaf, SANs: sans}, "peer")
}

// IssueClient returns dir/name.crt and dir/name.key: a TLS client
// certificate with CN=user and one O per group, which the API server reads
// as the user name and groups, kept or replaced as Issue does.
func (ca *CA) IssueClient(dir, name, user string, groups []string) (certFile, keyFile string, err error) {
	return ca.issueFiles(Leaf{Dir: dir, Name: name, Kind: ClientLeaf, User: user, Groups: groups}, "client")
}

func (ca *CA) issueFiles(l Leaf, what string) (string, string, error) {
	spec, err := l.spec()
	if err == nil {
		_, err = ca.issue(l.Dir, l.Name, spec)
	}
	if err != nil {
		return "", "", fmt.Errorf("issue %s certificate %s: %w", what, l.Name, err)
	}
	return l.CertFile(), l.KeyFile(), nil
}

// issue keeps or replaces dir/name.{crt,key} so that they satisfy spec.
func (ca *CA) issue(dir, name string, spec leafSpec) (bool, error) {
	if name == "" || strings.ContainsRune(name, os.PathSeparator) {
		return false, fmt.Errorf("bad file name %q", name)
	}
	certFile := filepath.Join(dir, name+".crt")
	keyFile := filepath.Join(dir, name+".key")
	if cert, key, _, err := readCertAndKey(certFile, keyFile); err == nil {
		if checkLeaf(cert, key, ca.Cert, spec, ca.now()) == nil {
			return false, nil
		}
	}
	// Anything unreadable or unfit is replaced: these files are ours and
	// can always be made again from the CA.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	der, err := ca.sign(spec, key.Public())
	if err != nil {
		return false, err
	}
	if err := writeCertAndKey(certFile, keyFile, der, ca.chain, key); err != nil {
		return false, err
	}
	return true, nil
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
	if !now.Before(RenewAt(cert)) {
		return errors.New("due for renewal")
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
