package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// RenewerConfig configures a Renewer.
type RenewerConfig struct {
	// Leaves returns the certificates to keep current. It is called on
	// every pass, so a leaf added later (a component's client
	// certificate) is kept too. Required.
	Leaves func() []Leaf
	// Renewed, if set, is called after a leaf was replaced, so that
	// whoever holds it in memory loads it again.
	Renewed func(Leaf)
	// Locker, if set, is held during each pass (not while Leaves is
	// called), so that whoever else issues the same leaves does not write
	// their files at the same time.
	Locker sync.Locker
	// Clock is the time source; the real clock when nil.
	Clock clock.Clock
	// MaxWait is the longest the Renewer sleeps between passes, so that a
	// changed clock, a rotated CA or a new leaf is noticed; one hour when
	// zero.
	MaxWait time.Duration
	// RetryWait is how soon a failed pass is tried again; one minute when
	// zero.
	RetryWait time.Duration
	// Logger logs renewals and failures; slog.Default when nil.
	Logger *slog.Logger
}

// Renewer keeps a set of leaf certificates current: each is replaced when
// it reaches two thirds of its life (RenewAt), signed by whatever CA is in
// its CADir at that moment (so a rotated CA takes over at the next pass).
type Renewer struct {
	cfg RenewerConfig
}

// NewRenewer returns a Renewer for cfg.
func NewRenewer(cfg RenewerConfig) (*Renewer, error) {
	if cfg.Leaves == nil {
		return nil, errors.New("renewer: no leaves")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Hour
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Renewer{cfg: cfg}, nil
}

// RenewDue makes one pass: it replaces every leaf that is due (or missing,
// unfit, or signed by a CA other than its CADir's), and returns the leaves
// it replaced and when the next one is due. It goes on past a leaf it
// cannot renew and returns all such errors joined.
func (r *Renewer) RenewDue() (renewed []Leaf, next time.Time, err error) {
	leaves := r.cfg.Leaves()
	if r.cfg.Locker != nil {
		r.cfg.Locker.Lock()
		defer r.cfg.Locker.Unlock()
	}
	now := r.cfg.Clock.Now()
	cas := map[string]*CA{}
	var errs []error
	for _, l := range leaves {
		ca, ok := cas[l.CADir]
		if !ok {
			if ca, err = LoadCA(l.CADir); err != nil {
				errs = append(errs, fmt.Errorf("renew %s: %w", l.Name, err))
				continue
			}
			ca.SetClock(r.cfg.Clock.Now)
			cas[l.CADir] = ca
		}
		did, err := ca.Issue(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("renew: %w", err))
			continue
		}
		if did {
			renewed = append(renewed, l)
		}
		cert, err := readLeafCert(l.CertFile())
		if err != nil {
			errs = append(errs, fmt.Errorf("renew %s: %w", l.Name, err))
			continue
		}
		if at := RenewAt(cert); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		next = now.Add(r.cfg.MaxWait)
	}
	return renewed, next, errors.Join(errs...)
}

func readLeafCert(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseCert(data)
}

// Run renews the leaves when they are due until ctx is done: a pass at
// once, then one when the first leaf is due, at least every MaxWait and
// RetryWait after a failure.
func (r *Renewer) Run(ctx context.Context) error {
	log := r.cfg.Logger
	again := false
	for {
		renewed, next, err := r.RenewDue()
		for _, l := range renewed {
			log.Info("certificate renewed", "cert", l.CertFile())
			if r.cfg.Renewed != nil {
				r.cfg.Renewed(l)
			}
		}
		wait := min(next.Sub(r.cfg.Clock.Now()), r.cfg.MaxWait)
		if err != nil {
			log.Warn("renewing certificates failed; retrying", "err", err, "in", r.cfg.RetryWait)
			wait = min(wait, r.cfg.RetryWait)
		}
		if wait <= 0 {
			// Due already: the clock moved during the pass. Once more at
			// once, but not twice in a row: a leaf due right after its
			// renewal (one with minutes to live) must not make this spin.
			if !again {
				again = true
				continue
			}
			wait = r.cfg.RetryWait
		}
		again = false
		select {
		case <-ctx.Done():
			return nil
		case <-r.cfg.Clock.After(wait):
		}
	}
}
