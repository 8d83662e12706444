// Package etcd runs an etcd member inside the skiff process.
//
// Start boots a member from Config and returns once it serves requests;
// Server.Client is a clientv3.Client that calls the member in-process, with
// no network hop, and is what the API server stores through when etcd is
// embedded. The member also listens on ClientURL for other servers and tools,
// and on PeerURL for the raft traffic of the other members.
//
// Lifecycle of a Server:
//
//	Start ──► starting ──(leader known, member published)──► ready ──Close──► closed
//	              │                                             │
//	              └──(ctx done or error: Start returns it)      └──(Err reports a fatal error)
//
// A single member (InitialCluster empty) runs with short raft timings and a
// short in-memory raft log, so that it is ready in well under a second and
// idles small. Members of a cluster list each other in InitialCluster and
// must be started concurrently: none is ready before a quorum is up. A
// member whose DataDir already holds a log restarts from it and ignores
// InitialCluster.
//
// etcd logs through zap; Config.Logger receives its warnings and errors
// through slog, and nothing once Close has begun (etcd reports its own
// teardown as errors).
package etcd
