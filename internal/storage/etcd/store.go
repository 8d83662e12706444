package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"skiff/internal/storage"
)

// DefaultCompactInterval is how often Run compacts when Config leaves it
// zero; it matches kube-apiserver's default.
const DefaultCompactInterval = 5 * time.Minute

// Config tunes a Store.
type Config struct {
	// CompactInterval is the period of Run's compaction; each run discards
	// history older than the previous one, so watchers may resume from any
	// revision at most one interval old. Zero means DefaultCompactInterval.
	CompactInterval time.Duration
	// Logger receives Run's failures; nil means slog.Default().
	Logger *slog.Logger
}

// Store is a storage.Store over an etcd cluster.
type Store struct {
	client *clientv3.Client
	cfg    Config
}

var _ storage.Store = (*Store)(nil)

// New returns a Store that keeps its data through client. The caller owns
// client and closes it after it has stopped using the Store.
func New(client *clientv3.Client, cfg Config) *Store {
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = DefaultCompactInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{client: client, cfg: cfg}
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, translate(err))
	}
	if len(resp.Kvs) == 0 {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, storage.ErrNotFound)
	}
	return toKV(resp.Kvs[0]), nil
}

// List implements storage.Store. The list is a linearizable read. With
// opts.Revision set, ListResult.Revision is that revision; otherwise it is
// the store's revision at the read, which the caller passes as
// opts.Revision to read the following pages from the same snapshot.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) (storage.ListResult, error) {
	if opts.Limit < 0 {
		return storage.ListResult{}, fmt.Errorf("list %s: negative limit %d", prefix, opts.Limit)
	}
	if opts.Revision < 0 {
		return storage.ListResult{}, fmt.Errorf("list %s: negative revision %d", prefix, opts.Revision)
	}
	key, end := prefixRange(prefix)
	if opts.StartKey != "" {
		if !strings.HasPrefix(opts.StartKey, prefix) {
			return storage.ListResult{}, fmt.Errorf("list %s: start key %q lies outside the prefix", prefix, opts.StartKey)
		}
		key = opts.StartKey
	}
	ops := []clientv3.OpOption{clientv3.WithRange(end)}
	if opts.Limit > 0 {
		ops = append(ops, clientv3.WithLimit(opts.Limit))
	}
	if opts.Revision > 0 {
		ops = append(ops, clientv3.WithRev(opts.Revision))
	}
	resp, err := s.client.Get(ctx, key, ops...)
	if err != nil {
		return storage.ListResult{}, fmt.Errorf("list %s: %w", prefix, translate(err))
	}
	res := storage.ListResult{
		KVs:      make([]storage.KV, len(resp.Kvs)),
		Revision: resp.Header.Revision,
		More:     resp.More,
	}
	if opts.Revision > 0 {
		res.Revision = opts.Revision
	}
	for i, kv := range resp.Kvs {
		res.KVs[i] = toKV(kv)
	}
	if resp.More {
		// Count covers the whole range from key, not only the page.
		res.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return res, nil
}

// Count implements storage.Store.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	key, end := prefixRange(prefix)
	resp, err := s.client.Get(ctx, key, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", prefix, translate(err))
	}
	return resp.Count, nil
}

// Create implements storage.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("create %s: %w", key, storage.ErrExists)
	}
	return resp.Header.Revision, nil
}

// Update implements storage.Store. A rev of 0 updates whatever version is
// there, but still only an existing key: Update never creates.
func (s *Store) Update(ctx context.Context, key string, value []byte, rev int64) (int64, storage.KV, error) {
	resp, err := s.client.Txn(ctx).
		If(unchanged(key, rev)).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, storage.KV{}, fmt.Errorf("update %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		cur, err := current(resp)
		return 0, cur, fmt.Errorf("update %s at revision %d: %w", key, rev, err)
	}
	return resp.Header.Revision, storage.KV{}, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string, rev int64) (storage.KV, int64, error) {
	resp, err := s.client.Txn(ctx).
		If(unchanged(key, rev)).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return storage.KV{}, 0, fmt.Errorf("delete %s: %w", key, translate(err))
	}
	if !resp.Succeeded {
		cur, err := current(resp)
		return cur, 0, fmt.Errorf("delete %s at revision %d: %w", key, rev, err)
	}
	prev := resp.Responses[0].GetResponseDeleteRange().GetPrevKvs()
	if len(prev) == 0 {
		// The compare held, so the key existed; a delete that found nothing
		// means an etcd we do not understand.
		return storage.KV{}, 0, fmt.Errorf("delete %s: no previous value returned", key)
	}
	return toKV(prev[0]), resp.Header.Revision, nil
}

// unchanged is the guard of Update and Delete: the key's ModRevision is
// still rev, or, for rev 0, the key exists at all.
func unchanged(key string, rev int64) clientv3.Cmp {
	if rev == 0 {
		return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	}
	return clientv3.Compare(clientv3.ModRevision(key), "=", rev)
}

// current reads the Else branch of a failed Update or Delete: the key's
// present value with ErrConflict, or ErrNotFound if it is gone.
func current(resp *clientv3.TxnResponse) (storage.KV, error) {
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return storage.KV{}, storage.ErrNotFound
	}
	return toKV(kvs[0]), storage.ErrConflict
}

// Watch implements storage.Store. It sends the changes with ModRevision
// greater than rev: rev itself is exclusive, so a caller passes the revision
// of the List it already holds. With rev 0, Watch returns only once the
// watch is registered, so every change made after it returns is seen.
//
// The watch requires a leader: on a member cut off from the quorum it fails
// with an error event instead of going silent, and the caller re-lists.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) <-chan storage.Event {
	out := make(chan storage.Event, 100)
	if rev < 0 {
		out <- storage.Event{Err: fmt.Errorf("watch %s: negative revision %d", prefix, rev)}
		close(out)
		return out
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	key, end := prefixRange(prefix)
	ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithPrevKV()}
	if rev > 0 {
		ops = append(ops, clientv3.WithRev(rev+1))
	} else {
		ops = append(ops, clientv3.WithCreatedNotify())
	}
	wch := s.client.Watch(wctx, key, ops...)

	if rev == 0 {
		select {
		case resp, ok := <-wch:
			if err := watchErr(ctx, prefix, resp, ok); err != nil {
				cancel()
				if ctx.Err() == nil {
					out <- storage.Event{Err: err}
				}
				close(out)
				return out
			}
		case <-ctx.Done():
			cancel()
			close(out)
			return out
		}
	}

	go func() {
		defer close(out)
		defer cancel()
		send := func(ev storage.Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			resp, ok := <-wch
			if err := watchErr(ctx, prefix, resp, ok); err != nil {
				if ctx.Err() == nil {
					send(storage.Event{Err: err})
				}
				return
			}
			for _, ev := range resp.Events {
				if !send(toEvent(ev)) {
					return
				}
			}
		}
	}()
	return out
}

// watchErr turns one receive from a clientv3 watch channel into the error
// that ends the watch, or nil to go on.
func watchErr(ctx context.Context, prefix string, resp clientv3.WatchResponse, ok bool) error {
	switch {
	case !ok && ctx.Err() != nil:
		return ctx.Err()
	case !ok:
		return fmt.Errorf("watch %s: closed by the etcd client", prefix)
	case resp.CompactRevision != 0:
		return fmt.Errorf("watch %s: %w (oldest kept revision %d)", prefix, storage.ErrCompacted, resp.CompactRevision)
	case resp.Err() != nil:
		return fmt.Errorf("watch %s: %w", prefix, translate(resp.Err()))
	case resp.Canceled:
		return fmt.Errorf("watch %s: canceled by the server", prefix)
	}
	return nil
}

// CurrentRevision implements storage.Store.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	// Any linearizable range answers with the current revision; this one
	// reads a single key that never exists.
	resp, err := s.client.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("current revision: %w", translate(err))
	}
	return resp.Header.Revision, nil
}

// Compact implements storage.Store. After Compact(rev), reads at rev and
// watches from rev-1 on still work; older ones fail with ErrCompacted, and
// so does compacting to rev again.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if _, err := s.client.Compact(ctx, rev); err != nil {
		return fmt.Errorf("compact to %d: %w", rev, translate(err))
	}
	return nil
}

// prefixRange returns the etcd range [key, end) of the keys under prefix.
func prefixRange(prefix string) (key, end string) {
	if prefix == "" {
		// etcd spells "every key" as the range ["\x00", "\x00").
		return "\x00", "\x00"
	}
	return prefix, clientv3.GetPrefixRangeEnd(prefix)
}

// translate maps etcd errors onto the storage sentinels.
func translate(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return storage.ErrCompacted
	case errors.Is(err, rpctypes.ErrFutureRev):
		return storage.ErrFutureRevision
	}
	return err
}

func toKV(kv *mvccpb.KeyValue) storage.KV {
	return storage.KV{
		Key:            string(kv.Key),
		Value:          kv.Value,
		ModRevision:    kv.ModRevision,
		CreateRevision: kv.CreateRevision,
	}
}

func toEvent(ev *clientv3.Event) storage.Event {
	out := storage.Event{Type: storage.EventPut, KV: toKV(ev.Kv)}
	if ev.Type == clientv3.EventTypeDelete {
		out.Type = storage.EventDelete
		out.KV = storage.KV{Key: string(ev.Kv.Key), ModRevision: ev.Kv.ModRevision}
	}
	if ev.PrevKv != nil {
		prev := toKV(ev.PrevKv)
		out.PrevKV = &prev
	}
	return out
}
