// Package defaultpreemption implements DefaultPreemption: when a pod fits
// nowhere, find the node where evicting the fewest, least important
// lower-priority pods (sparing those a PodDisruptionBudget protects where
// possible) makes it fit, delete those pods gracefully and nominate the
// node for the preemptor.
package defaultpreemption

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	policylisters "k8s.io/client-go/listers/policy/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name in configuration.
const Name = "DefaultPreemption"

// User-visible reasons, as upstream.
const (
	ReasonNoVictims   = "No preemption victims found for incoming pod"
	ReasonNotHelpful  = "Preemption is not helpful for scheduling"
	maxCandidates     = 100
	minCandidateShare = 10
)

// DefaultPreemption is the plugin.
type DefaultPreemption struct {
	h    framework.Handle
	pdbs policylisters.PodDisruptionBudgetLister
}

var _ framework.PostFilterPlugin = (*DefaultPreemption)(nil)

// New builds the plugin.
func New(_ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &DefaultPreemption{h: h}
	if h != nil && h.SharedInformerFactory() != nil {
		inf := h.SharedInformerFactory().Policy().V1().PodDisruptionBudgets()
		inf.Informer()
		pl.pdbs = inf.Lister()
	}
	return pl, nil
}

// Name implements framework.Plugin.
func (*DefaultPreemption) Name() string { return Name }

// Candidate is a node and the pods to evict there.
type Candidate struct {
	Node          string
	Victims       []*v1.Pod
	PDBViolations int
}

// PostFilter implements framework.PostFilterPlugin.
func (pl *DefaultPreemption) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered framework.NodeToStatus) (*framework.PostFilterResult, *framework.Status) {
	if msg, ok := pl.eligible(pod); !ok {
		return nil, framework.NewStatus(framework.Unschedulable, "preemption: "+msg)
	}
	all := pl.h.SnapshotSharedLister().List()
	cands, statuses := pl.FindCandidates(ctx, state, pod, filtered)
	if len(cands) == 0 {
		for _, ni := range all {
			if _, ok := statuses[ni.Node().Name]; !ok {
				statuses[ni.Node().Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNotHelpful)
			}
		}
		return nil, framework.NewStatus(framework.Unschedulable,
			fmt.Sprintf("preemption: 0/%d nodes are available: %s.", len(all), histogram(statuses)))
	}
	best := PickOne(cands)
	if err := pl.evict(ctx, pod, best); err != nil {
		return nil, framework.AsStatus(err)
	}
	return &framework.PostFilterResult{NominatedNodeName: best.Node}, nil
}

func histogram(statuses framework.NodeToStatus) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// eligible says whether the pod may preempt at all.
func (pl *DefaultPreemption) eligible(pod *v1.Pod) (string, bool) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return "not eligible due to preemptionPolicy=Never.", false
	}
	if nn := pod.Status.NominatedNodeName; nn != "" {
		// Victims of an earlier preemption are still leaving: wait for them.
		if ni := pl.h.SnapshotSharedLister().Get(nn); ni != nil {
			prio := corev1helpers.PodPriority(pod)
			for _, p := range ni.Pods {
				if p.Pod.DeletionTimestamp != nil && corev1helpers.PodPriority(p.Pod) < prio {
					return "not eligible due to a terminating pod on the nominated node.", false
				}
			}
		}
	}
	return "", true
}

// FindCandidates dry-runs preemption on every node that failed for a
// reason preemption can fix.
func (pl *DefaultPreemption) FindCandidates(ctx context.Context, state *framework.CycleState, pod *v1.Pod, filtered framework.NodeToStatus) ([]Candidate, framework.NodeToStatus) {
	all := pl.h.SnapshotSharedLister().List()
	statuses := framework.NodeToStatus{}
	pdbs := pl.listPDBs(pod.Namespace)
	limit := max(maxCandidates, len(all)*minCandidateShare/100)
	var out []Candidate
	for _, ni := range all {
		name := ni.Node().Name
		if s, ok := filtered[name]; ok && s.Code() == framework.UnschedulableAndUnresolvable {
			statuses[name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNotHelpful)
			continue
		}
		victims, violations, s := pl.selectVictims(ctx, state, pod, ni, pdbs)
		if !s.IsSuccess() {
			statuses[name] = s
			continue
		}
		out = append(out, Candidate{Node: name, Victims: victims, PDBViolations: violations})
		if len(out) >= limit {
			break
		}
	}
	return out, statuses
}

func (pl *DefaultPreemption) listPDBs(_ string) []*policyv1.PodDisruptionBudget {
	if pl.pdbs == nil {
		return nil
	}
	pdbs, err := pl.pdbs.List(labels.Everything())
	if err != nil {
		return nil
	}
	return pdbs
}

// selectVictims removes every lower-priority pod, checks the preemptor
// then fits, and adds back as many as possible, most important first and
// PDB-protected ones before the rest.
func (pl *DefaultPreemption) selectVictims(ctx context.Context, state *framework.CycleState, pod *v1.Pod, orig *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) ([]*v1.Pod, int, *framework.Status) {
	ni := orig.Clone()
	st := state.Clone()
	prio := corev1helpers.PodPriority(pod)
	var potential []*framework.PodInfo
	for _, pi := range orig.Pods {
		if corev1helpers.PodPriority(pi.Pod) < prio {
			potential = append(potential, pi)
		}
	}
	if len(potential) == 0 {
		return nil, 0, framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNoVictims)
	}
	for _, pi := range potential {
		if err := ni.RemovePod(pi.Pod); err != nil {
			return nil, 0, framework.AsStatus(err)
		}
		if s := pl.h.RunPreFilterExtensionRemovePod(ctx, st, pod, pi, ni); !s.IsSuccess() {
			return nil, 0, s
		}
	}
	if s := pl.h.RunFilterPlugins(ctx, st, pod, ni); !s.IsSuccess() {
		return nil, 0, s
	}
	sort.SliceStable(potential, func(i, j int) bool {
		pi, pj := corev1helpers.PodPriority(potential[i].Pod), corev1helpers.PodPriority(potential[j].Pod)
		if pi != pj {
			return pi > pj
		}
		return startTime(potential[i].Pod).Before(startTime(potential[j].Pod))
	})
	violating, other := splitByPDB(potential, pdbs)
	var victims []*v1.Pod
	violations := 0
	reprieve := func(pi *framework.PodInfo) (bool, *framework.Status) {
		ni.AddPodInfo(pi)
		if s := pl.h.RunPreFilterExtensionAddPod(ctx, st, pod, pi, ni); !s.IsSuccess() {
			return false, s
		}
		if pl.h.RunFilterPlugins(ctx, st, pod, ni).IsSuccess() {
			return true, nil
		}
		if err := ni.RemovePod(pi.Pod); err != nil {
			return false, framework.AsStatus(err)
		}
		if s := pl.h.RunPreFilterExtensionRemovePod(ctx, st, pod, pi, ni); !s.IsSuccess() {
			return false, s
		}
		victims = append(victims, pi.Pod)
		return false, nil
	}
	for _, pi := range violating {
		kept, s := reprieve(pi)
		if s != nil {
			return nil, 0, s
		}
		if !kept {
			violations++
		}
	}
	for _, pi := range other {
		if _, s := reprieve(pi); s != nil {
			return nil, 0, s
		}
	}
	return victims, violations, nil
}

func startTime(p *v1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// splitByPDB separates the pods whose eviction would exceed a PDB's
// allowed disruptions.
func splitByPDB(pods []*framework.PodInfo, pdbs []*policyv1.PodDisruptionBudget) (violating, other []*framework.PodInfo) {
	allowed := make([]int32, len(pdbs))
	for i, p := range pdbs {
		allowed[i] = p.Status.DisruptionsAllowed
	}
	for _, pi := range pods {
		violates := false
		for i, pdb := range pdbs {
			if pdb.Namespace != pi.Pod.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(pi.Pod.Labels)) {
				continue
			}
			if _, disrupted := pdb.Status.DisruptedPods[pi.Pod.Name]; disrupted {
				continue
			}
			allowed[i]--
			if allowed[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, pi)
		} else {
			other = append(other, pi)
		}
	}
	return violating, other
}

// PickOne chooses the candidate upstream would: fewest PDB violations,
// then the lowest highest victim priority, the lowest priority sum, the
// fewest victims, then the first.
func PickOne(cands []Candidate) Candidate {
	best := 0
	key := func(c Candidate) [4]int64 {
		var highest, sum int64 = -1 << 40, 0
		for _, v := range c.Victims {
			p := int64(corev1helpers.PodPriority(v))
			highest = max(highest, p)
			// Shift so that negative priorities still add up sensibly.
			sum += p + (1 << 31)
		}
		if len(c.Victims) == 0 {
			highest = -1 << 40
		}
		return [4]int64{int64(c.PDBViolations), highest, sum, int64(len(c.Victims))}
	}
	bk := key(cands[0])
	for i := 1; i < len(cands); i++ {
		k := key(cands[i])
		for j := range k {
			if k[j] != bk[j] {
				if k[j] < bk[j] {
					best, bk = i, k
				}
				break
			}
		}
	}
	return cands[best]
}

// evict marks the victims with a DisruptionTarget condition and deletes
// them with their default grace period.
func (pl *DefaultPreemption) evict(ctx context.Context, pod *v1.Pod, c Candidate) error {
	client := pl.h.ClientSet()
	for _, v := range c.Victims {
		cond := map[string]any{"status": map[string]any{"conditions": []map[string]any{{
			"type": string(v1.DisruptionTarget), "status": string(v1.ConditionTrue),
			"reason": v1.PodReasonPreemptionByScheduler, "message": pod.Spec.SchedulerName + ": preempting to accommodate a higher priority pod",
			"lastTransitionTime": metav1.Now().UTC().Format("2006-01-02T15:04:05Z"),
		}}}}
		patch, _ := json.Marshal(cond)
		if _, err := client.CoreV1().Pods(v.Namespace).Patch(ctx, v.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("preempt pod %s/%s: %w", v.Namespace, v.Name, err)
		}
		if err := client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("preempt pod %s/%s: %w", v.Namespace, v.Name, err)
		}
		if r := pl.h.EventRecorder(); r != nil {
			r.Eventf(v, v1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", pod.UID, c.Node)
		}
	}
	return nil
}
