// Package storage defines the Store the API server keeps objects in.
//
// A Store holds opaque values under string keys, each stamped with the
// revision of the write that last changed it. Revisions are those of the
// backing etcd cluster: they rise by one with every write anywhere in the
// store, so one number orders every change, and it is the resourceVersion
// that clients see.
//
// Writes are compare-and-swap: Create fails with ErrExists if the key is
// present, Update and Delete take the revision the caller last read and fail
// with ErrConflict if the key has changed since. Watch replays every change
// under a prefix after a revision, in order, and fails with ErrCompacted once
// that revision is no longer kept.
//
// The package holds only the contract; etcd/ implements it over clientv3 and
// storagetest/ holds the suite every implementation must pass.
package storage
