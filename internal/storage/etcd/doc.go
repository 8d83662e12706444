// Package etcd implements storage.Store over an etcd cluster through clientv3:
// the in-process client of an embedded member (skiff/internal/etcd) or a
// client of an external cluster made by Dial.
//
// Each write is one etcd transaction guarded by a compare on the key:
//
//	Create  If CreateRevision(key) == 0   Then Put
//	Update  If ModRevision(key) == rev    Then Put              Else Get
//	Delete  If ModRevision(key) == rev    Then Delete(prevKV)   Else Get
//
// so a conflict costs no extra round trip: the Else branch brings back the
// current value. Reads are linearizable. Watch streams etcd's events, with
// the previous value of each key, from the revision after the one given.
//
// etcd keeps every revision until it is compacted. Store.Run is the
// compactor: run it in one goroutine per API server, for the life of the
// server; several servers sharing a cluster agree through one key on who
// compacts in each interval.
package etcd
