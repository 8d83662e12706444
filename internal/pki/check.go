package pki

import (
	"crypto/x509"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// CertStatus is one certificate found on disk, as `skiff certificate
// check` lists it.
type CertStatus struct {
	// File is the certificate's file.
	File string
	// Subject and Issuer are the certificate's names.
	Subject, Issuer string
	// CA says the certificate is a CA's. CAs are not renewed: RenewAt is
	// zero and Due is false for them.
	CA bool
	// NotAfter is when the certificate expires.
	NotAfter time.Time
	// RenewAt is when the renewal loop replaces it (two thirds of its
	// life).
	RenewAt time.Time
	// Due says the certificate is at or past RenewAt, or (OldCA) not
	// signed by the CA that signs in its folder now, after a CA rotation:
	// either way the renewal loop replaces it. Expired says it is past
	// NotAfter.
	Due, OldCA, Expired bool
}

// CheckCertificates lists the certificates in the .crt files under dir, in
// file name order: a leaf's file counts for its first certificate (what
// follows is its chain), a CA's file for each one it holds (a bundle
// during a CA rotation). Files that hold no certificate are skipped.
func CheckCertificates(dir string, now time.Time) ([]CertStatus, error) {
	var out []CertStatus
	// signers holds, per folder, the CA that signs there (the first of
	// ca.crt, where ca.key is beside it), or nil.
	signers := map[string]*x509.Certificate{}
	signer := func(folder string) *x509.Certificate {
		ca, ok := signers[folder]
		if !ok {
			if c, err := LoadCA(folder); err == nil {
				ca = c.Cert
			}
			signers[folder] = ca
		}
		return ca
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".crt") {
			return nil
		}
		certs, err := ReadCertFile(path)
		if err != nil {
			return nil //nolint:nilerr // not a certificate file
		}
		if !certs[0].IsCA {
			certs = certs[:1]
		}
		for _, c := range certs {
			st := certStatus(path, c, now)
			if ca := signer(filepath.Dir(path)); !c.IsCA && ca != nil && c.CheckSignatureFrom(ca) != nil {
				st.OldCA, st.Due = true, true
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// certStatus describes c, found in file, at now. It is pure.
func certStatus(file string, c *x509.Certificate, now time.Time) CertStatus {
	s := CertStatus{File: file, Subject: c.Subject.String(), Issuer: c.Issuer.String(), CA: c.IsCA,
		NotAfter: c.NotAfter, Expired: now.After(c.NotAfter)}
	if !c.IsCA {
		s.RenewAt = RenewAt(c)
		s.Due = !now.Before(s.RenewAt)
	}
	return s
}
