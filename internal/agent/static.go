package agent

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Annotations of static pods, as upstream's kubelet sets them. The mirror
// pod in the API carries corev1.MirrorPodAnnotationKey
// (kubernetes.io/config.mirror) with the static pod's hash besides.
const (
	AnnotationConfigSource = "kubernetes.io/config.source"
	AnnotationConfigHash   = "kubernetes.io/config.hash"
	AnnotationConfigSeen   = "kubernetes.io/config.seen"
	// ConfigSourceFile is the config.source of pods from the manifest folder.
	ConfigSourceFile = "file"
)

// DefaultManifestScanInterval is how often the manifest folder is read
// again. Upstream's kubelet reads it every 20 s; a scan of a small folder
// is cheap, so skiff looks more often.
const DefaultManifestScanInterval = 5 * time.Second

// Keys of the static work item: a scan of the folder (which also syncs
// the mirror pods), or a sync of the mirror pods alone.
const (
	staticKeyScan    = "scan"
	staticKeyMirrors = "mirrors"
)

// staticState is what the agent knows of its static pods and their mirror
// pods; guarded by Agent.mu. The static pods themselves are entries of
// Agent.pods, keyed by their hash-derived UID.
type staticState struct {
	// byName maps a static pod's namespace/name to its UID.
	byName map[string]types.UID
	// byFile maps a manifest file to the UID of the pod it defines.
	byFile map[string]types.UID
	// uids holds every static pod UID the agent runs (also terminating ones).
	uids map[types.UID]bool
	// mirrors are the mirror pods bound to this node, by namespace/name.
	mirrors map[string]*corev1.Pod
	// scanned is set once the folder was read: before that, no mirror pod
	// is an orphan and no runtime object of a static pod is.
	scanned bool
	// failed remembers the error last logged per file, to log it once.
	failed map[string]string
}

func newStaticState() staticState {
	return staticState{byName: map[string]types.UID{}, byFile: map[string]types.UID{}, uids: map[types.UID]bool{},
		mirrors: map[string]*corev1.Pod{}, failed: map[string]string{}}
}

// isMirrorPod reports whether pod is the API's mirror of a static pod.
func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

func fullName(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// isStatic reports whether uid is one of the agent's static pods.
func (a *Agent) isStatic(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.static.uids[uid]
}

// staticPodFromManifest turns the content of one manifest file into the
// static pod the node runs, as upstream's kubelet does: named
// <name>-<node>, in namespace default unless it says, bound to the node,
// tolerating every NoExecute taint, with a UID that is a hash of the node,
// the file and the pod, and the config annotations. It is pure but for
// the decoding.
func staticPodFromManifest(data []byte, file, nodeName string, seen time.Time) (*corev1.Pod, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", file, err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, fmt.Errorf("decode %s: %w", file, err)
	}
	if tm.APIVersion != "v1" || tm.Kind != "Pod" {
		return nil, fmt.Errorf("decode %s: want apiVersion v1 and kind Pod, got %q %q", file, tm.APIVersion, tm.Kind)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(js, pod); err != nil {
		return nil, fmt.Errorf("decode %s: %w", file, err)
	}
	if pod.Name == "" {
		return nil, fmt.Errorf("static pod in %s: metadata.name is required", file)
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("static pod in %s: spec.containers is required", file)
	}
	// The hash covers the pod as written (not its defaults), the node and
	// the file, so that the UID changes exactly when the manifest does.
	canon, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	h := md5.New()
	fmt.Fprintf(h, "host:%s", nodeName)
	fmt.Fprintf(h, "file:%s", file)
	h.Write(canon)
	hash := hex.EncodeToString(h.Sum(nil))

	pod.Name = pod.Name + "-" + strings.ToLower(nodeName)
	if errs := validation.IsDNS1123Subdomain(pod.Name); len(errs) > 0 {
		return nil, fmt.Errorf("static pod in %s: name %q: %s", file, pod.Name, strings.Join(errs, "; "))
	}
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	if errs := validation.IsDNS1123Label(pod.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("static pod in %s: namespace %q: %s", file, pod.Namespace, strings.Join(errs, "; "))
	}
	pod.UID = types.UID(hash)
	pod.ResourceVersion, pod.Generation, pod.ManagedFields, pod.OwnerReferences = "", 0, nil, nil
	pod.CreationTimestamp = metav1.NewTime(seen)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	delete(pod.Annotations, corev1.MirrorPodAnnotationKey)
	pod.Annotations[AnnotationConfigHash] = hash
	pod.Annotations[AnnotationConfigSource] = ConfigSourceFile
	pod.Annotations[AnnotationConfigSeen] = seen.Format(time.RFC3339Nano)
	pod.Spec.NodeName = nodeName
	defaultStaticPod(pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	return pod, nil
}

// defaultStaticPod sets what the API server's defaulting would, for the
// fields the agent reads: a static pod never goes through the API.
func defaultStaticPod(pod *corev1.Pod) {
	s := &pod.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr.To(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if s.EnableServiceLinks == nil {
		s.EnableServiceLinks = ptr.To(corev1.DefaultEnableServiceLinks)
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			c := &cs[i]
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = corev1.PullIfNotPresent
				if imageTag(c.Image) == "latest" {
					c.ImagePullPolicy = corev1.PullAlways
				}
			}
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
	// Upstream's kubelet lets static pods tolerate every NoExecute taint:
	// nothing could evict them anyway.
	hasAll := false
	for _, t := range s.Tolerations {
		hasAll = hasAll || t.Key == "" && t.Operator == corev1.TolerationOpExists && t.Effect == corev1.TaintEffectNoExecute
	}
	if !hasAll {
		s.Tolerations = append(s.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	}
}

// imageTag is an image reference's tag: "latest" when it has neither tag
// nor digest, "" with a digest.
func imageTag(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return "latest"
}

// manifestFiles lists the folder's pod manifests (*.yaml, *.yml, *.json,
// not hidden), sorted.
func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		switch strings.ToLower(filepath.Ext(n)) {
		case ".yaml", ".yml", ".json":
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// staticPlan is what a scan of the manifest folder changes.
type staticPlan struct {
	// add are new static pods to run.
	add []*corev1.Pod
	// remove are UIDs of static pods whose manifest is gone or changed.
	remove []types.UID
}

// planStatic compares the pods the manifests define (by file; a file that
// could not be read maps to its previous UID, if any, so that a
// half-written file does not stop its pod) with the static pods the agent
// runs. A new pod whose name is still used by a pod being replaced waits
// for the next scan, as upstream lets the old one terminate first. Pure.
func planStatic(desired map[string]*corev1.Pod, keep map[string]types.UID, running map[types.UID]*corev1.Pod) staticPlan {
	var plan staticPlan
	want := map[types.UID]bool{}
	names := map[string]bool{}
	files := make([]string, 0, len(desired))
	for f := range desired {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		p := desired[f]
		if names[fullName(p)] {
			// Two files define the same pod name: the first one wins.
			continue
		}
		names[fullName(p)] = true
		want[p.UID] = true
	}
	for _, uid := range keep {
		want[uid] = true
	}
	busy := map[string]bool{}
	for uid, p := range running {
		if !want[uid] {
			if p.DeletionTimestamp == nil {
				plan.remove = append(plan.remove, uid)
			}
		}
		busy[fullName(p)] = true
	}
	sort.Slice(plan.remove, func(i, j int) bool { return plan.remove[i] < plan.remove[j] })
	for _, f := range files {
		p := desired[f]
		if !want[p.UID] || running[p.UID] != nil || busy[fullName(p)] {
			continue
		}
		busy[fullName(p)] = true
		plan.add = append(plan.add, p)
	}
	return plan
}

// scanManifests reads the manifest folder and starts, stops or replaces
// static pods accordingly; the first scan happens before any sweep, so that
// the runtime objects of static pods are never taken for orphans.
func (a *Agent) scanManifests() {
	dir := a.cfg.PodManifestPath
	desired := map[string]*corev1.Pod{}
	keep := map[string]types.UID{}
	var files []string
	if dir != "" {
		var err error
		files, err = manifestFiles(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("read pod manifest folder", "dir", dir, "err", err)
			// Keep everything as it is until the folder can be read.
			a.mu.Lock()
			for f, uid := range a.static.byFile {
				keep[f] = uid
			}
			a.mu.Unlock()
		}
	}
	now := a.cfg.Clock.Now()
	for _, f := range files {
		data, err := os.ReadFile(f)
		var pod *corev1.Pod
		if err == nil {
			pod, err = staticPodFromManifest(data, f, a.cfg.NodeName, now)
		}
		a.mu.Lock()
		if err != nil {
			if a.static.failed[f] != err.Error() {
				a.log.Warn("static pod manifest", "file", f, "err", err)
				a.static.failed[f] = err.Error()
			}
			if uid, ok := a.static.byFile[f]; ok {
				keep[f] = uid
			}
		} else {
			delete(a.static.failed, f)
			desired[f] = pod
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	running := map[types.UID]*corev1.Pod{}
	for uid := range a.static.uids {
		if e := a.pods[uid]; e != nil && e.pod != nil {
			running[uid] = e.pod
		}
	}
	plan := planStatic(desired, keep, running)
	var changed []types.UID
	for _, uid := range plan.remove {
		e := a.pods[uid]
		p := e.pod.DeepCopy()
		p.DeletionTimestamp = &metav1.Time{Time: now}
		p.DeletionGracePeriodSeconds = p.Spec.TerminationGracePeriodSeconds
		e.pod = p
		changed = append(changed, uid)
	}
	for _, p := range plan.add {
		a.pods[p.UID] = &podEntry{pod: p}
		a.static.uids[p.UID] = true
		a.static.byName[fullName(p)] = p.UID
		changed = append(changed, p.UID)
	}
	a.static.byFile = map[string]types.UID{}
	for f, uid := range keep {
		a.static.byFile[f] = uid
	}
	for f, p := range desired {
		if a.static.uids[p.UID] {
			a.static.byFile[f] = p.UID
		}
	}
	a.static.scanned = true
	a.mu.Unlock()
	for _, uid := range changed {
		a.pool.add(item{a: a, kind: itemPod, key: string(uid)})
	}
}

// mirrorUpdated records a mirror pod from the API; the agent never runs
// it, it runs the static pod it mirrors.
func (a *Agent) mirrorUpdated(pod *corev1.Pod) {
	a.mu.Lock()
	a.static.mirrors[fullName(pod)] = pod
	uid, ok := a.static.byName[fullName(pod)]
	a.mu.Unlock()
	a.pool.add(item{a: a, kind: itemStatic, key: staticKeyMirrors})
	if ok {
		// A new mirror pod needs the static pod's status.
		a.pool.add(item{a: a, kind: itemPod, key: string(uid)})
	}
}

// mirrorDeleted forgets a mirror pod deleted from the API; the next mirror
// sync creates it again while the static pod runs.
func (a *Agent) mirrorDeleted(pod *corev1.Pod) {
	a.mu.Lock()
	if cur := a.static.mirrors[fullName(pod)]; cur != nil && cur.UID == pod.UID {
		delete(a.static.mirrors, fullName(pod))
	}
	a.mu.Unlock()
	a.pool.add(item{a: a, kind: itemStatic, key: staticKeyMirrors})
}

// mirrorPlan is what syncMirrors does: create mirror pods of static pods
// that have none, delete mirror pods that are orphans, stale (another
// hash) or being deleted (they come back at once, as upstream).
type mirrorPlan struct {
	create []*corev1.Pod
	delete []*corev1.Pod
}

// planMirrors compares the static pods with the mirror pods. Pure.
func planMirrors(static map[string]*corev1.Pod, mirrors map[string]*corev1.Pod) mirrorPlan {
	var plan mirrorPlan
	for name, m := range mirrors {
		sp := static[name]
		if sp == nil || m.DeletionTimestamp != nil || m.Annotations[corev1.MirrorPodAnnotationKey] != sp.Annotations[AnnotationConfigHash] {
			plan.delete = append(plan.delete, m)
		}
	}
	for name, sp := range static {
		if mirrors[name] == nil && sp.DeletionTimestamp == nil {
			plan.create = append(plan.create, sp)
		}
	}
	sort.Slice(plan.create, func(i, j int) bool { return fullName(plan.create[i]) < fullName(plan.create[j]) })
	sort.Slice(plan.delete, func(i, j int) bool { return fullName(plan.delete[i]) < fullName(plan.delete[j]) })
	return plan
}

// mirrorPodFor is the mirror pod of a static pod: a copy with the mirror
// annotation, owned by the Node (so that it goes with the Node), with no
// UID or status of its own.
func mirrorPodFor(sp *corev1.Pod, nodeName string, nodeUID types.UID) *corev1.Pod {
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: sp.Name, Namespace: sp.Namespace, Labels: sp.Labels,
			Annotations: map[string]string{},
		},
		Spec: *sp.Spec.DeepCopy(),
	}
	for k, v := range sp.Annotations {
		m.Annotations[k] = v
	}
	m.Annotations[corev1.MirrorPodAnnotationKey] = sp.Annotations[AnnotationConfigHash]
	if nodeUID != "" {
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: nodeUID, Controller: ptr.To(true)}}
	}
	return m
}

// syncMirrors creates and deletes mirror pods per planMirrors.
func (a *Agent) syncMirrors(ctx context.Context) error {
	a.mu.Lock()
	if !a.static.scanned {
		a.mu.Unlock()
		return nil
	}
	static := map[string]*corev1.Pod{}
	for name, uid := range a.static.byName {
		if e := a.pods[uid]; e != nil && e.pod != nil {
			static[name] = e.pod
		}
	}
	mirrors := make(map[string]*corev1.Pod, len(a.static.mirrors))
	for k, v := range a.static.mirrors {
		mirrors[k] = v
	}
	nodeUID := a.nodeUID
	a.mu.Unlock()
	plan := planMirrors(static, mirrors)
	var errs []error
	for _, m := range plan.delete {
		if err := a.deleteMirror(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	pods := a.cfg.Client.CoreV1().Pods
	for _, sp := range plan.create {
		_, err := pods(sp.Namespace).Create(ctx, mirrorPodFor(sp, a.cfg.NodeName, nodeUID), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			errs = append(errs, fmt.Errorf("create mirror pod %s: %w", fullName(sp), err))
		}
	}
	return errors.Join(errs...)
}

// deleteMirror deletes a mirror pod at once, if it is still that one.
func (a *Agent) deleteMirror(ctx context.Context, m *corev1.Pod) error {
	err := a.cfg.Client.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &m.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete mirror pod %s: %w", fullName(m), err)
	}
	return nil
}

// writeMirrorStatus is writeStatus for a static pod: the status is kept
// on the static pod (it has no API object to read it back from) and
// written to its mirror pod, when there is a current one.
func (a *Agent) writeMirrorStatus(ctx context.Context, e *podEntry, pod *corev1.Pod, obs Observed) error {
	a.mu.Lock()
	rtName := a.runtimeName
	a.mu.Unlock()
	st := computeStatus(pod, obs, statusInput{RuntimeName: rtName, HostIPs: a.cfg.NodeIPs, Now: a.cfg.Clock.Now()})
	a.mu.Lock()
	if e.pod != nil && e.pod.UID == pod.UID && !statusEqual(&st, &e.pod.Status) {
		p := *e.pod
		p.Status = st
		e.pod = &p
	}
	m := a.static.mirrors[fullName(pod)]
	a.mu.Unlock()
	if m == nil || m.DeletionTimestamp != nil || m.Annotations[corev1.MirrorPodAnnotationKey] != pod.Annotations[AnnotationConfigHash] || statusEqual(&st, &m.Status) {
		return nil
	}
	pods := a.cfg.Client.CoreV1().Pods(m.Namespace)
	up := m.DeepCopy()
	up.Status = st
	_, err := pods.UpdateStatus(ctx, up, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		cur, gerr := pods.Get(ctx, m.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if cur.UID != m.UID {
			return nil
		}
		cur.Status = st
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteStaticPod ends a static pod whose containers and sandboxes are
// gone: its mirror pod is deleted, the agent forgets it and removes its
// volumes and cgroup, and a scan starts a replacement of the same name.
func (a *Agent) deleteStaticPod(ctx context.Context, pod *corev1.Pod) error {
	a.mu.Lock()
	m := a.static.mirrors[fullName(pod)]
	a.mu.Unlock()
	if m != nil && m.Annotations[corev1.MirrorPodAnnotationKey] == pod.Annotations[AnnotationConfigHash] {
		if err := a.deleteMirror(ctx, m); err != nil {
			return err
		}
	}
	a.mu.Lock()
	if e := a.pods[pod.UID]; e != nil {
		e.deleted = true
		e.probes = nil
		delete(a.pods, pod.UID)
	}
	delete(a.static.uids, pod.UID)
	if a.static.byName[fullName(pod)] == pod.UID {
		delete(a.static.byName, fullName(pod))
	}
	a.mu.Unlock()
	a.cleanupPod(ctx, pod.UID)
	a.pool.add(item{a: a, kind: itemStatic, key: staticKeyScan})
	return nil
}

// processStatic runs a static work item: a scan (requeued every
// ManifestScanInterval) then a mirror sync, or a mirror sync alone. A
// failed mirror sync is retried by the next scan, or after
// ManifestScanInterval when there is no manifest folder.
func (a *Agent) processStatic(ctx context.Context, it item) {
	if it.key == staticKeyScan {
		a.scanManifests()
		if a.cfg.PodManifestPath != "" {
			a.pool.addAfter(it, a.cfg.ManifestScanInterval)
		}
	}
	if err := a.syncMirrors(ctx); err != nil {
		a.log.Warn("sync mirror pods", "err", err)
		if a.cfg.PodManifestPath == "" {
			a.pool.addAfter(item{a: a, kind: itemStatic, key: staticKeyMirrors}, a.cfg.ManifestScanInterval)
		}
	}
}
