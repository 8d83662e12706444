package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff/internal/storage"
)

// compactKey is bumped by whichever API server compacts in an interval, so
// that several servers sharing one etcd compact once per interval between
// them rather than once each. It lives under /registry/ like every other key
// skiff writes: the API server's watch cache follows that prefix and counts
// on seeing every revision there.
const compactKey = "/registry/compact-claim"

// Run compacts the store's history until ctx is done, then returns nil.
//
// Every CompactInterval it tries to claim the interval by bumping the
// version of compactKey from the version it saw last. The winner compacts to
// the revision it read at its previous tick, so at least one interval of
// history is always kept; a loser learns the new version and tries again at
// the next tick. Failures are logged and retried at the next tick.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CompactInterval)
	defer t.Stop()
	var version, rev int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v, r, err := s.compactOnce(ctx, version, rev)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Error("compact etcd history", "err", err)
			}
			continue
		}
		version, rev = v, r
	}
}

// compactOnce runs one tick of Run. seen is the version of compactKey that
// this server last saw and prev the revision it read at its last tick. It
// returns the version and revision to pass at the next tick.
func (s *Store) compactOnce(ctx context.Context, seen, prev int64) (version, rev int64, err error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactKey), "=", seen)).
		Then(clientv3.OpPut(compactKey, "")).
		Else(clientv3.OpGet(compactKey)).
		Commit()
	if err != nil {
		return 0, 0, fmt.Errorf("claim compaction: %w", translate(err))
	}
	rev = resp.Header.Revision
	if !resp.Succeeded {
		// Another server claimed this interval.
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			version = kvs[0].Version
		}
		return version, rev, nil
	}
	if prev > 0 {
		// ErrCompacted: someone already compacted past prev, as wanted.
		if err := s.Compact(ctx, prev); err != nil && !errors.Is(err, storage.ErrCompacted) {
			return seen + 1, rev, err
		}
	}
	return seen + 1, rev, nil
}
