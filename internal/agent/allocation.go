package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// allocationCheckpoint is the file, below Config.RootDir, where the agent
// keeps what it allocated to and actuated on each pod's containers, so
// that a restarted agent neither forgets an accepted resize nor redoes
// one: upstream's allocated_pods_state and actuated_pods_state in one.
const allocationCheckpoint = "pod_resources_state"

// podResources is what the agent knows of one pod's container resources,
// by container name.
type podResources struct {
	// Allocated are the resources the node admitted.
	Allocated map[string]corev1.ResourceRequirements `json:"allocated,omitempty"`
	// Actuated are the resources last applied to the running containers.
	Actuated map[string]corev1.ResourceRequirements `json:"actuated,omitempty"`
}

// allocations holds every pod's podResources, and writes them to a
// checkpoint file after each change when it has one. Safe for concurrent
// use.
type allocations struct {
	// path is the checkpoint file; empty keeps everything in memory.
	path string

	mu   sync.Mutex
	pods map[types.UID]*podResources
}

// loadAllocations reads the checkpoint at path (absent: empty; path
// empty: in memory only).
func loadAllocations(path string) (*allocations, error) {
	al := &allocations{path: path, pods: map[types.UID]*podResources{}}
	if path == "" {
		return al, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return al, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pod resources checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &al.pods); err != nil {
		return nil, fmt.Errorf("read pod resources checkpoint %s: %w", path, err)
	}
	return al, nil
}

// allocated returns a copy of the pod's allocation, nil when it has none.
func (al *allocations) allocated(uid types.UID) map[string]corev1.ResourceRequirements {
	al.mu.Lock()
	defer al.mu.Unlock()
	if p := al.pods[uid]; p != nil {
		return copyResources(p.Allocated)
	}
	return nil
}

// actuated returns a copy of the pod's actuated resources.
func (al *allocations) actuated(uid types.UID) map[string]corev1.ResourceRequirements {
	al.mu.Lock()
	defer al.mu.Unlock()
	if p := al.pods[uid]; p != nil {
		return copyResources(p.Actuated)
	}
	return nil
}

// setAllocated records the pod's allocation.
func (al *allocations) setAllocated(uid types.UID, alloc map[string]corev1.ResourceRequirements) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	p := al.entry(uid)
	p.Allocated = copyResources(alloc)
	return al.save()
}

// setActuated records what was applied to one container.
func (al *allocations) setActuated(uid types.UID, container string, r corev1.ResourceRequirements) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	p := al.entry(uid)
	if p.Actuated == nil {
		p.Actuated = map[string]corev1.ResourceRequirements{}
	}
	p.Actuated[container] = *r.DeepCopy()
	return al.save()
}

// initActuated records alloc as actuated for the containers that have no
// record yet (upstream's InitializeActuatedPod); it
// writes the checkpoint only when it recorded something.
func (al *allocations) initActuated(uid types.UID, alloc map[string]corev1.ResourceRequirements) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	p := al.entry(uid)
	changed := false
	for name, r := range alloc {
		if _, ok := p.Actuated[name]; ok {
			continue
		}
		if p.Actuated == nil {
			p.Actuated = map[string]corev1.ResourceRequirements{}
		}
		p.Actuated[name] = *r.DeepCopy()
		changed = true
	}
	if !changed {
		return nil
	}
	return al.save()
}

// remove forgets a pod that is gone.
func (al *allocations) remove(uid types.UID) error {
	al.mu.Lock()
	defer al.mu.Unlock()
	if _, ok := al.pods[uid]; !ok {
		return nil
	}
	delete(al.pods, uid)
	return al.save()
}

func (al *allocations) entry(uid types.UID) *podResources {
	p := al.pods[uid]
	if p == nil {
		p = &podResources{}
		al.pods[uid] = p
	}
	return p
}

// save writes the checkpoint atomically; al.mu is held.
func (al *allocations) save() error {
	if al.path == "" {
		return nil
	}
	b, err := json.Marshal(al.pods)
	if err != nil {
		return fmt.Errorf("write pod resources checkpoint: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(al.path), 0o755); err != nil {
		return fmt.Errorf("write pod resources checkpoint: %w", err)
	}
	tmp := al.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write pod resources checkpoint: %w", err)
	}
	if err := os.Rename(tmp, al.path); err != nil {
		return fmt.Errorf("write pod resources checkpoint: %w", err)
	}
	return nil
}

func copyResources(in map[string]corev1.ResourceRequirements) map[string]corev1.ResourceRequirements {
	if in == nil {
		return nil
	}
	out := make(map[string]corev1.ResourceRequirements, len(in))
	for k, v := range in {
		out[k] = *v.DeepCopy()
	}
	return out
}
