// Package nftables applies a proxy.Ruleset to the kernel with knftables:
// one table, changed in one atomic `nft -f` transaction per sync.
//
// The first Apply (and the first after a failed one) is a full resync: it
// flushes every chain the table holds, recreates its sets and maps except
// the dynamic session-affinity sets, deletes what the ruleset no longer
// has and loads the rest. Later Applys are incremental: they compare the
// ruleset with the one applied last and only add new objects, rewrite
// changed chains (flush + rules, in the same transaction), change map and
// set elements one by one and delete what went away. The table is never
// flushed as a whole, so established connections keep their conntrack
// entries and nothing is briefly unfiltered.
//
// An incremental transaction is as small as the change (5 operations when
// one endpoint goes), but running it is not free of the table's size:
// nft(8) reads the table's chains and sets from the kernel before it runs
// any transaction that adds rules or elements or deletes chains. With
// nftables 1.0.6 that is ~20 ms for 100 Services and ~70 ms for 1,000
// Services with 10,000 endpoints (BenchmarkKernelSync). Only netlink
// without nft(8), or an nft whose cache reads less, would remove it.
package nftables
