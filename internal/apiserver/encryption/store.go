package encryption

import (
	"context"
	"sync/atomic"

	"skiff/internal/storage"
)

// Store encrypts the values of the configured resources on their way into
// an inner store and decrypts them on their way out.
type Store struct {
	inner storage.Store
	cfg   atomic.Pointer[Config]
}

var _ storage.Store = (*Store)(nil)

// NewStore wraps inner with the transformers of cfg.
func NewStore(inner storage.Store, cfg *Config) *Store {
	s := &Store{inner: inner}
	s.cfg.Store(cfg)
	return s
}

// SetConfig replaces the configuration, as after a key rotation: writes
// from now on use its first providers. Values written meanwhile with the
// old one stay readable as long as cfg keeps its keys.
func (s *Store) SetConfig(cfg *Config) { s.cfg.Store(cfg) }

// Raw returns the inner store, whose values are as stored (for status
// reports and tests).
func (s *Store) Raw() storage.Store { return s.inner }

// Config returns the configuration the store encrypts with.
func (s *Store) Config() *Config { return s.cfg.Load() }

func (s *Store) encrypt(ctx context.Context, key string, value []byte) ([]byte, error) {
	if t := s.cfg.Load().forKey(key); t != nil {
		return t.encrypt(ctx, key, value)
	}
	return value, nil
}

func (s *Store) decrypt(ctx context.Context, kv *storage.KV) error {
	if kv == nil || kv.Value == nil {
		return nil
	}
	t := s.cfg.Load().forKey(kv.Key)
	if t == nil {
		return nil
	}
	v, stale, err := t.decrypt(ctx, kv.Key, kv.Value)
	if err != nil {
		return err
	}
	kv.Value, kv.Stale = v, stale
	return nil
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	kv, err := s.inner.Get(ctx, key)
	if err != nil {
		return kv, err
	}
	return kv, s.decrypt(ctx, &kv)
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	res, err := s.inner.List(ctx, prefix, opts)
	if err != nil {
		return res, err
	}
	for i := range res.KVs {
		if err := s.decrypt(ctx, &res.KVs[i]); err != nil {
			return storage.ListResult{}, err
		}
	}
	return res, nil
}

// Count implements storage.Store.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	return s.inner.Count(ctx, prefix)
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	v, err := s.encrypt(ctx, key, value)
	if err != nil {
		return 0, err
	}
	return s.inner.Create(ctx, key, v)
}

// Update implements storage.Store; the current KV of a conflict is
// returned decrypted.
func (s *Store) Update(ctx context.Context, key string, value []byte, rev int64) (int64, storage.KV, error) {
	v, err := s.encrypt(ctx, key, value)
	if err != nil {
		return 0, storage.KV{}, err
	}
	n, kv, err := s.inner.Update(ctx, key, v, rev)
	if derr := s.decrypt(ctx, &kv); derr != nil && err == nil {
		err = derr
	}
	return n, kv, err
}

// Delete implements storage.Store; the KV it returns is decrypted.
func (s *Store) Delete(ctx context.Context, key string, rev int64) (storage.KV, int64, error) {
	kv, n, err := s.inner.Delete(ctx, key, rev)
	if derr := s.decrypt(ctx, &kv); derr != nil && err == nil {
		err = derr
	}
	return kv, n, err
}

// Watch implements storage.Store: every event's values are decrypted. An
// event that cannot be decrypted ends the watch with its error, so the
// caller lists again rather than missing the change.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan storage.Event {
	in := s.inner.Watch(ctx, prefix, rev)
	out := make(chan storage.Event)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Err == nil {
				if err := s.decrypt(ctx, &ev.KV); err != nil {
					ev = storage.Event{Err: err}
				} else if err := s.decrypt(ctx, ev.PrevKV); err != nil {
					ev = storage.Event{Err: err}
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				for range in {
				}
				return
			}
			if ev.Err != nil {
				// Drain so the inner watch can close.
				for range in {
				}
				return
			}
		}
	}()
	return out
}

// CurrentRevision implements storage.Store.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	return s.inner.CurrentRevision(ctx)
}

// Compact implements storage.Store.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	return s.inner.Compact(ctx, rev)
}

// Status says how the values under a prefix are stored.
type Status struct {
	// WriteProvider is what new values are written with ("identity" or
	// "<provider>:<key name>").
	WriteProvider string `json:"writeProvider"`
	// Stored counts the values by what they were written with.
	Stored map[string]int `json:"stored"`
	// Total is the number of values; Current those written with
	// WriteProvider.
	Total   int `json:"total"`
	Current int `json:"current"`
}

// Status reads every value under prefix as stored and counts them by the
// provider and key they were written with.
// A KMS plugin is asked for its key ID first, and a value written under an
// older key ID does not count as current.
func (s *Store) Status(ctx context.Context, prefix string) (Status, error) {
	cfg := s.cfg.Load()
	if err := cfg.ProbeKMS(ctx); err != nil {
		return Status{}, err
	}
	st := Status{WriteProvider: cfg.WriteProvider(prefix), Stored: map[string]int{}}
	opts := storage.ListOptions{Limit: 500}
	for {
		res, err := s.inner.List(ctx, prefix, opts)
		if err != nil {
			return Status{}, err
		}
		for _, kv := range res.KVs {
			p := ReadProvider(kv.Value)
			st.Stored[p]++
			st.Total++
			if p == st.WriteProvider && !cfg.staleKMS(kv.Key, kv.Value) {
				st.Current++
			}
		}
		if !res.More || len(res.KVs) == 0 {
			return st, nil
		}
		opts.Revision = res.Revision
		opts.StartKey = res.KVs[len(res.KVs)-1].Key + "\x00"
	}
}
