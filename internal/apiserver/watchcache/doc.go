// Package watchcache keeps every stored object the API server serves decoded
// in memory, so that LIST and WATCH are answered without touching etcd.
//
// One Cache follows one key prefix ("/registry/") of a storage.Store: it lists
// the prefix once, then applies one ordered watch from that revision. Keys are
// grouped into buckets, one per resource ("/registry/pods/"); a bucket keeps
// its live objects and a bounded window of recent events.
//
//	        storage.Store
//	 List(prefix) │  Watch(prefix, rev)
//	              ▼
//	        ┌──────────┐   apply event: bucket.objects, bucket.events,
//	        │  Cache   │── fan out to the bucket's watchers, advance Revision
//	        └──────────┘
//	          ▲      ▲
//	List/Get  │      │ Watch(bucket, fromRev)
//	      API server handlers
//
// Because the one watch sees every write under the prefix, Revision is the
// revision up to which every bucket is complete: a consistent read waits with
// WaitFresh for Revision to reach etcd's current revision, then reads memory.
//
// Buckets of custom resources come and go at run time (AddBucket,
// RemoveBucket). AddBucket lists the new prefix at the revision the cache
// has applied while holding off the watch, and the watch picks the bucket
// under the same lock, so the bucket starts consistent with the events
// that follow.
//
// Objects handed out are shared and must not be modified: callers copy
// before they change anything.
package watchcache
