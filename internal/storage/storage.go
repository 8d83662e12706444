package storage

import (
	"context"
	"errors"
)

// Sentinel errors returned by every Store. Check them with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("storage: key exists")
	// ErrConflict: the key changed since the revision the caller passed.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: the requested revision is older than what the store keeps.
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrFutureRevision: the requested revision is newer than the store's current one.
	ErrFutureRevision = errors.New("storage: revision in the future")
)

// KV is one stored value and the revisions that describe it.
type KV struct {
	Key   string
	Value []byte
	// ModRevision is the revision of the write that last changed the key.
	ModRevision int64
	// CreateRevision is the revision of the write that created the key.
	CreateRevision int64
	// Stale is set by a store that transforms values (encryption at rest)
	// when Value was read with another provider or key than the one it
	// writes with: an update must write it again even if Value is
	// unchanged, so that rewriting an object moves it to the current key.
	Stale bool
}

// EventType says what happened to a key.
type EventType int

// The kinds of Event.
const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one change seen by Watch.
//
// For EventPut, KV is the new value and PrevKV the value before (nil when the
// put created the key). For EventDelete, KV holds only the key and the delete's
// revision in ModRevision, and PrevKV the value that was deleted. Err is set on
// the last event a watch sends before it closes because of a failure (for
// example ErrCompacted); the other fields are then empty.
type Event struct {
	Type   EventType
	KV     KV
	PrevKV *KV
	Err    error
}

// ListOptions narrow a List.
type ListOptions struct {
	// Revision reads the store as of this revision; 0 reads the latest.
	Revision int64
	// Limit caps the number of items returned; 0 means no limit.
	Limit int64
	// StartKey, if set, is the first key to return (inclusive); it must lie
	// under the prefix. Paging passes the key after the last one returned.
	StartKey string
}

// ListResult is what List returns.
type ListResult struct {
	KVs []KV
	// Revision is the store revision the list was read at: the requested
	// ListOptions.Revision, or the latest one when that was 0. Pass it as
	// ListOptions.Revision to read further pages from the same snapshot,
	// and to Watch to follow the list.
	Revision int64
	// More is true when Limit cut the list short.
	More bool
	// Remaining counts the keys after the last returned one, when More is set.
	Remaining int64
}

// Store is a revisioned key-value store with compare-and-swap writes and
// ordered watches. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the value at key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns the keys under prefix in key order. A revision older
	// than the store keeps gives ErrCompacted, a newer one than it has
	// ErrFutureRevision.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Count returns how many keys lie under prefix.
	Count(ctx context.Context, prefix string) (int64, error)
	// Create writes key only if it does not exist; it returns the new revision
	// or ErrExists.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update writes key only if its ModRevision is still rev (0 means any
	// version, but the key must exist: Update never creates); it returns the
	// new revision, ErrNotFound if the key is gone, or ErrConflict together
	// with the current KV so the caller can retry without another read.
	Update(ctx context.Context, key string, value []byte, rev int64) (int64, KV, error)
	// Delete removes key only if its ModRevision is still rev (0 means any).
	// It returns the deleted KV and the revision of the delete, ErrNotFound,
	// or ErrConflict with the current KV.
	Delete(ctx context.Context, key string, rev int64) (KV, int64, error)
	// Watch sends every change under prefix with a revision greater than rev
	// (rev is exclusive: pass the Revision of the List being followed), each
	// once and in revision order, until ctx is done or a failure; the
	// channel is then closed. With rev 0 it starts from now: it returns once
	// the watch is registered, so every change made after it returns is
	// sent. A watch from a compacted revision sends one Event with
	// Err = ErrCompacted and closes; other failures (such as the store
	// losing its quorum) end it the same way with another Err, and the
	// caller lists and watches again. Ending ctx closes the channel with no
	// Err event. The caller must keep reading until the channel closes or
	// ctx is done.
	Watch(ctx context.Context, prefix string, rev int64) <-chan Event
	// CurrentRevision returns the store's latest revision, read through
	// consensus (a linearizable read).
	CurrentRevision(ctx context.Context) (int64, error)
	// Compact discards history before rev: reads at rev and watches from
	// rev-1 still work, older ones fail with ErrCompacted, and so does a
	// second Compact to rev or below.
	Compact(ctx context.Context, rev int64) error
}
