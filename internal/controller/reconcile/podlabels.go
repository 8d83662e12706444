package reconcile

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// LabelIndex indexes objects by namespace and each of their labels:
// "<namespace>/<key>=<value>".
const LabelIndex = "skiff.dev/namespace-label"

// AddLabelIndex adds LabelIndex to inf, once: controllers that share an
// informer may each ask for it. It must be called before inf starts.
func AddLabelIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[LabelIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{LabelIndex: labelIndexKeys})
}

func labelIndexKeys(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || len(pod.Labels) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(pod.Labels))
	for k, v := range pod.Labels {
		keys = append(keys, labelIndexKey(pod.Namespace, k, v))
	}
	return keys, nil
}

func labelIndexKey(ns, k, v string) string { return ns + "/" + k + "=" + v }

// PodsSelectedBy returns the pods of namespace ns whose labels hold every
// pair of sel (a Service's selector; an empty one selects every pod). It
// reads the fewest candidates LabelIndex offers, so that a Service costs
// its own pods rather than its namespace's.
func PodsSelectedBy(indexer cache.Indexer, ns string, sel map[string]string) ([]*corev1.Pod, error) {
	var candidates []any
	if len(sel) == 0 {
		var err error
		if candidates, err = indexer.ByIndex(cache.NamespaceIndex, ns); err != nil {
			return nil, err
		}
	} else {
		first := true
		for k, v := range sel {
			objs, err := indexer.ByIndex(LabelIndex, labelIndexKey(ns, k, v))
			if err != nil {
				return nil, err
			}
			if first || len(objs) < len(candidates) {
				candidates, first = objs, false
			}
			if len(candidates) == 0 {
				break
			}
		}
	}
	pods := make([]*corev1.Pod, 0, len(candidates))
	for _, o := range candidates {
		p, ok := o.(*corev1.Pod)
		if ok && p.Namespace == ns && subsetOf(sel, p.Labels) {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

func subsetOf(sel, lbls map[string]string) bool {
	for k, v := range sel {
		if got, ok := lbls[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ControllerIndex indexes objects by the UID of their controller.
const ControllerIndex = "skiff.dev/controller-uid"

// AddClaimIndexes adds LabelIndex and ControllerIndex to inf, once, for
// ClaimCandidates. It must be called before inf starts.
func AddClaimIndexes(inf cache.SharedIndexInformer) error {
	if err := AddLabelIndex(inf); err != nil {
		return err
	}
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{ControllerIndex: controllerIndexKeys})
}

func controllerIndexKeys(obj any) ([]string, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// ClaimCandidates returns the pods of ns on which Claim may decide
// anything but Ignore for an owner with uid and selector: the pods it
// controls, and those whose labels hold the selector's matchLabels (every
// pod of ns when it has none). The indexer needs AddClaimIndexes.
func ClaimCandidates(indexer cache.Indexer, ns string, uid types.UID, selector *metav1.LabelSelector) ([]*corev1.Pod, error) {
	var match map[string]string
	if selector != nil {
		match = selector.MatchLabels
	}
	pods, err := PodsSelectedBy(indexer, ns, match)
	if err != nil {
		return nil, err
	}
	owned, err := indexer.ByIndex(ControllerIndex, string(uid))
	if err != nil {
		return nil, err
	}
	for _, o := range owned {
		// Owned pods that hold the match labels are listed already.
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == ns && !subsetOf(match, p.Labels) {
			pods = append(pods, p)
		}
	}
	return pods, nil
}
