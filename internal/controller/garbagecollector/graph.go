package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef identifies one object; it is the key of both queues.
type objectRef struct {
	GVR       schema.GroupVersionResource
	Namespace string
	Name      string
	UID       types.UID
}

// node is what the graph knows of one object.
type node struct {
	ref                objectRef
	owners             []metav1.OwnerReference
	deletingDependents bool
}

// graph maps objects to their owners and owners to their dependents. It
// is only a hint about what to look at: every action re-reads live state.
type graph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]bool
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]bool{}}
}

func hasFinalizer(m metav1.Object, f string) bool {
	return slices.Contains(m.GetFinalizers(), f)
}

func deletingDependents(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil && hasFinalizer(m, metav1.FinalizerDeleteDependents)
}

// upsert records m and returns its previous owners and whether it is new.
func (g *graph) upsert(ref objectRef, m metav1.Object) (old []metav1.OwnerReference, isNew bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[ref.UID]
	if !ok {
		n = &node{ref: ref}
		g.nodes[ref.UID] = n
	}
	old = n.owners
	n.owners = m.GetOwnerReferences()
	n.deletingDependents = deletingDependents(m)
	for _, o := range old {
		if d := g.dependents[o.UID]; d != nil {
			delete(d, ref.UID)
			if len(d) == 0 {
				delete(g.dependents, o.UID)
			}
		}
	}
	for _, o := range n.owners {
		if g.dependents[o.UID] == nil {
			g.dependents[o.UID] = map[types.UID]bool{}
		}
		g.dependents[o.UID][ref.UID] = true
	}
	return old, !ok
}

// remove forgets uid and returns its owners.
func (g *graph) remove(uid types.UID) []metav1.OwnerReference {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return nil
	}
	delete(g.nodes, uid)
	for _, o := range n.owners {
		if d := g.dependents[o.UID]; d != nil {
			delete(d, uid)
			if len(d) == 0 {
				delete(g.dependents, o.UID)
			}
		}
	}
	return n.owners
}

// get returns a copy of the node of uid.
func (g *graph) get(uid types.UID) (node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	return *n, true
}

// dependentsOf returns the nodes owned by uid; blockingOnly keeps those
// whose reference to uid has blockOwnerDeletion set.
func (g *graph) dependentsOf(uid types.UID, blockingOnly bool) []node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []node
	for d := range g.dependents[uid] {
		n, ok := g.nodes[d]
		if !ok {
			continue
		}
		if blockingOnly {
			blocking := false
			for _, o := range n.owners {
				if o.UID == uid && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
					blocking = true
				}
			}
			if !blocking {
				continue
			}
		}
		out = append(out, *n)
	}
	return out
}
