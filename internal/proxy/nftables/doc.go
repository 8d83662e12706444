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
package nftables
