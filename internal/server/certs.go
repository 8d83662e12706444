package server

import (
	"context"
	"sync"

	"k8s.io/utils/clock"

	"skiff/internal/pki"
)

// serverCerts issues the server's leaf certificates and remembers them, so
// that the renewal loop (pki.Renewer) keeps each one current, and loads
// again the pairs held in memory when it replaces one. Components that read
// their files themselves pick renewals up on their own: client-go reloads a
// rest.Config's CertFile and KeyFile (at most once a second) and its
// CAFile, and the embedded etcd reads its files at every handshake.
type serverCerts struct {
	clock clock.Clock

	// mu serialises issuing, the renewal loop's passes included: two
	// writers of one pair could leave a key beside the other's
	// certificate.
	mu        sync.Mutex
	leaves    map[string]pki.Leaf
	reloaders map[string]*pki.KeyPairReloader
}

func newServerCerts(clk clock.Clock) *serverCerts {
	return &serverCerts{clock: clk, leaves: map[string]pki.Leaf{}, reloaders: map[string]*pki.KeyPairReloader{}}
}

// issue loads (or creates) the CA in l.CADir, keeps or replaces l's files
// and adds l to the leaves the renewal loop keeps current. It returns the
// CA too, for its certificate.
func (c *serverCerts) issue(l pki.Leaf) (certFile, keyFile string, ca *pki.CA, err error) {
	ca, err = pki.LoadOrCreateCA(l.CADir)
	if err != nil {
		return "", "", nil, err
	}
	ca.SetClock(c.clock.Now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := ca.Issue(l); err != nil {
		return "", "", nil, err
	}
	c.leaves[l.CertFile()] = l
	return l.CertFile(), l.KeyFile(), ca, nil
}

// reloader issues l and returns a reloader of its pair that the renewal
// loop tells when it replaced it.
func (c *serverCerts) reloader(l pki.Leaf) (*pki.KeyPairReloader, *pki.CA, error) {
	certFile, keyFile, ca, err := c.issue(l)
	if err != nil {
		return nil, nil, err
	}
	r, err := pki.NewKeyPairReloader(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	c.reloaders[certFile] = r
	c.mu.Unlock()
	return r, ca, nil
}

func (c *serverCerts) list() []pki.Leaf {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]pki.Leaf, 0, len(c.leaves))
	for _, l := range c.leaves {
		out = append(out, l)
	}
	return out
}

// renewed loads l again wherever it is held in memory.
func (c *serverCerts) renewed(l pki.Leaf) {
	c.mu.Lock()
	r := c.reloaders[l.CertFile()]
	c.mu.Unlock()
	if r != nil {
		_ = r.Reload() // a failure leaves the old pair, which is still valid
	}
}

// startRenewal runs the renewal loop until runCtx is done. It renews every
// leaf at two thirds of its life, and at least hourly looks again, so a CA
// replaced by `skiff certificate rotate-ca` signs every leaf within the
// hour.
func (s *Server) startRenewal(runCtx context.Context) error {
	r, err := pki.NewRenewer(pki.RenewerConfig{
		Leaves:  s.certs.list,
		Renewed: s.certs.renewed,
		Locker:  &s.certs.mu,
		Clock:   s.certs.clock,
		Logger:  s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.wg.Go(func() { _ = r.Run(runCtx) })
	return nil
}
