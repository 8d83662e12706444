package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
)

// orphans are the pods that have something on this node (a sandbox, a
// container, a volumes folder) but are not known: neither bound to the
// node in the API nor one of the agent's pods (API or static). They are
// what an agent that was down while its pods were deleted left behind.
// Pure; UIDs come sorted.
func orphans(sbs []Sandbox, cs []Container, dirs []types.UID, known map[types.UID]bool) []types.UID {
	found := map[types.UID]bool{}
	for _, sb := range sbs {
		found[sb.PodUID] = true
	}
	for _, c := range cs {
		found[c.PodUID] = true
	}
	for _, d := range dirs {
		found[d] = true
	}
	var out []types.UID
	for uid := range found {
		if uid != "" && !known[uid] {
			out = append(out, uid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// sweepOrphans finds orphans and hands each to a pod worker, which, for a
// pod it does not know, stops and removes its containers and sandboxes and
// then its volumes and cgroup (syncPod with no pod). The runtime is listed
// before the API, so that a pod whose sandbox exists was created before
// the list and is in it unless it was deleted: a quorum read, not the
// informer, decides, so the sweep never depends on a cache having synced.
// Static pods are known from the first manifest scan, which Start does
// before any sweep.
func (a *Agent) sweepOrphans(ctx context.Context) error {
	rt := a.cfg.Runtime
	sbs, err := rt.ListPodSandboxes(ctx, "")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	cs, err := rt.ListContainers(ctx, "")
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	dirs := a.podDirs()
	list, err := a.cfg.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String(),
	})
	if err != nil {
		return fmt.Errorf("sweep: list pods: %w", err)
	}
	known := map[types.UID]bool{}
	for i := range list.Items {
		known[list.Items[i].UID] = true
	}
	a.mu.Lock()
	scanned := a.static.scanned
	for uid := range a.pods {
		known[uid] = true
	}
	for uid := range a.static.uids {
		known[uid] = true
	}
	a.mu.Unlock()
	if !scanned {
		return nil
	}
	found := orphans(sbs, cs, dirs, known)
	for _, uid := range found {
		a.pool.add(item{a: a, kind: itemPod, key: string(uid)})
	}
	if len(found) > 0 {
		a.log.Info("removing pods that are no longer bound to this node", "pods", len(found))
	}
	return nil
}

// podDirs are the UIDs of the pod folders under RootDir/pods.
func (a *Agent) podDirs() []types.UID {
	if a.cfg.RootDir == "" {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(a.cfg.RootDir, "pods"))
	if err != nil {
		return nil
	}
	var out []types.UID
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out
}

// housekeep sweeps orphans, then collects garbage; it runs at start and
// every HousekeepingInterval.
func (a *Agent) housekeep(ctx context.Context) {
	if err := a.sweepOrphans(ctx); err != nil {
		a.log.Warn("sweep orphaned pods", "err", err)
	}
	if err := a.collectGarbage(ctx); err != nil {
		a.log.Warn("garbage collection", "err", err)
	}
}
