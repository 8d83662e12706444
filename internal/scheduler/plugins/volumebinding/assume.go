package volumebinding

import (
	"sync"

	v1 "k8s.io/api/core/v1"
)

// assumeCache holds PVs assumed bound by Reserve until the informer shows
// a newer version of them (the binding written, or someone else's change)
// or Unreserve forgets them.
type assumeCache struct {
	mu  sync.RWMutex
	pvs map[string]assumedPV
}

type assumedPV struct {
	pv *v1.PersistentVolume
	// baseVersion is the informer's resourceVersion the assumption was made on.
	baseVersion string
}

func newAssumeCache() *assumeCache { return &assumeCache{pvs: map[string]assumedPV{}} }

// get returns the assumed version of pv if the assumption still holds.
func (c *assumeCache) get(pv *v1.PersistentVolume) *v1.PersistentVolume {
	c.mu.RLock()
	a, ok := c.pvs[pv.Name]
	c.mu.RUnlock()
	if ok && a.baseVersion == pv.ResourceVersion {
		return a.pv
	}
	return pv
}

// assume records pv (a modified copy of an informer object). It fails if
// another claim assumed the PV already.
func (c *assumeCache) assume(pv *v1.PersistentVolume) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.pvs[pv.Name]; ok && a.baseVersion == pv.ResourceVersion {
		if ref := a.pv.Spec.ClaimRef; ref != nil && ref.UID != pv.Spec.ClaimRef.UID {
			return false
		}
	}
	c.pvs[pv.Name] = assumedPV{pv: pv, baseVersion: pv.ResourceVersion}
	return true
}

// revert forgets the assumptions made for vols' static bindings.
func (c *assumeCache) revert(vols *podVolumes) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range vols.static {
		if a, ok := c.pvs[b.pv.Name]; ok && a.pv.Spec.ClaimRef != nil && a.pv.Spec.ClaimRef.UID == b.pvc.UID {
			delete(c.pvs, b.pv.Name)
		}
	}
}

// observed drops the assumption on a PV the informer shows a new version of.
func (c *assumeCache) observed(pv *v1.PersistentVolume) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.pvs[pv.Name]; ok && a.baseVersion != pv.ResourceVersion {
		delete(c.pvs, pv.Name)
	}
}

// forget drops any assumption on the PV.
func (c *assumeCache) forget(name string) {
	c.mu.Lock()
	delete(c.pvs, name)
	c.mu.Unlock()
}

// notifier wakes waiters on every PV or PVC event.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next notify.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
