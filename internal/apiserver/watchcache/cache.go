package watchcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"skiff/internal/storage"
)

// ErrTooOld is returned by Watch when the requested revision is older than
// the bucket's event window. Callers may then watch the store directly.
var ErrTooOld = errors.New("watchcache: revision too old")

// ErrNotReady is returned before the initial list has loaded.
var ErrNotReady = errors.New("watchcache: not ready")

// DecodeFunc turns a stored value into an object whose resourceVersion is rev.
type DecodeFunc func(key string, value []byte, rev int64) (runtime.Object, error)

// Config configures a Cache.
type Config struct {
	// Store is the store to follow.
	Store storage.Store
	// Prefix is the key prefix followed, e.g. "/registry/".
	Prefix string
	// Buckets are the bucket prefixes to keep, e.g. "/registry/pods/". Keys
	// under Prefix that fall in no bucket only advance the revision.
	Buckets []string
	// Decode decodes stored values.
	Decode DecodeFunc
	// Window is how many recent events each bucket keeps for watches that
	// resume from a past revision. Zero means 1000.
	Window int
	// WatcherBuffer is how many events a watcher may lag behind before it is
	// closed as too slow. Zero means 10,000: a lagging watcher holds only
	// references to events every watcher shares, and at 1,000 a
	// 1,000-node skiff bench scale run had 8 pod watches cut off.
	WatcherBuffer int
	// Logger receives failures of the underlying watch. Nil discards.
	Logger *slog.Logger
	// TooSlow, when set, is called with a bucket's prefix each time one
	// of its watchers is cut off for falling WatcherBuffer events behind.
	// It is called with the cache locked and must not block.
	TooSlow func(bucket string)
}

// Event is one change to an object in a bucket.
type Event struct {
	Type watch.EventType
	Key  string
	// Object is the new object (for Deleted: the last state, with the
	// delete's revision as resourceVersion).
	Object runtime.Object
	// PrevObject is the state before, nil for Added.
	PrevObject runtime.Object
	Rev        int64
	// Encoded, set on the live events the cache fans out, holds their
	// wire forms for every watcher to share. The bytes must not be
	// modified.
	Encoded *Encoded
}

// Entry is one live object.
type Entry struct {
	Key    string
	Object runtime.Object
	Rev    int64
}

type bucket struct {
	prefix  string
	objects *objectSet
	// events holds the most recent changes, oldest first.
	events []Event
	// complete: every event with revision > complete is in events.
	complete int64
	watchers map[*Watcher]struct{}
}

// Cache is a decoded, watchable copy of a store prefix.
type Cache struct {
	cfg Config

	mu      sync.RWMutex
	buckets map[string]*bucket
	ready   bool

	rev atomic.Int64
	// advanced is closed and replaced whenever rev moves.
	advMu    sync.Mutex
	advanced chan struct{}
	readyCh  chan struct{}
}

// New returns a Cache; Run loads and follows the store.
func New(cfg Config) *Cache {
	if cfg.Window <= 0 {
		cfg.Window = 1000
	}
	if cfg.WatcherBuffer <= 0 {
		cfg.WatcherBuffer = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{cfg: cfg, buckets: map[string]*bucket{}, advanced: make(chan struct{}), readyCh: make(chan struct{})}
	for _, p := range cfg.Buckets {
		c.buckets[p] = &bucket{prefix: p, objects: newObjectSet(), watchers: map[*Watcher]struct{}{}}
	}
	return c
}

// Ready is closed once the initial list has loaded.
func (c *Cache) Ready() <-chan struct{} { return c.readyCh }

// Revision is the revision up to which every bucket is complete.
func (c *Cache) Revision() int64 { return c.rev.Load() }

// Run lists the prefix, then applies the store's watch until ctx is done. If
// the watch fails it lists again and carries on; watchers of the old state
// are closed so that their clients resume.
func (c *Cache) Run(ctx context.Context) error {
	for {
		rev, err := c.load(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.cfg.Logger.Error("watch cache list failed", "prefix", c.cfg.Prefix, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		err = c.follow(ctx, rev)
		if ctx.Err() != nil {
			c.closeAll()
			return nil
		}
		c.cfg.Logger.Error("watch cache watch ended", "prefix", c.cfg.Prefix, "err", err)
	}
}

// load replaces the cache's state with a fresh list.
func (c *Cache) load(ctx context.Context) (int64, error) {
	var kvs []storage.KV
	var rev int64
	opts := storage.ListOptions{Limit: 10000}
	for {
		res, err := c.cfg.Store.List(ctx, c.cfg.Prefix, opts)
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", c.cfg.Prefix, err)
		}
		kvs = append(kvs, res.KVs...)
		rev = res.Revision
		if !res.More || len(res.KVs) == 0 {
			break
		}
		opts.Revision = res.Revision
		opts.StartKey = res.KVs[len(res.KVs)-1].Key + "\x00"
	}
	c.mu.Lock()
	fresh := map[string]*objectSet{}
	for _, kv := range kvs {
		b := c.bucketPrefixLocked(kv.Key)
		if b == "" {
			continue
		}
		obj, err := c.cfg.Decode(kv.Key, kv.Value, kv.ModRevision)
		if err != nil {
			c.cfg.Logger.Error("watch cache decode failed", "key", kv.Key, "err", err)
			continue
		}
		if fresh[b] == nil {
			fresh[b] = newObjectSet()
		}
		fresh[b].set(kv.Key, Entry{Key: kv.Key, Object: obj, Rev: kv.ModRevision})
	}
	for p, b := range c.buckets {
		for w := range b.watchers {
			w.Close()
		}
		objs := fresh[p]
		if objs == nil {
			objs = newObjectSet()
		}
		c.buckets[p] = &bucket{prefix: p, objects: objs, complete: rev, watchers: map[*Watcher]struct{}{}}
	}
	wasReady := c.ready
	c.ready = true
	c.advance(rev)
	c.mu.Unlock()
	if !wasReady {
		close(c.readyCh)
	}
	return rev, nil
}

// follow applies the store's watch from rev until it fails.
func (c *Cache) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev := range c.cfg.Store.Watch(wctx, c.cfg.Prefix, rev) {
		if ev.Err != nil {
			return ev.Err
		}
		c.apply(ev)
	}
	return ctx.Err()
}

func (c *Cache) apply(ev storage.Event) {
	rev := ev.KV.ModRevision
	// The bucket is chosen and the revision advanced under the lock, so that
	// AddBucket sees every event either applied or still to come.
	c.mu.Lock()
	p := c.bucketPrefixLocked(ev.KV.Key)
	if p == "" {
		c.advance(rev)
		c.mu.Unlock()
		return
	}
	e := Event{Key: ev.KV.Key, Rev: rev, Encoded: &Encoded{}}
	b := c.buckets[p]
	prev, had := b.objects.get(e.Key)
	switch ev.Type {
	case storage.EventPut:
		obj, err := c.cfg.Decode(e.Key, ev.KV.Value, rev)
		if err != nil {
			c.advance(rev)
			c.mu.Unlock()
			c.cfg.Logger.Error("watch cache decode failed", "key", e.Key, "err", err)
			return
		}
		e.Object = obj
		e.Type = watch.Added
		if had {
			e.Type = watch.Modified
			e.PrevObject = prev.Object
		}
		b.objects.set(e.Key, Entry{Key: e.Key, Object: obj, Rev: rev})
	case storage.EventDelete:
		var last []byte
		if ev.PrevKV != nil {
			last = ev.PrevKV.Value
		}
		obj, err := c.cfg.Decode(e.Key, last, rev)
		if err != nil {
			c.advance(rev)
			c.mu.Unlock()
			c.cfg.Logger.Error("watch cache decode failed", "key", e.Key, "err", err)
			return
		}
		e.Type, e.Object = watch.Deleted, obj
		if had {
			e.PrevObject = prev.Object
		}
		b.objects.del(e.Key)
	}
	b.events = append(b.events, e)
	// The window is trimmed back to its size once it has grown by a
	// quarter: copying it on every event would cost Window moves each.
	if len(b.events) > c.cfg.Window+c.cfg.Window/4 {
		drop := len(b.events) - c.cfg.Window
		b.complete = b.events[drop-1].Rev
		b.events = append(b.events[:0:0], b.events[drop:]...)
	}
	for w := range b.watchers {
		if !w.deliver(e) {
			delete(b.watchers, w)
			if c.cfg.TooSlow != nil && w.Cut() {
				c.cfg.TooSlow(b.prefix)
			}
		}
	}
	c.advance(rev)
	c.mu.Unlock()
}

func (c *Cache) advance(rev int64) {
	if rev <= c.rev.Load() {
		return
	}
	c.rev.Store(rev)
	c.advMu.Lock()
	close(c.advanced)
	c.advanced = make(chan struct{})
	c.advMu.Unlock()
}

// WaitFresh blocks until Revision reaches rev, ctx ends, or timeout passes;
// it reports whether the cache got there.
func (c *Cache) WaitFresh(ctx context.Context, rev int64, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.advMu.Lock()
		ch := c.advanced
		c.advMu.Unlock()
		if c.rev.Load() >= rev {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

// bucketPrefixLocked returns the bucket a key belongs to, or "". Built-in
// resources live at /registry/<resource>/...; custom resources at
// /registry/<group>/<resource>/... (a group name always has a dot). The
// caller holds c.mu.
func (c *Cache) bucketPrefixLocked(key string) string {
	rest, ok := strings.CutPrefix(key, c.cfg.Prefix)
	if !ok {
		return ""
	}
	seg, tail, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	p := c.cfg.Prefix + seg + "/"
	if strings.Contains(seg, ".") {
		seg2, _, ok := strings.Cut(tail, "/")
		if !ok {
			return ""
		}
		p += seg2 + "/"
	}
	if _, known := c.buckets[p]; !known {
		return ""
	}
	return p
}

// AddBucket starts keeping the bucket prefix (a custom resource created at
// run time). Once the cache is loaded it lists the prefix at the revision
// the cache has applied, holding off the watch meanwhile, so the bucket's
// contents and its following events are consistent. Adding a known bucket
// does nothing.
func (c *Cache) AddBucket(ctx context.Context, prefix string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.buckets[prefix]; ok {
		return nil
	}
	b := &bucket{prefix: prefix, objects: newObjectSet(), watchers: map[*Watcher]struct{}{}}
	if !c.ready {
		c.buckets[prefix] = b
		return nil
	}
	rev := c.rev.Load()
	opts := storage.ListOptions{Revision: rev, Limit: 10000}
	for {
		res, err := c.cfg.Store.List(ctx, prefix, opts)
		if err != nil {
			return fmt.Errorf("add bucket %s: %w", prefix, err)
		}
		for _, kv := range res.KVs {
			obj, err := c.cfg.Decode(kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				c.cfg.Logger.Error("watch cache decode failed", "key", kv.Key, "err", err)
				continue
			}
			b.objects.set(kv.Key, Entry{Key: kv.Key, Object: obj, Rev: kv.ModRevision})
		}
		if !res.More || len(res.KVs) == 0 {
			break
		}
		opts.StartKey = res.KVs[len(res.KVs)-1].Key + "\x00"
	}
	b.complete = rev
	c.buckets[prefix] = b
	return nil
}

// RemoveBucket stops keeping a bucket and ends its watches.
func (c *Cache) RemoveBucket(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.buckets[prefix]
	if !ok {
		return
	}
	for w := range b.watchers {
		w.Close()
	}
	delete(c.buckets, prefix)
}

// List returns the live objects of bucket whose keys start with keyPrefix,
// sorted by key, and the revision they are current at.
func (c *Cache) List(bucketPrefix, keyPrefix string) ([]Entry, int64, error) {
	c.mu.RLock()
	if !c.ready {
		c.mu.RUnlock()
		return nil, 0, ErrNotReady
	}
	b, ok := c.buckets[bucketPrefix]
	if !ok {
		c.mu.RUnlock()
		return nil, 0, fmt.Errorf("watchcache: unknown bucket %q", bucketPrefix)
	}
	out := b.objects.collect(keyPrefix)
	rev := c.rev.Load()
	c.mu.RUnlock()
	sortEntries(out)
	return out, rev, nil
}

// Count returns how many live objects of bucket have keys under
// keyPrefix, which is the bucket itself or one of its directories (a
// namespace); it is cheap, for estimating a list's work.
func (c *Cache) Count(bucketPrefix, keyPrefix string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.buckets[bucketPrefix]
	if !ok {
		return 0
	}
	if keyPrefix == bucketPrefix {
		return b.objects.n
	}
	return len(b.objects.dirs[keyPrefix])
}

// Get returns the live object at key.
func (c *Cache) Get(bucketPrefix, key string) (Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.buckets[bucketPrefix]
	if !ok {
		return Entry{}, false
	}
	return b.objects.get(key)
}

// Watch starts a watch on the keys of bucket under keyPrefix.
//
// With fromRev > 0 the watcher first replays the bucket's events after
// fromRev (ErrTooOld if the window no longer reaches back that far). With
// fromRev == 0 it first receives an Added event for every live object, then
// changes after that snapshot. The caller must call Stop.
func (c *Cache) Watch(bucketPrefix, keyPrefix string, fromRev int64) (*Watcher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, ErrNotReady
	}
	b, ok := c.buckets[bucketPrefix]
	if !ok {
		return nil, fmt.Errorf("watchcache: unknown bucket %q", bucketPrefix)
	}
	w := &Watcher{
		keyPrefix: keyPrefix,
		Queue:     NewQueue(c.cfg.WatcherBuffer),
		cache:     c,
		bucket:    b,
	}
	if fromRev == 0 {
		snapshot := b.objects.collect(keyPrefix)
		sortEntries(snapshot)
		for _, e := range snapshot {
			w.initial = append(w.initial, Event{Type: watch.Added, Key: e.Key, Object: e.Object, Rev: e.Rev})
		}
		w.startRev = c.rev.Load()
	} else {
		if fromRev < b.complete {
			return nil, ErrTooOld
		}
		for _, e := range b.events {
			if e.Rev > fromRev && strings.HasPrefix(e.Key, keyPrefix) {
				w.initial = append(w.initial, e)
			}
		}
		w.startRev = max(fromRev, c.rev.Load())
	}
	b.watchers[w] = struct{}{}
	return w, nil
}

// Watcher receives a bucket's events.
type Watcher struct {
	keyPrefix string
	initial   []Event
	startRev  int64
	// Queue delivers live changes. It is closed when the watcher falls
	// too far behind or the cache reloads; the client should then resume
	// from the last revision it saw.
	*Queue
	cache  *Cache
	bucket *bucket
}

// Initial returns the events to send before those from the Queue: the
// snapshot (fromRev 0) or the replay (fromRev > 0).
func (w *Watcher) Initial() []Event { return w.initial }

// StartRevision is the revision the initial events bring the watcher to.
func (w *Watcher) StartRevision() int64 { return w.startRev }

// deliver is called with the cache lock held.
func (w *Watcher) deliver(e Event) bool {
	if !strings.HasPrefix(e.Key, w.keyPrefix) {
		return true
	}
	return w.Push(e)
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.cache.mu.Lock()
	delete(w.bucket.watchers, w)
	w.cache.mu.Unlock()
	w.Close()
}

func (c *Cache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.buckets {
		for w := range b.watchers {
			w.Close()
		}
		b.watchers = map[*Watcher]struct{}{}
	}
}
