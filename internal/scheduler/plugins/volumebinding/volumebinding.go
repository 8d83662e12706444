package volumebinding

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"skiff/internal/scheduler/framework"

	"skiff/internal/volumematch"
)

// Name is the plugin's name in configuration.
const Name = "VolumeBinding"

// User-visible reasons, as upstream words them.
const (
	ErrReasonBindConflict       = "node(s) didn't find available persistent volumes to bind"
	ErrReasonNodeConflict       = "node(s) had volume node affinity conflict"
	ErrReasonPVNotExist         = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	ErrReasonUnboundImmediatePV = "pod has unbound immediate PersistentVolumeClaims"
)

// Annotations the plugin reads and writes, as upstream names them.
const (
	AnnSelectedNode      = "volume.kubernetes.io/selected-node"
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	AnnBindCompleted     = "pv.kubernetes.io/bind-completed"
	// NoProvisioner is the provisioner of classes of static PVs only.
	NoProvisioner = "kubernetes.io/no-provisioner"
)

// DefaultBindTimeout is how long PreBind waits for the claims to be bound.
const DefaultBindTimeout = 600 * time.Second

const classIndex = "storageClass"

// VolumeBinding is the plugin.
type VolumeBinding struct {
	// snapshot is the scheduling cycle's nodes (Reserve runs in the cycle).
	snapshot func() framework.SharedLister
	// skip is the prebuilt PreFilter Skip: pods without volumes, the
	// usual case, cost no allocation.
	skip     *framework.Status
	client   kubernetes.Interface
	pvcs     listersv1.PersistentVolumeClaimLister
	pvs      listersv1.PersistentVolumeLister
	pvIndex  cache.Indexer
	classes  storagelisters.StorageClassLister
	timeout  time.Duration
	assumed  *assumeCache
	changes  *notifier
	stateKey framework.StateKey
}

var (
	_ framework.PreFilterPlugin = (*VolumeBinding)(nil)
	_ framework.FilterPlugin    = (*VolumeBinding)(nil)
	_ framework.ReservePlugin   = (*VolumeBinding)(nil)
	_ framework.PreBindPlugin   = (*VolumeBinding)(nil)
)

// New builds the plugin and registers the informers it reads (PVCs, PVs,
// StorageClasses).
func New(args runtime.Object, h framework.Handle) (framework.Plugin, error) {
	timeout := DefaultBindTimeout
	if a, ok := args.(*configv1.VolumeBindingArgs); ok && a != nil && a.BindTimeoutSeconds != nil {
		if *a.BindTimeoutSeconds < 0 {
			return nil, fmt.Errorf("bindTimeoutSeconds %d is negative", *a.BindTimeoutSeconds)
		}
		timeout = time.Duration(*a.BindTimeoutSeconds) * time.Second
	}
	f := h.SharedInformerFactory()
	pvInf := f.Core().V1().PersistentVolumes().Informer()
	if _, ok := pvInf.GetIndexer().GetIndexers()[classIndex]; !ok {
		if err := pvInf.AddIndexers(cache.Indexers{classIndex: func(obj any) ([]string, error) {
			pv, ok := obj.(*v1.PersistentVolume)
			if !ok {
				return nil, nil
			}
			return []string{volumematch.VolumeClass(pv)}, nil
		}}); err != nil {
			return nil, fmt.Errorf("index persistent volumes: %w", err)
		}
	}
	pl := &VolumeBinding{
		snapshot: h.SnapshotSharedLister,
		skip:     framework.NewStatus(framework.Skip).WithPlugin(Name),
		client:   h.ClientSet(),
		pvcs:     f.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:      f.Core().V1().PersistentVolumes().Lister(),
		pvIndex:  pvInf.GetIndexer(),
		classes:  f.Storage().V1().StorageClasses().Lister(),
		timeout:  timeout,
		assumed:  newAssumeCache(),
		changes:  newNotifier(),
		stateKey: Name,
	}
	if _, err := pvInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { pl.changes.notify() },
		UpdateFunc: func(_, obj any) {
			if pv, ok := obj.(*v1.PersistentVolume); ok {
				pl.assumed.observed(pv)
			}
			pl.changes.notify()
		},
		DeleteFunc: func(obj any) {
			if pv, ok := obj.(*v1.PersistentVolume); ok {
				pl.assumed.forget(pv.Name)
			}
			pl.changes.notify()
		},
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volumes: %w", err)
	}
	if _, err := f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { pl.changes.notify() },
		UpdateFunc: func(_, _ any) { pl.changes.notify() },
		DeleteFunc: func(any) { pl.changes.notify() },
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volume claims: %w", err)
	}
	f.Storage().V1().StorageClasses().Informer()
	return pl, nil
}

// Name implements framework.Plugin.
func (*VolumeBinding) Name() string { return Name }

// binding is a static PV chosen for a claim.
type binding struct {
	pv  *v1.PersistentVolume
	pvc *v1.PersistentVolumeClaim
}

// podVolumes is what binding the pod's claims on one node takes.
type podVolumes struct {
	static    []binding
	provision []*v1.PersistentVolumeClaim
}

// stateData is the plugin's CycleState entry, written by PreFilter and
// read by Filter (in parallel over nodes) and Reserve; the binding cycle
// reads what Reserve chose. Clone shares it: preemption's what-if runs
// only read it.
type stateData struct {
	bound  []*v1.PersistentVolumeClaim
	toBind []*v1.PersistentVolumeClaim
	// candidates holds, per claim of toBind (same order), the PVs that
	// match it whatever the node.
	candidates []*candidates
	// reserved is what Reserve chose for the node picked.
	reserved *podVolumes
}

func (s *stateData) Clone() framework.StateData { return s }

// PreFilter implements framework.PreFilterPlugin. Pods without claims are
// skipped at once.
func (pl *VolumeBinding) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if !hasClaims(pod) {
		return nil, pl.skip
	}
	bound, toBind, st := pl.podClaims(pod)
	if st != nil {
		return nil, st
	}
	if len(toBind) > 1 {
		// Smallest claims choose first, as upstream.
		sort.SliceStable(toBind, func(i, j int) bool {
			a, b := toBind[i].Spec.Resources.Requests[v1.ResourceStorage], toBind[j].Spec.Resources.Requests[v1.ResourceStorage]
			return a.Cmp(b) < 0
		})
	}
	s := &stateData{bound: bound, toBind: toBind}
	for _, pvc := range toBind {
		c, err := pl.candidatesFor(pvc)
		if err != nil {
			return nil, framework.AsStatus(err)
		}
		s.candidates = append(s.candidates, c)
	}
	state.Write(pl.stateKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*VolumeBinding) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func hasClaims(pod *v1.Pod) bool {
	for i := range pod.Spec.Volumes {
		if v := &pod.Spec.Volumes[i]; v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			return true
		}
	}
	return false
}

// podClaims sorts the pod's claims into bound ones and unbound
// WaitForFirstConsumer ones; anything else rejects the pod on every node.
func (pl *VolumeBinding) podClaims(pod *v1.Pod) (bound, toBind []*v1.PersistentVolumeClaim, st *framework.Status) {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var name string
		ephemeral := false
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			name, ephemeral = pod.Name+"-"+v.Name, true
		default:
			continue
		}
		pvc, err := pl.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			if ephemeral {
				return nil, nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
					fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name))
			}
			return nil, nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return nil, nil, framework.AsStatus(err)
		}
		if ephemeral && !metav1.IsControlledBy(pvc, pod) {
			return nil, nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", pvc.Namespace, pvc.Name, pod.Namespace, pod.Name))
		}
		if pvc.DeletionTimestamp != nil {
			return nil, nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q is being deleted", pvc.Name))
		}
		if pvc.Spec.VolumeName != "" {
			bound = append(bound, pvc)
			continue
		}
		if pl.delayBinding(pvc) {
			toBind = append(toBind, pvc)
			continue
		}
		return nil, nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonUnboundImmediatePV)
	}
	return bound, toBind, nil
}

// delayBinding reports whether the claim's class waits for a consumer.
func (pl *VolumeBinding) delayBinding(pvc *v1.PersistentVolumeClaim) bool {
	name := volumematch.ClaimClass(pvc)
	if name == "" {
		return false
	}
	class, err := pl.classes.Get(name)
	if err != nil {
		return false
	}
	return class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

func (pl *VolumeBinding) readState(state *framework.CycleState) *stateData {
	d, err := state.Read(pl.stateKey)
	if err != nil {
		return nil
	}
	return d.(*stateData)
}

// Filter implements framework.FilterPlugin.
func (pl *VolumeBinding) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s := pl.readState(state)
	if s == nil {
		return nil
	}
	node := ni.Node()
	var reasons []string
	for _, pvc := range s.bound {
		pv := pl.pv(pvc.Spec.VolumeName)
		if pv == nil {
			reasons = append(reasons, ErrReasonPVNotExist)
			break
		}
		if !fitsNode(pv, node) {
			reasons = append(reasons, ErrReasonNodeConflict)
			break
		}
	}
	if len(s.toBind) > 0 {
		if !pl.findVolumes(s, node, nil) {
			reasons = append(reasons, ErrReasonBindConflict)
		}
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reasons...)
	}
	return nil
}

// pv returns the PV as the plugin sees it: the assumed version if there
// is one still newer than the informer's.
func (pl *VolumeBinding) pv(name string) *v1.PersistentVolume {
	pv, err := pl.pvs.Get(name)
	if err != nil {
		return nil
	}
	return pl.assumed.get(pv)
}

// fitsNode reports whether the PV's required node affinity admits node.
func fitsNode(pv *v1.PersistentVolume, node *v1.Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	ok, err := corev1helpers.MatchNodeSelectorTerms(node, pv.Spec.NodeAffinity.Required)
	return err == nil && ok
}

// candidates are the PVs that match one claim on some node: those
// pre-bound to it, then the others by ascending capacity; local PVs (node
// affinity naming one hostname) sorted by hostname apart, so that Filter
// looks only at a node's own.
type candidates struct {
	prebound []*v1.PersistentVolume
	hosted   []hostedPV
	other    []*v1.PersistentVolume
}

type hostedPV struct {
	host string
	pv   *v1.PersistentVolume
}

// candidatesFor runs the node-independent part of the binder's matching
// over the claim's class's PVs (as assumed).
func (pl *VolumeBinding) candidatesFor(pvc *v1.PersistentVolumeClaim) (*candidates, error) {
	objs, err := pl.pvIndex.ByIndex(classIndex, volumematch.ClaimClass(pvc))
	if err != nil {
		return nil, fmt.Errorf("list persistent volumes: %w", err)
	}
	c := &candidates{}
	m, err := volumematch.New(pvc)
	if err != nil {
		return c, nil // a selector that does not parse matches nothing
	}
	for _, o := range objs {
		pv := pl.assumed.get(o.(*v1.PersistentVolume))
		switch m.Match(pv) {
		case volumematch.Prebound:
			c.prebound = append(c.prebound, pv)
		case volumematch.Yes:
			if host, ok := singleHost(pv); ok {
				if c.hosted == nil {
					c.hosted = make([]hostedPV, 0, len(objs))
				}
				c.hosted = append(c.hosted, hostedPV{host: host, pv: pv})
			} else {
				c.other = append(c.other, pv)
			}
		}
	}
	byCapacity := func(a, b *v1.PersistentVolume) int {
		ca, cb := a.Spec.Capacity[v1.ResourceStorage], b.Spec.Capacity[v1.ResourceStorage]
		return ca.Cmp(cb)
	}
	slices.SortStableFunc(c.other, byCapacity)
	slices.SortStableFunc(c.hosted, func(a, b hostedPV) int {
		if a.host != b.host {
			return strings.Compare(a.host, b.host)
		}
		return byCapacity(a.pv, b.pv)
	})
	return c, nil
}

// singleHost returns the hostname a PV's node affinity pins it to, when it
// is exactly "kubernetes.io/hostname In [host]".
func singleHost(pv *v1.PersistentVolume) (string, bool) {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return "", false
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 0 || len(terms[0].MatchExpressions) != 1 {
		return "", false
	}
	e := terms[0].MatchExpressions[0]
	if e.Key != v1.LabelHostname || e.Operator != v1.NodeSelectorOpIn || len(e.Values) != 1 {
		return "", false
	}
	return e.Values[0], true
}

// pick returns the PV for the claim on node: a pre-bound one the node can
// reach, else the smallest candidate that fits the node and is not taken.
// PVs keyed by the node's hostname fit it by construction.
func (c *candidates) pick(node *v1.Node, taken []string) *v1.PersistentVolume {
	for _, pv := range c.prebound {
		if !slices.Contains(taken, pv.Name) && fitsNode(pv, node) {
			return pv
		}
	}
	var best *v1.PersistentVolume
	if host, ok := node.Labels[v1.LabelHostname]; ok && len(c.hosted) > 0 {
		i, _ := slices.BinarySearchFunc(c.hosted, host, func(h hostedPV, host string) int { return strings.Compare(h.host, host) })
		for ; i < len(c.hosted) && c.hosted[i].host == host; i++ {
			if pv := c.hosted[i].pv; !slices.Contains(taken, pv.Name) {
				best = pv
				break
			}
		}
	}
	for _, pv := range c.other {
		if best != nil {
			bc, pc := best.Spec.Capacity[v1.ResourceStorage], pv.Spec.Capacity[v1.ResourceStorage]
			if pc.Cmp(bc) >= 0 {
				break
			}
		}
		if !slices.Contains(taken, pv.Name) && fitsNode(pv, node) {
			best = pv
			break
		}
	}
	return best
}

// findVolumes picks, smallest claim first, the smallest matching PV that
// fits node for each claim, and checks that the others can be provisioned
// there; it reports false when some claim can be neither. The choices go
// to out when it is not nil (Filter only asks, Reserve records).
func (pl *VolumeBinding) findVolumes(s *stateData, node *v1.Node, out *podVolumes) bool {
	var buf [4]string
	taken := buf[:0]
	for i, pvc := range s.toBind {
		if pv := s.candidates[i].pick(node, taken); pv != nil {
			taken = append(taken, pv.Name)
			if out != nil {
				out.static = append(out.static, binding{pv: pv, pvc: pvc})
			}
			continue
		}
		if !pl.canProvision(pvc, node) {
			return false
		}
		if out != nil {
			out.provision = append(out.provision, pvc)
		}
	}
	return true
}

// canProvision reports whether the claim's class has a provisioner whose
// allowed topologies include node.
func (pl *VolumeBinding) canProvision(pvc *v1.PersistentVolumeClaim, node *v1.Node) bool {
	class, err := pl.classes.Get(volumematch.ClaimClass(pvc))
	if err != nil || class.Provisioner == "" || class.Provisioner == NoProvisioner {
		return false
	}
	return allowedTopologiesFit(class.AllowedTopologies, node.Labels)
}

// allowedTopologiesFit reports whether one of the terms (or no term at
// all) matches the node's labels.
func allowedTopologiesFit(terms []v1.TopologySelectorTerm, nodeLabels map[string]string) bool {
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms {
		ok := true
		for _, req := range term.MatchLabelExpressions {
			v, has := nodeLabels[req.Key]
			if !has || !slices.Contains(req.Values, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Reserve implements framework.ReservePlugin: the PVs chosen for node are
// assumed bound to their claims.
func (pl *VolumeBinding) Reserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	s := pl.readState(state)
	if s == nil || len(s.toBind) == 0 {
		return nil
	}
	ni := pl.snapshot().Get(nodeName)
	if ni == nil || ni.Node() == nil {
		return framework.AsStatus(fmt.Errorf("node %q not in the snapshot", nodeName))
	}
	vols := &podVolumes{}
	if !pl.findVolumes(s, ni.Node(), vols) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonBindConflict)
	}
	for _, b := range vols.static {
		if !pl.assumed.assume(bindVolumeToClaim(b.pv, b.pvc)) {
			pl.assumed.revert(vols)
			return framework.NewStatus(framework.Unschedulable, ErrReasonBindConflict)
		}
	}
	s.reserved = vols
	return nil
}

// bindVolumeToClaim returns a copy of pv bound to pvc as upstream's binder
// writes it: claimRef (with the claim's UID and version) and
// pv.kubernetes.io/bound-by-controller.
func bindVolumeToClaim(pv *v1.PersistentVolume, pvc *v1.PersistentVolumeClaim) *v1.PersistentVolume {
	out := pv.DeepCopy()
	out.Spec.ClaimRef = &v1.ObjectReference{
		Kind:            "PersistentVolumeClaim",
		APIVersion:      "v1",
		Namespace:       pvc.Namespace,
		Name:            pvc.Name,
		UID:             pvc.UID,
		ResourceVersion: pvc.ResourceVersion,
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnBoundByController] = "yes"
	return out
}

// Unreserve implements framework.ReservePlugin.
func (pl *VolumeBinding) Unreserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, _ string) {
	s := pl.readState(state)
	if s == nil || s.reserved == nil {
		return
	}
	pl.assumed.revert(s.reserved)
	s.reserved = nil
}

// PreBind implements framework.PreBindPlugin: it writes the bindings and
// waits until every claim of the pod is bound.
func (pl *VolumeBinding) PreBind(ctx context.Context, state *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	s := pl.readState(state)
	if s == nil || s.reserved == nil {
		return nil
	}
	if err := pl.bindVolumes(ctx, nodeName, s.reserved); err != nil {
		return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
	}
	return nil
}

func (pl *VolumeBinding) bindVolumes(ctx context.Context, nodeName string, vols *podVolumes) error {
	for _, b := range vols.static {
		pv := bindVolumeToClaim(b.pv, b.pvc)
		if _, err := pl.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("bind persistent volume %s to claim %s/%s: %w", pv.Name, b.pvc.Namespace, b.pvc.Name, err)
		}
	}
	// selectedAt is each claim's version before this write: until the
	// informer shows a newer one, a missing annotation means "not seen
	// yet", not "reset".
	selectedAt := map[types.UID]string{}
	for _, pvc := range vols.provision {
		cur, err := pl.pvcs.PersistentVolumeClaims(pvc.Namespace).Get(pvc.Name)
		if err != nil {
			return fmt.Errorf("get persistent volume claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
		if cur.UID != pvc.UID {
			return fmt.Errorf("persistent volume claim %s/%s was replaced", pvc.Namespace, pvc.Name)
		}
		if cur.Annotations[AnnSelectedNode] == nodeName {
			continue
		}
		selectedAt[cur.UID] = cur.ResourceVersion
		cur = cur.DeepCopy()
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[AnnSelectedNode] = nodeName
		if _, err := pl.client.CoreV1().PersistentVolumeClaims(cur.Namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("select node for persistent volume claim %s/%s: %w", cur.Namespace, cur.Name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, pl.timeout)
	defer cancel()
	for {
		changed := pl.changes.wait()
		done, err := pl.checkBindings(nodeName, vols, selectedAt)
		if err != nil || done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			// context.DeadlineExceeded after the bind timeout, as upstream.
			return ctx.Err()
		}
	}
}

// checkBindings reports whether every claim of vols is bound, and fails
// when a binding can no longer complete.
func (pl *VolumeBinding) checkBindings(nodeName string, vols *podVolumes, selectedAt map[types.UID]string) (bool, error) {
	done := true
	check := func(want *v1.PersistentVolumeClaim, provisioning bool) error {
		pvc, err := pl.pvcs.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if err != nil || pvc.UID != want.UID {
			return fmt.Errorf("persistentvolumeclaim %q was deleted", want.Namespace+"/"+want.Name)
		}
		if rv, ok := selectedAt[pvc.UID]; ok && pvc.ResourceVersion == rv {
			done = false
			return nil
		}
		if provisioning && pvc.Spec.VolumeName == "" && pvc.Annotations[AnnSelectedNode] != nodeName {
			// The provisioner gave up on the node (or someone else chose).
			return fmt.Errorf("selectedNode annotation reset for PVC %q", pvc.Name)
		}
		if pvc.Spec.VolumeName == "" {
			done = false
			return nil
		}
		pv, err := pl.pvs.Get(pvc.Spec.VolumeName)
		if err != nil {
			done = false
			return nil
		}
		if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID {
			done = false
			return nil
		}
		if pvc.Status.Phase != v1.ClaimBound && pvc.Annotations[AnnBindCompleted] == "" {
			done = false
			return nil
		}
		return nil
	}
	for _, b := range vols.static {
		if pv, err := pl.pvs.Get(b.pv.Name); err == nil && pv.ResourceVersion != b.pv.ResourceVersion && pv.Spec.ClaimRef == nil {
			return false, fmt.Errorf("claimRef got reset for pv %q", pv.Name)
		}
		if err := check(b.pvc, false); err != nil {
			return false, err
		}
	}
	for _, pvc := range vols.provision {
		if err := check(pvc, true); err != nil {
			return false, err
		}
	}
	return done, nil
}
