package nftables

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/knftables"

	"skiff/internal/proxy"
)

// Config configures an Applier.
type Config struct {
	// NFT runs the transactions; nil means the real `nft` for table
	// ip skiff. Tests pass knftables.NewFake.
	NFT knftables.Interface
}

// Applier programs a proxy.Ruleset into the kernel. It is not safe for
// concurrent use: the proxy calls it from one goroutine.
type Applier struct {
	nft knftables.Interface
	// applied is the ruleset the kernel holds, nil when unknown (at start
	// and after a failed transaction), which forces a full resync.
	applied *proxy.Ruleset
}

var _ proxy.Applier = (*Applier)(nil)

// New returns an Applier; it checks that nft works.
func New(cfg Config) (*Applier, error) {
	if cfg.NFT == nil {
		nft, err := knftables.New(knftables.IPv4Family, proxy.TableName)
		if err != nil {
			return nil, fmt.Errorf("new nftables applier: %w", err)
		}
		cfg.NFT = nft
	}
	return &Applier{nft: cfg.NFT}, nil
}

// Apply makes the table equal to r in one transaction.
func (a *Applier) Apply(ctx context.Context, r *proxy.Ruleset) error {
	var tx *knftables.Transaction
	if a.applied == nil {
		existing, err := a.nft.ListAll(ctx)
		if err != nil && !knftables.IsNotFound(err) {
			return fmt.Errorf("apply ruleset: list table: %w", err)
		}
		tx = FullSync(a.nft.NewTransaction(), existing, r)
	} else {
		tx = Incremental(a.nft.NewTransaction(), a.applied, r)
	}
	if tx.NumOperations() == 0 {
		return nil
	}
	a.applied = nil
	if err := a.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("apply ruleset (%d operations): %w", tx.NumOperations(), err)
	}
	cp := *r
	a.applied = &cp
	return nil
}

// FullSync fills tx with what makes a table holding the objects in
// existing (names by type, as knftables.Interface.ListAll returns them)
// equal to r. Dynamic sets that r still has keep their elements.
func FullSync(tx *knftables.Transaction, existing map[string][]string, r *proxy.Ruleset) *knftables.Transaction {
	tx.Add(&knftables.Table{})
	// Flush every chain first: then no rule refers to a set, map or chain
	// that is deleted below.
	for _, name := range existing["chain"] {
		tx.Flush(&knftables.Chain{Name: name})
	}
	keep := map[string]bool{}
	for _, s := range r.Sets {
		keep[s.Name] = s.Dynamic()
	}
	for _, name := range existing["set"] {
		if !keep[name] {
			tx.Delete(&knftables.Set{Name: name})
		}
	}
	for _, name := range existing["map"] {
		tx.Delete(&knftables.Map{Name: name})
	}
	for _, name := range existing["chain"] {
		// Base chains are recreated too, in case an older skiff hooked
		// them at another priority.
		if c, ok := r.Chain(name); !ok || c.Hook != "" {
			tx.Delete(&knftables.Chain{Name: name})
		}
	}
	for _, c := range r.Chains {
		tx.Add(chainObj(c))
	}
	for _, s := range r.Sets {
		tx.Add(setObj(s))
		for _, e := range s.Elements {
			tx.Add(&knftables.Element{Set: s.Name, Key: []string{e}})
		}
	}
	for _, m := range r.Maps {
		tx.Add(mapObj(m))
		for _, e := range m.Elements {
			tx.Add(&knftables.Element{Map: m.Name, Key: []string{e.Key}, Value: []string{e.Value}})
		}
	}
	for _, c := range r.Chains {
		for _, rule := range c.Rules {
			tx.Add(&knftables.Rule{Chain: c.Name, Rule: rule})
		}
	}
	return tx
}

// Incremental fills tx with the changes from prev (what the table holds)
// to next. Its size is proportional to the difference, not to the table.
func Incremental(tx *knftables.Transaction, prev, next *proxy.Ruleset) *knftables.Transaction {
	prevSets := index(prev.Sets, func(s proxy.Set) string { return s.Name })
	prevMaps := index(prev.Maps, func(m proxy.Map) string { return m.Name })
	nextSets := index(next.Sets, func(s proxy.Set) string { return s.Name })
	nextMaps := index(next.Maps, func(m proxy.Map) string { return m.Name })
	prevChains := positions(prev.Chains)
	nextChains := positions(next.Chains)

	// 1. Declare what is new, so rules and elements below can refer to it.
	for _, s := range next.Sets {
		if _, ok := prevSets[s.Name]; !ok {
			tx.Add(setObj(s))
		}
	}
	for _, m := range next.Maps {
		if _, ok := prevMaps[m.Name]; !ok {
			tx.Add(mapObj(m))
		}
	}
	for _, c := range next.Chains {
		if _, ok := prevChains[c.Name]; !ok {
			tx.Add(chainObj(c))
		}
	}
	// 2. Rewrite changed chains in place.
	for _, c := range next.Chains {
		i, existed := prevChains[c.Name]
		if existed && slices.Equal(prev.Chains[i].Rules, c.Rules) {
			continue
		}
		if existed {
			tx.Flush(&knftables.Chain{Name: c.Name})
		}
		for _, rule := range c.Rules {
			tx.Add(&knftables.Rule{Chain: c.Name, Rule: rule})
		}
	}
	// 3. Elements: stale ones out (before their chains go), new ones in.
	for _, s := range next.Sets {
		if s.Dynamic() {
			continue
		}
		old := prevSets[s.Name].Elements
		// Sets of addresses, not scans: a set can hold every ClusterIP.
		have, want := members(old), members(s.Elements)
		for _, e := range old {
			if !want[e] {
				tx.Delete(&knftables.Element{Set: s.Name, Key: []string{e}})
			}
		}
		for _, e := range s.Elements {
			if !have[e] {
				tx.Add(&knftables.Element{Set: s.Name, Key: []string{e}})
			}
		}
	}
	for _, m := range next.Maps {
		old := map[string]string{}
		if p, ok := prevMaps[m.Name]; ok {
			for _, e := range p.Elements {
				old[e.Key] = e.Value
			}
		}
		want := map[string]string{}
		for _, e := range m.Elements {
			want[e.Key] = e.Value
		}
		for _, e := range prevMaps[m.Name].Elements {
			if v, ok := want[e.Key]; !ok || v != e.Value {
				tx.Delete(&knftables.Element{Map: m.Name, Key: []string{e.Key}})
			}
		}
		for _, e := range m.Elements {
			if v, ok := old[e.Key]; !ok || v != e.Value {
				tx.Add(&knftables.Element{Map: m.Name, Key: []string{e.Key}, Value: []string{e.Value}})
			}
		}
	}
	// 4. Stale chains: flush them all before deleting any, since they may
	// jump to each other (a service chain to its endpoint chains).
	var stale []string
	for _, c := range prev.Chains {
		if _, ok := nextChains[c.Name]; !ok {
			stale = append(stale, c.Name)
			tx.Flush(&knftables.Chain{Name: c.Name})
		}
	}
	for _, name := range stale {
		tx.Delete(&knftables.Chain{Name: name})
	}
	// 5. Stale sets and maps, now unreferenced.
	for _, s := range prev.Sets {
		if _, ok := nextSets[s.Name]; !ok {
			tx.Delete(&knftables.Set{Name: s.Name})
		}
	}
	for _, m := range prev.Maps {
		if _, ok := nextMaps[m.Name]; !ok {
			tx.Delete(&knftables.Map{Name: m.Name})
		}
	}
	return tx
}

// positions maps each chain's name to its index.
func positions(chains []proxy.Chain) map[string]int {
	out := make(map[string]int, len(chains))
	for i, c := range chains {
		out[c.Name] = i
	}
	return out
}

func members(elements []string) map[string]bool {
	out := make(map[string]bool, len(elements))
	for _, e := range elements {
		out[e] = true
	}
	return out
}

func index[T any](items []T, key func(T) string) map[string]T {
	out := make(map[string]T, len(items))
	for _, it := range items {
		out[key(it)] = it
	}
	return out
}

func chainObj(c proxy.Chain) *knftables.Chain {
	obj := &knftables.Chain{Name: c.Name}
	if c.Hook != "" {
		obj.Type = knftables.PtrTo(knftables.BaseChainType(c.Type))
		obj.Hook = knftables.PtrTo(knftables.BaseChainHook(c.Hook))
		obj.Priority = knftables.PtrTo(knftables.BaseChainPriority(fmt.Sprint(c.Priority)))
	}
	return obj
}

func setObj(s proxy.Set) *knftables.Set {
	obj := &knftables.Set{Name: s.Name, Type: s.Type}
	for _, f := range s.Flags {
		obj.Flags = append(obj.Flags, knftables.SetFlag(f))
	}
	if s.Timeout > 0 {
		obj.Timeout = knftables.PtrTo(s.Timeout)
	}
	return obj
}

func mapObj(m proxy.Map) *knftables.Map {
	return &knftables.Map{Name: m.Name, Type: m.Type}
}
