package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Names shared with the local-path provisioner (controller/localpath),
// which the agent must not import.
const (
	// LocalPathNodeLabel on a PersistentVolume names the node whose agent
	// keeps its directory.
	LocalPathNodeLabel = "skiff.io/local-path-node"
	// StorageDirAnnotation on the Node is the agent's StorageDir, where
	// the provisioner puts the node's volumes.
	StorageDirAnnotation = "skiff.io/storage-dir"
	// EventVolumeCapacityNotEnforced warns on a claim whose volume's
	// filesystem cannot bound its size.
	EventVolumeCapacityNotEnforced = "VolumeCapacityNotEnforced"
	// EventVolumeCapacityExceeded warns on a claim whose unenforced
	// volume has grown past its capacity.
	EventVolumeCapacityExceeded = "VolumeCapacityExceeded"
)

// DefaultVolumeUsageInterval is how often the agent measures the
// local-path volumes whose capacity the filesystem does not enforce.
const DefaultVolumeUsageInterval = time.Minute

// localPathState is the file, in the storage dir, of the directories the
// agent created there, how, and their project ids: only those are ever
// removed, and an id stays with its volume across restarts.
const localPathState = ".skiff-local-path.json"

// firstProjectID is where the agent's project ids start, clear of the
// small ids admins give by hand in /etc/projid.
const firstProjectID = 100000

// lpVolume is what the agent keeps about one volume directory.
type lpVolume struct {
	// Subvolume says the directory is (to be) a btrfs subvolume, bounded
	// by its qgroup; it is decided, and saved, before the directory is
	// created.
	Subvolume bool `json:"subvolume,omitempty"`
	// ProjectID is the volume's project id, 0 when project quotas are
	// unsupported (or the volume is a subvolume).
	ProjectID uint32 `json:"projectID,omitempty"`
	// QuotaBytes is the limit set; Warned says the claim was told the
	// capacity is not enforced.
	QuotaBytes int64 `json:"quotaBytes,omitempty"`
	Warned     bool  `json:"warned,omitempty"`
	// Over says an unenforced volume was last measured over its
	// capacity (and its claim told so).
	Over bool `json:"over,omitempty"`
}

// localPaths is the node side of the local-path provisioner: it watches
// the PVs labelled for the node, creates their directories (0777, as
// k3s's local-path) bounded to their capacity where the filesystem can
// (a btrfs subvolume with a qgroup limit, or a project quota on ext4 and
// xfs), and removes the directories it created once their PV is gone.
// The volumes it cannot bound it measures every usageEvery and warns
// their claims when they go over. Pods mount a local-path PV's directory
// only after this loop has seen the PV (volumePath), so a sweep never
// races a new volume.
type localPaths struct {
	dir        string
	node       string
	client     kubernetes.Interface
	recorder   record.EventRecorder // nil: no events
	log        *slog.Logger
	clock      clock.Clock
	usageEvery time.Duration // < 0: usage is not measured

	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	vols    map[string]*lpVolume
	changed chan struct{} // closed and replaced whenever the informer changes
}

// localPathsConfig configures newLocalPaths.
type localPathsConfig struct {
	// Dir is the storage dir; Node the agent's node.
	Dir, Node string
	Client    kubernetes.Interface
	// Recorder records the claims' events; nil records none.
	Recorder record.EventRecorder
	Log      *slog.Logger
	// Clock ticks the usage checks (the real one by default), every
	// UsageEvery (DefaultVolumeUsageInterval; < 0 turns them off).
	Clock      clock.Clock
	UsageEvery time.Duration
}

// newLocalPaths loads the state kept in cfg.Dir.
func newLocalPaths(cfg localPathsConfig) (*localPaths, error) {
	dir, node, client := cfg.Dir, cfg.Node, cfg.Client
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.UsageEvery == 0 {
		cfg.UsageEvery = DefaultVolumeUsageInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("local-path storage dir: %w", err)
	}
	l := &localPaths{dir: dir, node: node, client: client, recorder: cfg.Recorder, log: cfg.Log,
		clock: cfg.Clock, usageEvery: cfg.UsageEvery,
		vols: map[string]*lpVolume{}, changed: make(chan struct{})}
	b, err := os.ReadFile(filepath.Join(dir, localPathState))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("local-path state: %w", err)
	default:
		if err := json.Unmarshal(b, &l.vols); err != nil {
			return nil, fmt.Errorf("local-path state %s: %w", filepath.Join(dir, localPathState), err)
		}
	}
	l.informer = cache.NewSharedIndexInformer(cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(),
		"persistentvolumes", metav1.NamespaceAll, func(o *metav1.ListOptions) {
			o.LabelSelector = LocalPathNodeLabel + "=" + node
		}), &corev1.PersistentVolume{}, 0, cache.Indexers{})
	l.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "local-path"})
	_, err = l.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { l.notify(o) },
		UpdateFunc: func(_, o any) { l.notify(o) },
		DeleteFunc: func(o any) { l.notify(o) },
	})
	if err != nil {
		return nil, fmt.Errorf("local-path informer: %w", err)
	}
	return l, nil
}

// notify queues the PV's name and wakes the mounts waiting for it.
func (l *localPaths) notify(o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	if pv, ok := o.(*corev1.PersistentVolume); ok {
		l.queue.Add(pv.Name)
	}
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// run watches the node's PVs and keeps their directories until ctx is
// done.
func (l *localPaths) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.queue.ShutDown()
	wg.Go(func() { l.informer.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), l.informer.HasSynced) {
		return
	}
	l.queue.Add("") // the first sweep, of volumes deleted while the agent was away
	if l.usageEvery > 0 {
		wg.Go(func() { l.watchUsage(ctx) })
	}
	wg.Go(func() {
		for {
			name, quit := l.queue.Get()
			if quit {
				return
			}
			err := l.sync(ctx, name)
			if err != nil {
				l.log.Warn("local-path volume", "volume", name, "err", err)
				l.queue.AddRateLimited(name)
			} else {
				l.queue.Forget(name)
			}
			l.queue.Done(name)
		}
	})
	<-ctx.Done()
}

// sync creates (and bounds) the directory of the PV named name, or, when
// the PV is gone, removes the directories whose PVs are.
func (l *localPaths) sync(ctx context.Context, name string) error {
	if name != "" {
		if obj, ok, _ := l.informer.GetStore().GetByKey(name); ok {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.ensure(ctx, obj.(*corev1.PersistentVolume))
		}
	}
	return l.sweep()
}

// ownPath is the PV's directory when it is one of the agent's: right
// under the storage dir and named after the PV.
func (l *localPaths) ownPath(pv *corev1.PersistentVolume) (string, bool) {
	if pv.Spec.Local == nil {
		return "", false
	}
	p := filepath.Clean(pv.Spec.Local.Path)
	return p, filepath.Dir(p) == filepath.Clean(l.dir) && filepath.Base(p) == pv.Name
}

// ensure creates pv's directory and sets its quota; l.mu is held.
func (l *localPaths) ensure(ctx context.Context, pv *corev1.PersistentVolume) error {
	p, ok := l.ownPath(pv)
	if !ok {
		return nil // not a directory this agent keeps
	}
	v := l.vols[pv.Name]
	if v == nil {
		v = &lpVolume{Subvolume: onBtrfs(l.dir)}
		l.vols[pv.Name] = v
		// Marked before it exists: a crash leaves a mark, never an
		// unmarked directory that would stay forever.
		if err := l.save(); err != nil {
			return err
		}
	}
	if err := l.create(p, v); err != nil {
		return err
	}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	bytes := size.Value()
	if bytes <= 0 || v.Warned || v.QuotaBytes == bytes {
		return nil
	}
	var err error
	if v.Subvolume {
		err = setSubvolumeLimit(p, bytes)
	} else {
		err = l.setQuota(p, v, bytes)
	}
	if errors.Is(err, ErrQuotaUnsupported) {
		v.Warned = true
		l.warnNotEnforced(ctx, pv, err)
		return l.save()
	}
	if err != nil {
		return fmt.Errorf("volume %s: %w", pv.Name, err)
	}
	v.QuotaBytes = bytes
	return l.save()
}

// create makes the volume's directory p, 0777, unless it is there: a
// btrfs subvolume when v says so (a plain directory, left unbounded,
// when the filesystem refuses one), else a plain directory.
func (l *localPaths) create(p string, v *lpVolume) error {
	var err error
	plain := !v.Subvolume
	if v.Subvolume {
		err = createSubvolume(l.dir, filepath.Base(p))
		if err != nil && !errors.Is(err, os.ErrExist) {
			// Left unbounded (setSubvolumeLimit finds no subvolume),
			// which the claim hears.
			l.log.Warn("local-path volume is a plain directory", "path", p, "err", err)
			plain = true
		}
	}
	if plain {
		err = os.Mkdir(p, 0o777)
	}
	switch {
	case errors.Is(err, os.ErrExist):
		return nil
	case err != nil:
		return fmt.Errorf("create volume directory: %w", err)
	}
	if err := os.Chmod(p, 0o777); err != nil { // past the umask
		return fmt.Errorf("create volume directory: %w", err)
	}
	return nil
}

// setQuota gives v a project id (once: the smallest one neither the
// agent's other volumes nor anything on the filesystem uses) and bounds
// it to bytes.
func (l *localPaths) setQuota(p string, v *lpVolume, bytes int64) error {
	if v.ProjectID == 0 {
		taken := map[uint32]bool{}
		for _, o := range l.vols {
			taken[o.ProjectID] = true
		}
		for id := uint32(firstProjectID); ; id++ {
			if taken[id] {
				continue
			}
			used, err := projectUsed(p, id)
			if err != nil {
				return err
			}
			if !used {
				v.ProjectID = id
				break
			}
		}
		if err := l.save(); err != nil {
			return err
		}
	}
	return setProjectQuota(p, v.ProjectID, bytes)
}

// warnNotEnforced tells the PV's claim, once, that its capacity is not a
// limit on this node.
func (l *localPaths) warnNotEnforced(ctx context.Context, pv *corev1.PersistentVolume, why error) {
	l.log.Info("local-path capacity not enforced", "volume", pv.Name, "reason", why.Error())
	ref := pv.Spec.ClaimRef
	if l.recorder == nil || ref == nil {
		return
	}
	claim := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ref.Namespace, Name: ref.Name, UID: ref.UID}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	checked := "; its usage is checked periodically and " + EventVolumeCapacityExceeded + " is reported when it goes over"
	if l.usageEvery < 0 {
		checked = ""
	}
	l.recorder.Eventf(claim, corev1.EventTypeWarning, EventVolumeCapacityNotEnforced,
		"capacity %s of volume %s is not enforced on node %s: %v%s", size.String(), pv.Name, l.node, why, checked)
}

// sweep removes the directories the agent created whose PVs are gone
// from the synced informer.
func (l *localPaths) sweep() error {
	if !l.informer.HasSynced() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for name, v := range l.vols {
		if _, ok, _ := l.informer.GetStore().GetByKey(name); ok {
			continue
		}
		p := filepath.Join(l.dir, name)
		if v.ProjectID != 0 {
			_ = setProjectQuota(p, v.ProjectID, 0) // free the id's limit; the files go next
		}
		if err := l.remove(p, v); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(l.vols, name)
		l.log.Info("removed local-path volume directory", "volume", name)
	}
	if err := l.save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove deletes the volume directory p: a subvolume at once, with its
// contents, a plain directory file by file.
func (l *localPaths) remove(p string, v *lpVolume) error {
	if v.Subvolume {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove volume directory: %w", err)
		}
		sub, err := isSubvolume(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("remove volume directory: %w", err)
		}
		if sub {
			return destroySubvolume(l.dir, filepath.Base(p))
		}
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove volume directory: %w", err)
	}
	return nil
}

// save writes the state atomically; l.mu is held.
func (l *localPaths) save() error {
	b, err := json.Marshal(l.vols)
	if err != nil {
		return err
	}
	tmp := filepath.Join(l.dir, localPathState+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("local-path state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.dir, localPathState)); err != nil {
		return fmt.Errorf("local-path state: %w", err)
	}
	return nil
}

// volumePath is the directory a pod mounts for pv, one of this node's
// local-path volumes: it waits (until ctx is done) for the loop to have
// seen pv, then makes sure the directory is there.
func (l *localPaths) volumePath(ctx context.Context, pv *corev1.PersistentVolume) (string, error) {
	for {
		l.mu.Lock()
		ch := l.changed
		obj, ok, _ := l.informer.GetStore().GetByKey(pv.Name)
		if ok && obj.(*corev1.PersistentVolume).UID == pv.UID {
			err := l.ensure(ctx, obj.(*corev1.PersistentVolume))
			l.mu.Unlock()
			if p, own := l.ownPath(pv); own {
				return p, err
			}
			return pv.Spec.Local.Path, err
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("local-path volume %s not yet seen by node %s", pv.Name, l.node)
		case <-ch:
		}
	}
}

// localPathWait bounds how long a mount waits for the loop to see a new
// PV before the pod sync fails and retries.
const localPathWait = 10 * time.Second
