package auth

import (
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

// objectKind is a kind of object the Node authorizer relates to nodes.
type objectKind uint8

const (
	kindSecret objectKind = iota
	kindConfigMap
	kindPVC
	kindServiceAccount
	kindResourceClaim
)

// objectKey names one namespaced object of a kind.
type objectKey struct {
	kind      objectKind
	namespace string
	name      string
}

// podKey names a pod (or any namespaced object) by namespace and name.
type podKey struct{ namespace, name string }

// podUse is what a pod bound to a node makes that node need.
type podUse struct {
	node string
	uses []objectKey
}

// pvUse is what a bound PersistentVolume relates: its claim, and the
// secrets the node mounting it reads.
type pvUse struct {
	claim   podKey
	secrets []podKey
}

// NodeGraph records which objects each node needs, for the Node
// authorizer: the pods bound to it; the Secrets, ConfigMaps,
// PersistentVolumeClaims, ServiceAccounts and ResourceClaims those pods
// use; the PersistentVolumes bound to those claims and the secrets the
// volumes name; and the VolumeAttachments, ResourceSlices and
// PodCertificateRequests that name the node. Objects are related by
// reference, whether they exist or not, so that a node can tell a missing
// object (404) from one it may not read (403).
//
// Each pod's references are counted per node, so a lookup is a few map
// reads however many pods there are. Its methods are safe for concurrent
// use; Run keeps it up to date from informers.
type NodeGraph struct {
	mu sync.RWMutex
	// pods are the pods bound to a node, with what they use.
	pods map[podKey]podUse
	// users counts, for each object and node, the pods on the node that
	// use the object.
	users map[objectKey]map[string]int
	// pvs are the bound PersistentVolumes; pvsBySecret finds those that
	// name a secret.
	pvs         map[string]pvUse
	pvsBySecret map[podKey]map[string]bool
	// attachments, slices and pcrs map an object to the node it names.
	attachments map[string]string
	slices      map[string]string
	pcrs        map[podKey]string

	synced chan struct{}
}

// NewNodeGraph returns an empty graph.
func NewNodeGraph() *NodeGraph {
	return &NodeGraph{
		pods:        map[podKey]podUse{},
		users:       map[objectKey]map[string]int{},
		pvs:         map[string]pvUse{},
		pvsBySecret: map[podKey]map[string]bool{},
		attachments: map[string]string{},
		slices:      map[string]string{},
		pcrs:        map[podKey]string{},
		synced:      make(chan struct{}),
	}
}

// SetPod records pod and what it uses, replacing what was recorded for a
// pod of that name. A pod bound to no node is forgotten.
func (g *NodeGraph) SetPod(pod *corev1.Pod) {
	key := podKey{pod.Namespace, pod.Name}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePodLocked(key)
	if pod.Spec.NodeName == "" {
		return
	}
	use := podUse{node: pod.Spec.NodeName, uses: podUses(pod)}
	g.pods[key] = use
	for _, o := range use.uses {
		byNode := g.users[o]
		if byNode == nil {
			byNode = map[string]int{}
			g.users[o] = byNode
		}
		byNode[use.node]++
	}
}

// DeletePod forgets a pod.
func (g *NodeGraph) DeletePod(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePodLocked(podKey{namespace, name})
}

func (g *NodeGraph) deletePodLocked(key podKey) {
	use, ok := g.pods[key]
	if !ok {
		return
	}
	delete(g.pods, key)
	for _, o := range use.uses {
		byNode := g.users[o]
		if byNode[use.node]--; byNode[use.node] <= 0 {
			delete(byNode, use.node)
		}
		if len(byNode) == 0 {
			delete(g.users, o)
		}
	}
}

// SetPV records a PersistentVolume's claim and secrets; an unbound volume
// is forgotten.
func (g *NodeGraph) SetPV(pv *corev1.PersistentVolume) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePVLocked(pv.Name)
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return
	}
	use := pvUse{claim: podKey{ref.Namespace, ref.Name}, secrets: pvSecrets(pv)}
	g.pvs[pv.Name] = use
	for _, s := range use.secrets {
		if g.pvsBySecret[s] == nil {
			g.pvsBySecret[s] = map[string]bool{}
		}
		g.pvsBySecret[s][pv.Name] = true
	}
}

// DeletePV forgets a PersistentVolume.
func (g *NodeGraph) DeletePV(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deletePVLocked(name)
}

func (g *NodeGraph) deletePVLocked(name string) {
	use, ok := g.pvs[name]
	if !ok {
		return
	}
	delete(g.pvs, name)
	for _, s := range use.secrets {
		delete(g.pvsBySecret[s], name)
		if len(g.pvsBySecret[s]) == 0 {
			delete(g.pvsBySecret, s)
		}
	}
}

// SetVolumeAttachment records the node a VolumeAttachment names ("" to
// forget it).
func (g *NodeGraph) SetVolumeAttachment(name, node string) { g.setNamed(g.attachments, name, node) }

// SetResourceSlice records the node a ResourceSlice names ("" to forget
// it).
func (g *NodeGraph) SetResourceSlice(name, node string) { g.setNamed(g.slices, name, node) }

func (g *NodeGraph) setNamed(m map[string]string, name, node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if node == "" {
		delete(m, name)
		return
	}
	m[name] = node
}

// SetPodCertificateRequest records the node a PodCertificateRequest names.
func (g *NodeGraph) SetPodCertificateRequest(pcr *certificatesv1.PodCertificateRequest) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := podKey{pcr.Namespace, pcr.Name}
	if pcr.Spec.NodeName == "" {
		delete(g.pcrs, key)
		return
	}
	g.pcrs[key] = string(pcr.Spec.NodeName)
}

// DeletePodCertificateRequest forgets a PodCertificateRequest.
func (g *NodeGraph) DeletePodCertificateRequest(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pcrs, podKey{namespace, name})
}

// podOn reports whether the pod is bound to node.
func (g *NodeGraph) podOn(node, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	use, ok := g.pods[podKey{namespace, name}]
	return ok && use.node == node
}

// usedOn reports whether a pod on node uses the object; for a secret,
// also whether a volume bound to a claim a pod on node uses names it.
func (g *NodeGraph) usedOn(node string, o objectKey) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.users[o][node] > 0 {
		return true
	}
	if o.kind != kindSecret {
		return false
	}
	for pv := range g.pvsBySecret[podKey{o.namespace, o.name}] {
		if g.pvUsedOnLocked(node, pv) {
			return true
		}
	}
	return false
}

// pvUsedOn reports whether a pod on node uses the claim the volume is
// bound to.
func (g *NodeGraph) pvUsedOn(node, pv string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.pvUsedOnLocked(node, pv)
}

func (g *NodeGraph) pvUsedOnLocked(node, pv string) bool {
	use, ok := g.pvs[pv]
	if !ok {
		return false
	}
	return g.users[objectKey{kindPVC, use.claim.namespace, use.claim.name}][node] > 0
}

// attachmentOn, sliceOn and pcrOn report whether the object names node.
func (g *NodeGraph) attachmentOn(node, name string) bool { return g.named(g.attachments, node, name) }

func (g *NodeGraph) sliceOn(node, name string) bool { return g.named(g.slices, node, name) }

func (g *NodeGraph) named(m map[string]string, node, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := m[name]
	return ok && n == node
}

func (g *NodeGraph) pcrOn(node, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.pcrs[podKey{namespace, name}]
	return ok && n == node
}

// podUses lists the objects a pod makes its node need. A mirror pod
// needs none: it may not refer to any.
func podUses(pod *corev1.Pod) []objectKey {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	seen := map[objectKey]bool{}
	var out []objectKey
	add := func(kind objectKind, name string) {
		k := objectKey{kind, pod.Namespace, name}
		if name == "" || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, k)
	}
	add(kindServiceAccount, pod.Spec.ServiceAccountName)
	for _, s := range pod.Spec.ImagePullSecrets {
		add(kindSecret, s.Name)
	}
	visitEnv := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range envFrom {
			if e.SecretRef != nil {
				add(kindSecret, e.SecretRef.Name)
			}
			if e.ConfigMapRef != nil {
				add(kindConfigMap, e.ConfigMapRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(kindSecret, r.Name)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(kindConfigMap, r.Name)
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		visitEnv(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.Containers {
		visitEnv(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		visitEnv(c.Env, c.EnvFrom)
	}
	for _, v := range pod.Spec.Volumes {
		for _, s := range volumeSecrets(&v.VolumeSource) {
			add(kindSecret, s)
		}
		switch {
		case v.ConfigMap != nil:
			add(kindConfigMap, v.ConfigMap.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					add(kindConfigMap, src.ConfigMap.Name)
				}
			}
		case v.PersistentVolumeClaim != nil:
			add(kindPVC, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			// The claim of a generic ephemeral volume is named after the
			// pod and the volume.
			add(kindPVC, pod.Name+"-"+v.Name)
		}
	}
	for _, rc := range pod.Spec.ResourceClaims {
		if rc.ResourceClaimName != nil {
			add(kindResourceClaim, *rc.ResourceClaimName)
			continue
		}
		for _, st := range pod.Status.ResourceClaimStatuses {
			if st.Name == rc.Name && st.ResourceClaimName != nil {
				add(kindResourceClaim, *st.ResourceClaimName)
			}
		}
	}
	if st := pod.Status.ExtendedResourceClaimStatus; st != nil {
		add(kindResourceClaim, st.ResourceClaimName)
	}
	return out
}

// volumeSecrets lists the secrets of a pod's volume, in the pod's
// namespace.
func volumeSecrets(v *corev1.VolumeSource) []string {
	switch {
	case v.Secret != nil:
		return []string{v.Secret.SecretName}
	case v.Projected != nil:
		var out []string
		for _, src := range v.Projected.Sources {
			if src.Secret != nil {
				out = append(out, src.Secret.Name)
			}
		}
		return out
	case v.AzureFile != nil:
		return []string{v.AzureFile.SecretName}
	case v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
		return []string{v.CSI.NodePublishSecretRef.Name}
	}
	var ref *corev1.LocalObjectReference
	switch {
	case v.CephFS != nil:
		ref = v.CephFS.SecretRef
	case v.Cinder != nil:
		ref = v.Cinder.SecretRef
	case v.FlexVolume != nil:
		ref = v.FlexVolume.SecretRef
	case v.RBD != nil:
		ref = v.RBD.SecretRef
	case v.ScaleIO != nil:
		ref = v.ScaleIO.SecretRef
	case v.ISCSI != nil:
		ref = v.ISCSI.SecretRef
	case v.StorageOS != nil:
		ref = v.StorageOS.SecretRef
	}
	if ref == nil {
		return nil
	}
	return []string{ref.Name}
}

// pvSecrets lists the secrets a node reads to mount a PersistentVolume
// (not those only its controller reads); a reference without a namespace
// is in the claim's.
func pvSecrets(pv *corev1.PersistentVolume) []podKey {
	claimNS := ""
	if pv.Spec.ClaimRef != nil {
		claimNS = pv.Spec.ClaimRef.Namespace
	}
	var out []podKey
	add := func(ns, name string) {
		if ns == "" {
			ns = claimNS
		}
		if name != "" {
			out = append(out, podKey{ns, name})
		}
	}
	addRef := func(r *corev1.SecretReference) {
		if r != nil {
			add(r.Namespace, r.Name)
		}
	}
	s := &pv.Spec.PersistentVolumeSource
	switch {
	case s.AzureFile != nil:
		ns := ""
		if s.AzureFile.SecretNamespace != nil {
			ns = *s.AzureFile.SecretNamespace
		}
		add(ns, s.AzureFile.SecretName)
	case s.CephFS != nil:
		addRef(s.CephFS.SecretRef)
	case s.Cinder != nil:
		addRef(s.Cinder.SecretRef)
	case s.FlexVolume != nil:
		addRef(s.FlexVolume.SecretRef)
	case s.RBD != nil:
		addRef(s.RBD.SecretRef)
	case s.ScaleIO != nil:
		addRef(s.ScaleIO.SecretRef)
	case s.ISCSI != nil:
		addRef(s.ISCSI.SecretRef)
	case s.StorageOS != nil && s.StorageOS.SecretRef != nil:
		add(s.StorageOS.SecretRef.Namespace, s.StorageOS.SecretRef.Name)
	case s.CSI != nil:
		addRef(s.CSI.NodePublishSecretRef)
		addRef(s.CSI.NodeStageSecretRef)
		addRef(s.CSI.NodeExpandSecretRef)
	}
	return out
}
