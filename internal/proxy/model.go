package proxy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Ruleset describes one nftables table completely: what a full `nft -f`
// load of Render's output creates.
type Ruleset struct {
	// Family is the nftables family ("ip").
	Family string
	// Table is the table's name ("skiff").
	Table string
	// Chains, Sets and Maps are sorted by name.
	Chains []Chain
	Sets   []Set
	Maps   []Map
}

// Chain is a regular chain or, when Hook is set, a base chain.
type Chain struct {
	Name string
	// Type, Hook and Priority are set together for base chains.
	Type, Hook string
	Priority   int
	// Rules are rule bodies in nft syntax, in order.
	Rules []string
}

// Set is an nftables set.
type Set struct {
	Name string
	// Type is the element type, e.g. "ipv4_addr".
	Type string
	// Flags such as "interval", "dynamic", "timeout".
	Flags []string
	// Timeout of the elements of a timeout set; zero means none.
	Timeout time.Duration
	// Elements are sorted. A dynamic set's elements belong to the kernel
	// (the packet path adds them), so they are never listed here.
	Elements []string
}

// Dynamic reports whether the packet path fills the set (session affinity),
// so an applier must neither flush it nor manage its elements.
func (s Set) Dynamic() bool { return slices.Contains(s.Flags, "dynamic") }

// Map is an nftables map; here always a verdict map.
type Map struct {
	Name string
	// Type is "key_type . key_type : verdict".
	Type string
	// Elements are sorted by key.
	Elements []MapElement
}

// MapElement is one key and its value, both in nft syntax.
type MapElement struct {
	Key, Value string
}

// Chain returns the chain named name, if present.
func (r *Ruleset) Chain(name string) (Chain, bool) {
	i, ok := slices.BinarySearchFunc(r.Chains, name, func(c Chain, n string) int { return strings.Compare(c.Name, n) })
	if !ok {
		return Chain{}, false
	}
	return r.Chains[i], true
}

// Render returns the `nft -f` text that creates the table from nothing:
// declarations first (so that rules and verdict map elements may refer to
// any chain or set), then elements, then rules.
func (r *Ruleset) Render() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	prefix := r.Family + " " + r.Table
	p("add table %s", prefix)
	for _, c := range r.Chains {
		if c.Hook != "" {
			p("add chain %s %s { type %s hook %s priority %d ; }", prefix, c.Name, c.Type, c.Hook, c.Priority)
		} else {
			p("add chain %s %s", prefix, c.Name)
		}
	}
	for _, s := range r.Sets {
		p("add set %s %s { %s}", prefix, s.Name, s.decl())
		if len(s.Elements) > 0 {
			p("add element %s %s { %s }", prefix, s.Name, strings.Join(s.Elements, ", "))
		}
	}
	for _, m := range r.Maps {
		p("add map %s %s { type %s ; }", prefix, m.Name, m.Type)
		if len(m.Elements) > 0 {
			var els []string
			for _, e := range m.Elements {
				els = append(els, e.Key+" : "+e.Value)
			}
			p("add element %s %s { %s }", prefix, m.Name, strings.Join(els, ", "))
		}
	}
	for _, c := range r.Chains {
		for _, rule := range c.Rules {
			p("add rule %s %s %s", prefix, c.Name, rule)
		}
	}
	return b.String()
}

// decl is the body of a set declaration, each clause ended by " ; ".
func (s Set) decl() string {
	d := "type " + s.Type + " ; "
	if len(s.Flags) > 0 {
		d += "flags " + strings.Join(s.Flags, ",") + " ; "
	}
	if s.Timeout > 0 {
		d += fmt.Sprintf("timeout %ds ; ", int(s.Timeout/time.Second))
	}
	return d
}
