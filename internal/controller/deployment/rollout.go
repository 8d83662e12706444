package deployment

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations and labels with meaning to kubectl and the controllers.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"
	hashLabel                 = appsv1.DefaultDeploymentUniqueLabelKey
)

// Progressing condition reasons, as kubectl and users read them.
const (
	reasonNewRSCreated     = "NewReplicaSetCreated"
	reasonFoundNewRS       = "FoundNewReplicaSet"
	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonTimedOut         = "ProgressDeadlineExceeded"
	reasonPaused           = "DeploymentPaused"
	reasonResumed          = "DeploymentResumed"
	reasonMinAvailable     = "MinimumReplicasAvailable"
	reasonMinUnavailable   = "MinimumReplicasUnavailable"
	reasonFailedRSCreate   = "ReplicaSetCreateError"
	reasonReplicaFailure   = "FailedCreate"
	progressDeadlineAbsent = math.MaxInt32
)

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// resolveFenceposts returns maxSurge (rounded up) and maxUnavailable
// (rounded down) as pod counts; both zero would stall, so unavailable
// becomes 1.
func resolveFenceposts(d *appsv1.Deployment) (int32, int32) {
	want := int(replicas(d))
	surgeV, unavailV := intstr.FromString("25%"), intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surgeV = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailV = *ru.MaxUnavailable
		}
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(&surgeV, want, true)
	if err != nil {
		surge = 0
	}
	unavail, err := intstr.GetScaledValueFromIntOrPercent(&unavailV, want, false)
	if err != nil {
		unavail = 0
	}
	if surge == 0 && unavail == 0 {
		unavail = 1
	}
	return int32(surge), int32(unavail)
}

// maxUnavailable is the number of pods that may be unavailable.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRolling(d) || replicas(d) == 0 {
		return 0
	}
	_, u := resolveFenceposts(d)
	return min(u, replicas(d))
}

// maxSurge is the number of pods above replicas allowed.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := resolveFenceposts(d)
	return s
}

func sumSpec(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += rsReplicas(rs)
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

// templateHash names the ReplicaSet of a template; the collision count
// changes it when a foreign ReplicaSet already holds the name.
func templateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t)
	h.Write(b)
	if collisionCount != nil {
		fmt.Fprintf(h, "%d", *collisionCount)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// equalIgnoreHash compares pod templates without the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, hashLabel)
	delete(b.Labels, hashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// sortByCreation orders oldest first (name breaks ties).
func sortByCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		if rss[i].CreationTimestamp.Equal(&rss[j].CreationTimestamp) {
			return rss[i].Name < rss[j].Name
		}
		return rss[i].CreationTimestamp.Before(&rss[j].CreationTimestamp)
	})
}

// findNewAndOld splits rss into the ReplicaSet matching d's template (the
// oldest, if several) and the others.
func findNewAndOld(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	sortByCreation(sorted)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[revisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// skipCopy lists Deployment annotations not copied onto ReplicaSets.
var skipCopy = map[string]bool{
	lastAppliedAnnotation: true, revisionAnnotation: true, revisionHistoryAnnotation: true,
	desiredReplicasAnnotation: true, maxReplicasAnnotation: true, rollbackToAnnotation: true,
}

// setNewRSAnnotations copies d's annotations onto the new ReplicaSet and
// raises its revision to newRevision, recording the old one in
// revision-history. It reports whether rs changed.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopy[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	old := rs.Annotations[revisionAnnotation]
	oldN, err := strconv.ParseInt(old, 10, 64)
	if old == "" || err != nil || oldN < newRevision {
		rs.Annotations[revisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if old != "" && exists {
			if h := rs.Annotations[revisionHistoryAnnotation]; h != "" {
				rs.Annotations[revisionHistoryAnnotation] = h + "," + old
			} else {
				rs.Annotations[revisionHistoryAnnotation] = old
			}
		}
	}
	if !exists {
		setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d))
	}
	return changed
}

// setReplicasAnnotations records the Deployment size a ReplicaSet was
// scaled for, which proportional scaling reads back.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxRepl int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxRepl))
	if rs.Annotations[desiredReplicasAnnotation] == d && rs.Annotations[maxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[desiredReplicasAnnotation] = d
	rs.Annotations[maxReplicasAnnotation] = m
	return true
}

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, err := strconv.ParseInt(rs.Annotations[key], 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(v), true
}

// newRSReplicas is how many replicas the new ReplicaSet may have now.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRolling(d) {
		return replicas(d)
	}
	current := sumSpec(all)
	maxTotal := replicas(d) + maxSurge(d)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-current, replicas(d)-rsReplicas(newRS))
	return rsReplicas(newRS) + max(up, 0)
}

// scaleDownPlan is the new size of each old ReplicaSet by name.
type scaleDownPlan map[string]int32

// planOldScaleDown computes how the rolling update shrinks old
// ReplicaSets without going below replicas-maxUnavailable available pods:
// first the unhealthy pods of old ReplicaSets, then available ones.
func planOldScaleDown(d *appsv1.Deployment, all []*appsv1.ReplicaSet, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) scaleDownPlan {
	plan := scaleDownPlan{}
	if sumSpec(old) == 0 {
		return plan
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS)
	if newRS != nil {
		newUnavailable -= newRS.Status.AvailableReplicas
	}
	maxScaledDown := sumSpec(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return plan
	}
	size := map[string]int32{}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(sorted)
	for _, rs := range sorted {
		size[rs.Name] = rsReplicas(rs)
	}
	// Unhealthy pods first: removing them costs no availability.
	var cleaned int32
	for _, rs := range sorted {
		if cleaned >= maxScaledDown {
			break
		}
		if size[rs.Name] == 0 || size[rs.Name] == rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxScaledDown-cleaned, size[rs.Name]-rs.Status.AvailableReplicas)
		if n <= 0 {
			continue
		}
		size[rs.Name] -= n
		cleaned += n
	}
	// Then available ones, as far as minAvailable allows. A ReplicaSet
	// counts no more available pods than its size: one just scaled down
	// still reports the pods it is about to delete until its controller
	// catches up, and counting those would take the rollout below
	// minAvailable.
	var available int32
	for _, rs := range all {
		if rs != nil {
			available += min(rs.Status.AvailableReplicas, rsReplicas(rs))
		}
	}
	if available > minAvailable {
		total := available - minAvailable
		var done int32
		for _, rs := range sorted {
			if done >= total {
				break
			}
			n := min(size[rs.Name], total-done)
			size[rs.Name] -= n
			done += n
		}
	}
	for _, rs := range sorted {
		if size[rs.Name] != rsReplicas(rs) {
			plan[rs.Name] = size[rs.Name]
		}
	}
	return plan
}

// activeOrLatest returns the only ReplicaSet with replicas, or the newest
// when none has any; nil when several are active.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	all := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	var active []*appsv1.ReplicaSet
	for _, rs := range all {
		if rsReplicas(rs) > 0 {
			active = append(active, rs)
		}
	}
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sortByCreation(all)
		return all[len(all)-1]
	case 1:
		return active[0]
	}
	return nil
}

// saturated reports whether the new ReplicaSet alone serves d fully.
func saturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, desiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// proportionalSizes spreads a change of d's size over the active
// ReplicaSets of a rollout in proportion to their sizes, so that a scale
// during a rollout keeps the ratio between old and new.
func proportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) map[string]int32 {
	allowed := replicas(d)
	if allowed > 0 {
		allowed += maxSurge(d)
	}
	toAdd := allowed - sumSpec(active)
	sorted := append([]*appsv1.ReplicaSet(nil), active...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := rsReplicas(sorted[i]), rsReplicas(sorted[j])
		if a != b {
			return a > b
		}
		if toAdd > 0 {
			return sorted[j].CreationTimestamp.Before(&sorted[i].CreationTimestamp)
		}
		return sorted[i].CreationTimestamp.Before(&sorted[j].CreationTimestamp)
	})
	sizes := map[string]int32{}
	var added int32
	if toAdd != 0 {
		for _, rs := range sorted {
			p := proportion(d, rs, toAdd, added)
			sizes[rs.Name] = rsReplicas(rs) + p
			added += p
		}
	} else {
		for _, rs := range sorted {
			sizes[rs.Name] = rsReplicas(rs)
		}
	}
	if len(sorted) > 0 && added != toAdd {
		sizes[sorted[0].Name] += toAdd - added
		if sizes[sorted[0].Name] < 0 {
			sizes[sorted[0].Name] = 0
		}
	}
	return sizes
}

func proportion(d *appsv1.Deployment, rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	var fraction int32
	if replicas(d) == 0 {
		fraction = -rsReplicas(rs)
	} else {
		dReplicas := replicas(d) + maxSurge(d)
		annotated, ok := intAnnotation(rs, maxReplicasAnnotation)
		if !ok || annotated == 0 {
			annotated = d.Status.Replicas
		}
		if annotated == 0 {
			annotated = dReplicas
		}
		fraction = int32(math.Round(float64(rsReplicas(rs))*float64(dReplicas)/float64(annotated))) - rsReplicas(rs)
	}
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// isScalingEvent reports whether d's size differs from the size its
// active ReplicaSets were last scaled for.
func isScalingEvent(d *appsv1.Deployment, all []*appsv1.ReplicaSet) bool {
	for _, rs := range all {
		if rsReplicas(rs) == 0 {
			continue
		}
		if desired, ok := intAnnotation(rs, desiredReplicasAnnotation); ok && desired != replicas(d) {
			return true
		}
	}
	return false
}

func getCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c, keeping the transition time when status does not change.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	out := st.Conditions[:0:0]
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

func condition(t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

// calculateStatus is the status of d given its ReplicaSets.
func calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	available := sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas })
	unavailable := max(sumSpec(all)-available, 0)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }),
		UpdatedReplicas:     sumStatus([]*appsv1.ReplicaSet{newRS}, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }),
		ReadyReplicas:       sumStatus(all, func(s *appsv1.ReplicaSetStatus) int32 { return s.ReadyReplicas }),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if available >= replicas(d)-maxUnavailable(d) {
		setCondition(&st, condition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinAvailable, "Deployment has minimum availability.", now))
	} else {
		setCondition(&st, condition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != progressDeadlineAbsent
}

// complete reports whether st shows every replica updated and available.
func complete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	return st.UpdatedReplicas == replicas(d) && st.Replicas == replicas(d) &&
		st.AvailableReplicas == replicas(d) && st.ObservedGeneration >= d.Generation
}

// progressing reports whether st moved the rollout forward from d.Status.
func progressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas || st.AvailableReplicas > old.AvailableReplicas
}

// timedOut reports whether the Progressing condition in st is older than
// the progress deadline.
func timedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	deadline := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// rolloutStatus adds the Progressing and ReplicaFailure conditions to a
// freshly calculated status.
func rolloutStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	st := calculateStatus(d, all, newRS, now)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(&st, appsv1.DeploymentProgressing)
	isComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	if hasProgressDeadline(d) && !isComplete {
		name := ""
		if newRS != nil {
			name = newRS.Name
		}
		switch {
		case complete(d, &st):
			setCondition(&st, condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable,
				fmt.Sprintf("ReplicaSet %q has successfully progressed.", name), now))
		case progressing(d, &st):
			c := condition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated,
				fmt.Sprintf("ReplicaSet %q is progressing.", name), now)
			if cur != nil && cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			st.Conditions = append(st.Conditions, c)
		case timedOut(d, &st, now):
			setCondition(&st, condition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut,
				fmt.Sprintf("ReplicaSet %q has timed out progressing.", name), now))
		}
	}
	var failure *appsv1.ReplicaSetCondition
	for _, rs := range all {
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure && rs.Status.Conditions[i].Status == corev1.ConditionTrue {
				failure = &rs.Status.Conditions[i]
			}
		}
	}
	if failure != nil {
		setCondition(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: failure.Status,
			Reason: failure.Reason, Message: failure.Message, LastUpdateTime: failure.LastTransitionTime, LastTransitionTime: failure.LastTransitionTime})
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	return st
}

// requeueAfter returns when to look again at a rollout in progress so that
// the deadline is noticed without an event; 0 means not needed.
func requeueAfter(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) time.Duration {
	c := getCondition(st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || c == nil || c.Reason == reasonNewRSAvailable || c.Reason == reasonTimedOut || complete(d, st) {
		return 0
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if after < time.Second {
		return time.Millisecond
	}
	return after + time.Second
}

// historyToPrune returns the old ReplicaSets beyond revisionHistoryLimit,
// lowest revision first; only empty ones are candidates.
func historyToPrune(d *appsv1.Deployment, old []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	limit := int32(10)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var cands []*appsv1.ReplicaSet
	for _, rs := range old {
		if rsReplicas(rs) == 0 && rs.Status.Replicas == 0 && rs.DeletionTimestamp == nil {
			cands = append(cands, rs)
		}
	}
	diff := len(cands) - int(limit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := revision(cands[i]), revision(cands[j])
		if ri != rj {
			return ri < rj
		}
		return cands[i].CreationTimestamp.Before(&cands[j].CreationTimestamp)
	})
	return cands[:diff]
}

// rsName is the name of the ReplicaSet for d's current template.
func rsName(d *appsv1.Deployment, hash string) string {
	return strings.TrimSuffix(d.Name, "-") + "-" + hash
}
