package admission

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"
)

// Authorizer asks the API server's authorizer about a request a plugin
// makes up, as upstream's NodeRestriction asks whether a node may request
// tokens for an audience its pods do not name.
type Authorizer interface {
	// Allowed reports whether user may do verb on the resource (of
	// gvr's group and version) named name in namespace.
	Allowed(ctx context.Context, user authenticationv1.UserInfo, verb string, gvr schema.GroupVersionResource, namespace, name string) bool
}

// nodeRestriction is upstream's NodeRestriction: it limits what a node
// (a member of system:nodes named system:node:<name>) may write to what
// is its own: mirror pods bound to it, the status and evictions of its
// pods, its own Node (without its taints, owners or restricted labels),
// its own Lease, CSINode and ResourceSlices, certificate requests for its
// own name, and tokens bound to its pods. The Node authorizer has let
// these requests through knowing only their names; this plugin sees the
// objects.
type nodeRestriction struct {
	objects Objects
	// authz, optional, grants what pods do not name (token audiences,
	// pod certificate signers); without it that is refused.
	authz Authorizer
}

var _ Mutator = nodeRestriction{}

func (nodeRestriction) Name() string { return "NodeRestriction" }

func (nodeRestriction) Handles(op Operation) bool {
	return op == Create || op == Update || op == Delete
}

// nodeLabelNamespace is the label prefix only the cluster's admins set on
// nodes, which nodes may therefore be selected by without trusting them.
const nodeLabelNamespace = "node-restriction.kubernetes.io"

var (
	podsGVR              = corev1.SchemeGroupVersion.WithResource("pods")
	nodesGVR             = corev1.SchemeGroupVersion.WithResource("nodes")
	pvcsGVR              = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	pvsGVR               = corev1.SchemeGroupVersion.WithResource("persistentvolumes")
	csiDriversGVR        = storagev1.SchemeGroupVersion.WithResource("csidrivers")
	kubeletServingSigner = certificatesv1.KubeletServingSignerName
	kubeletClientSigner  = certificatesv1.KubeAPIServerClientKubeletSignerName
)

// nodeOf returns the node a user acts for, as the Node authorizer
// identifies it.
func nodeOf(u authenticationv1.UserInfo) (name string, isNode bool) {
	if !slices.Contains(u.Groups, "system:nodes") || !strings.HasPrefix(u.Username, "system:node:") {
		return "", false
	}
	return strings.TrimPrefix(u.Username, "system:node:"), true
}

func (p nodeRestriction) Admit(ctx context.Context, a *Attributes) error {
	node, isNode := nodeOf(a.User)
	if !isNode {
		return nil
	}
	if node == "" {
		return forbidden(a, fmt.Errorf("could not determine node from user %q", a.User.Username))
	}
	switch a.Resource.GroupResource() {
	case podsGVR.GroupResource():
		switch a.SubResource {
		case "":
			return p.pod(node, a)
		case "status":
			return podStatus(node, a)
		case "eviction":
			return p.eviction(node, a)
		}
		return forbidden(a, fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.SubResource))
	case nodesGVR.GroupResource():
		return nodeWrite(node, a)
	case pvcsGVR.GroupResource():
		if a.SubResource != "status" {
			return forbidden(a, errors.New("may only update PVC status"))
		}
		return pvcStatus(node, a)
	case serviceAccountsGVR.GroupResource():
		return p.token(ctx, node, a)
	case schema.GroupResource{Group: certificatesv1.GroupName, Resource: "podcertificaterequests"}:
		return p.podCertificateRequest(ctx, node, a)
	case schema.GroupResource{Group: coordinationv1.GroupName, Resource: "leases"}:
		return nodeLease(node, a)
	case schema.GroupResource{Group: storagev1.GroupName, Resource: "csinodes"}:
		return csiNode(node, a)
	case schema.GroupResource{Group: resourcev1.GroupName, Resource: "resourceslices"}:
		return resourceSlice(node, a)
	case schema.GroupResource{Group: certificatesv1.GroupName, Resource: "certificatesigningrequests"}:
		return nodeCSR(node, a)
	}
	return nil
}

// livePod reads a pod: a 404 when it does not exist.
func (p nodeRestriction) livePod(namespace, name string) (*corev1.Pod, error) {
	obj, ok := p.objects.Get(podsGVR, namespace, name)
	if !ok {
		return nil, apierrors.NewNotFound(podsGVR.GroupResource(), name)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("pod %s/%s is a %T", namespace, name, obj))
	}
	return pod, nil
}

// pod lets a node create mirror pods of its own and delete its pods.
func (p nodeRestriction) pod(node string, a *Attributes) error {
	switch a.Operation {
	case Create:
		return p.mirrorPodCreate(node, a)
	case Delete:
		pod, _ := a.OldObject.(*corev1.Pod)
		if pod == nil {
			var err error
			if pod, err = p.livePod(a.Namespace, a.Name); err != nil {
				return err
			}
		}
		if pod.Spec.NodeName != node {
			return forbidden(a, fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", node))
		}
		return nil
	}
	return forbidden(a, fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", a.Operation, node))
}

func (p nodeRestriction) mirrorPodCreate(node string, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return forbidden(a, fmt.Errorf("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, node))
	}
	if pod.Spec.NodeName != node {
		return forbidden(a, fmt.Errorf("node %q can only create pods with spec.nodeName set to itself", node))
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return forbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	case 1:
	default:
		return forbidden(a, fmt.Errorf("node %q can only create pods with a single owner reference set to itself", node))
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != "v1" || owner.Kind != "Node" || owner.Name != node {
		return forbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	}
	if owner.Controller == nil || !*owner.Controller {
		return forbidden(a, fmt.Errorf("node %q can only create pods with a controller owner reference set to itself", node))
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return forbidden(a, fmt.Errorf("node %q must not set blockOwnerDeletion on an owner reference", node))
	}
	obj, found := p.objects.Get(nodesGVR, "", node)
	if !found {
		return apierrors.NewNotFound(nodesGVR.GroupResource(), node)
	}
	if uid := accessorUID(obj); string(owner.UID) != uid {
		return forbidden(a, fmt.Errorf("node %s UID mismatch: expected %s got %s", node, owner.UID, uid))
	}
	if what := apiReference(pod); what != "" {
		return forbidden(a, fmt.Errorf("node %q can not create pods that reference %s", node, what))
	}
	return nil
}

func accessorUID(obj any) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return string(m.GetUID())
}

// apiReference names the kind of API object a pod refers to, or "": a
// node's mirror pod may refer to none, since its static pod runs without
// the API.
func apiReference(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return "serviceaccounts"
	}
	secrets, configMaps := secretsAndConfigMaps(pod)
	if secrets {
		return "secrets"
	}
	if configMaps {
		return "configmaps"
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		return "resourceclaims"
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			return "configmaps (via configmap volumes)"
		case v.Secret != nil:
			return "secrets (via secret volumes)"
		case v.CSI != nil:
			return "csidrivers (via CSI volumes)"
		case v.Glusterfs != nil:
			return "endpoints (via glusterFS volumes)"
		case v.PersistentVolumeClaim != nil:
			return "persistentvolumeclaims"
		case v.Ephemeral != nil:
			return "persistentvolumeclaims (via ephemeral volumes)"
		case v.AzureFile != nil:
			return "secrets (via azureFile volumes)"
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					return "configmaps (via projected volumes)"
				case s.Secret != nil:
					return "secrets (via projected volumes)"
				case s.ServiceAccountToken != nil:
					return "serviceaccounts (via projected volumes)"
				case s.ClusterTrustBundle != nil:
					return "clustertrustbundles"
				case s.PodCertificate != nil:
					return "podcertificates"
				}
			}
		}
	}
	return ""
}

// secretsAndConfigMaps reports whether a pod refers to secrets, and to
// config maps: for image pulls, in any container's environment, or in a
// volume.
func secretsAndConfigMaps(pod *corev1.Pod) (secrets, configMaps bool) {
	secrets = len(pod.Spec.ImagePullSecrets) > 0
	env := func(env []corev1.EnvVar, from []corev1.EnvFromSource) {
		for _, e := range from {
			secrets = secrets || e.SecretRef != nil
			configMaps = configMaps || e.ConfigMapRef != nil
		}
		for _, e := range env {
			if e.ValueFrom != nil {
				secrets = secrets || e.ValueFrom.SecretKeyRef != nil
				configMaps = configMaps || e.ValueFrom.ConfigMapKeyRef != nil
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		env(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.Containers {
		env(c.Env, c.EnvFrom)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		env(c.Env, c.EnvFrom)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil, v.AzureFile != nil,
			v.CephFS != nil && v.CephFS.SecretRef != nil, v.Cinder != nil && v.Cinder.SecretRef != nil,
			v.FlexVolume != nil && v.FlexVolume.SecretRef != nil, v.RBD != nil && v.RBD.SecretRef != nil,
			v.ScaleIO != nil && v.ScaleIO.SecretRef != nil, v.ISCSI != nil && v.ISCSI.SecretRef != nil,
			v.StorageOS != nil && v.StorageOS.SecretRef != nil, v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
			secrets = true
		case v.ConfigMap != nil:
			configMaps = true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				secrets = secrets || s.Secret != nil
				configMaps = configMaps || s.ConfigMap != nil
			}
		}
	}
	return secrets, configMaps
}

// podStatus lets a node write the status of its pods, but not their
// labels or resource claims.
func podStatus(node string, a *Attributes) error {
	if a.Operation != Update {
		return forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	old, ok := a.OldObject.(*corev1.Pod)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.OldObject))
	}
	if old.Spec.NodeName != node {
		return forbidden(a, fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", node))
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	if !equalStrings(old.Labels, pod.Labels) {
		return forbidden(a, fmt.Errorf("node %q cannot update labels through pod status", node))
	}
	if !sameClaimStatuses(old.Status.ResourceClaimStatuses, pod.Status.ResourceClaimStatuses) {
		return forbidden(a, fmt.Errorf("node %q cannot update resource claim statues", node))
	}
	if !equality.Semantic.DeepEqual(old.Status.ExtendedResourceClaimStatus, pod.Status.ExtendedResourceClaimStatus) {
		return forbidden(a, fmt.Errorf("node %q cannot update extended resource claim status", node))
	}
	return nil
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// sameClaimStatuses compares the claims' names, in order.
func sameClaimStatuses(a, b []corev1.PodResourceClaimStatus) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.PodResourceClaimStatus) bool {
		return x.Name == y.Name && (x.ResourceClaimName == nil) == (y.ResourceClaimName == nil) &&
			(x.ResourceClaimName == nil || *x.ResourceClaimName == *y.ResourceClaimName)
	})
}

// eviction lets a node evict only its pods.
func (p nodeRestriction) eviction(node string, a *Attributes) error {
	if a.Operation != Create {
		return forbidden(a, fmt.Errorf("unexpected operation %s", a.Operation))
	}
	ev, ok := a.Object.(*policyv1.Eviction)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	name := a.Name
	if name == "" {
		if ev.Name == "" {
			return forbidden(a, errors.New("could not determine pod from request data"))
		}
		name = ev.Name
	}
	pod, err := p.livePod(a.Namespace, name)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName != node {
		return forbidden(a, fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", node))
	}
	return nil
}

// pvcStatus lets a node write only a claim's capacity, conditions and
// allocated resources.
func pvcStatus(node string, a *Attributes) error {
	if a.Operation != Update {
		return forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	oldPVC, ok := a.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.OldObject))
	}
	newPVC, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	strip := func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		c = c.DeepCopy()
		c.ResourceVersion, c.ManagedFields = "", nil
		c.Status.Capacity, c.Status.Conditions = nil, nil
		c.Status.AllocatedResources, c.Status.AllocatedResourceStatuses = nil, nil
		return c
	}
	o, n := strip(oldPVC), strip(newPVC)
	if !equality.Semantic.DeepEqual(o, n) {
		return forbidden(a, fmt.Errorf("node %q is not allowed to update fields other than status.quantity and status.conditions: %v", node, diff.Diff(o, n)))
	}
	return nil
}

// nodeWrite lets a node create and update its own Node only, and not
// change its taints, owners or the labels nodes may not set.
func nodeWrite(node string, a *Attributes) error {
	if a.Name != node {
		return forbidden(a, fmt.Errorf("node %q is not allowed to modify node %q", node, a.Name))
	}
	switch a.Operation {
	case Create:
		n, ok := a.Object.(*corev1.Node)
		if !ok {
			return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		if n.Spec.ConfigSource != nil {
			return forbidden(a, fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", node))
		}
		if bad := forbiddenNodeLabels(n.Labels, nil); len(bad) > 0 {
			return forbidden(a, fmt.Errorf("node %q is not allowed to set the following labels: %s", node, strings.Join(bad, ", ")))
		}
	case Update:
		n, ok := a.Object.(*corev1.Node)
		if !ok {
			return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		old, ok := a.OldObject.(*corev1.Node)
		if !ok {
			return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		if n.Spec.ConfigSource != nil && !equality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) {
			return forbidden(a, fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", node))
		}
		if !equality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return forbidden(a, fmt.Errorf("node %q is not allowed to modify taints", node))
		}
		if !equality.Semantic.DeepEqual(n.OwnerReferences, old.OwnerReferences) {
			return forbidden(a, fmt.Errorf("node %q is not allowed to modify ownerReferences", node))
		}
		if bad := forbiddenNodeLabels(n.Labels, old.Labels); len(bad) > 0 {
			return forbidden(a, fmt.Errorf("is not allowed to modify labels: %s", strings.Join(bad, ", ")))
		}
	}
	return nil
}

// forbiddenNodeLabels lists, sorted, the labels that differ between now
// and before that a node may not set: those under
// node-restriction.kubernetes.io/, and those under kubernetes.io or k8s.io
// other than the well-known ones a kubelet sets.
func forbiddenNodeLabels(now, before map[string]string) []string {
	changed := map[string]bool{}
	for k, v := range now {
		if w, ok := before[k]; !ok || v != w {
			changed[k] = true
		}
	}
	for k, v := range before {
		if w, ok := now[k]; !ok || v != w {
			changed[k] = true
		}
	}
	var out []string
	for k := range changed {
		ns := labelNamespace(k)
		if inDomain(ns, nodeLabelNamespace) || (inDomain(ns, "kubernetes.io") || inDomain(ns, "k8s.io")) && !kubeletLabel(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// kubeletLabels are the well-known labels a kubelet sets on its Node.
var kubeletLabels = map[string]bool{
	corev1.LabelHostname: true, corev1.LabelTopologyZone: true, corev1.LabelTopologyRegion: true,
	corev1.LabelFailureDomainBetaZone: true, corev1.LabelFailureDomainBetaRegion: true,
	corev1.LabelInstanceType: true, corev1.LabelInstanceTypeStable: true,
	corev1.LabelOSStable: true, corev1.LabelArchStable: true,
	"beta.kubernetes.io/os": true, "beta.kubernetes.io/arch": true,
}

// kubeletLabel reports whether a node may set a label of the kubernetes.io
// or k8s.io domains: a well-known one, or one under kubelet.kubernetes.io
// or node.kubernetes.io.
func kubeletLabel(key string) bool {
	if kubeletLabels[key] {
		return true
	}
	ns := labelNamespace(key)
	return inDomain(ns, corev1.LabelNamespaceSuffixKubelet) || inDomain(ns, corev1.LabelNamespaceSuffixNode)
}

func labelNamespace(key string) string {
	ns, _, found := strings.Cut(key, "/")
	if !found {
		return ""
	}
	return ns
}

// inDomain reports whether ns is domain or a subdomain of it.
func inDomain(ns, domain string) bool {
	return ns == domain || strings.HasSuffix(ns, "."+domain)
}

// token lets a node request only tokens bound to its own pods, for an
// audience the pod names (or that the authorizer grants).
func (p nodeRestriction) token(ctx context.Context, node string, a *Attributes) error {
	if a.Operation != Create || a.SubResource != "token" {
		return nil
	}
	tr, ok := a.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return forbidden(a, errors.New("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return forbidden(a, errors.New("node requested token with a pod binding without a uid"))
	}
	pod, err := p.livePod(a.Namespace, ref.Name)
	if err != nil {
		return err
	}
	if ref.UID != pod.UID {
		return forbidden(a, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != node {
		return forbidden(a, errors.New("node requested token bound to a pod scheduled on a different node"))
	}
	var audience string
	switch len(tr.Spec.Audiences) {
	case 0:
	case 1:
		audience = tr.Spec.Audiences[0]
	default:
		return forbidden(a, errors.New("node may only request 0 or 1 audiences"))
	}
	if p.podNamesAudience(pod, audience) {
		return nil
	}
	if p.authz != nil && p.authz.Allowed(ctx, a.User, "request-serviceaccounts-token-audience", schema.GroupVersionResource{Group: a.Resource.Group, Version: a.Resource.Version, Resource: audience}, a.Namespace, a.Name) {
		return nil
	}
	return forbidden(a, fmt.Errorf("%s is not authorized to request tokens for audience %q", a.User.Username, audience))
}

// podNamesAudience reports whether a pod asks for tokens of audience: in
// a projected token volume, or through a CSI driver it uses that requests
// tokens for it.
func (p nodeRestriction) podNamesAudience(pod *corev1.Pod, audience string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == audience {
					return true
				}
			}
		}
		var driver string
		switch {
		case v.CSI != nil:
			driver = v.CSI.Driver
		case v.PersistentVolumeClaim != nil:
			driver = p.claimDriver(pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil:
			driver = p.claimDriver(pod.Namespace, pod.Name+"-"+v.Name)
		}
		if driver == "" {
			continue
		}
		if obj, ok := p.objects.Get(csiDriversGVR, "", driver); ok {
			if d, ok := obj.(*storagev1.CSIDriver); ok {
				for _, r := range d.Spec.TokenRequests {
					if r.Audience == audience {
						return true
					}
				}
			}
		}
	}
	return false
}

// claimDriver is the CSI driver of the volume a claim is bound to, or "".
func (p nodeRestriction) claimDriver(namespace, claim string) string {
	obj, ok := p.objects.Get(pvcsGVR, namespace, claim)
	if !ok {
		return ""
	}
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.VolumeName == "" {
		return ""
	}
	obj, ok = p.objects.Get(pvsGVR, "", pvc.Spec.VolumeName)
	if !ok {
		return ""
	}
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.CSI != nil {
		return pv.Spec.CSI.Driver
	}
	return ""
}

// podCertificateRequest lets a node request certificates only for its own
// pods, under their service accounts, from a signer the pod names.
func (p nodeRestriction) podCertificateRequest(ctx context.Context, node string, a *Attributes) error {
	if a.Operation != Create {
		return forbidden(a, fmt.Errorf("unexpected operation %v", a.Operation))
	}
	if a.SubResource != "" {
		return forbidden(a, fmt.Errorf("unexpected subresource %v", a.SubResource))
	}
	req, ok := a.Object.(*certificatesv1.PodCertificateRequest)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	if string(req.Spec.NodeName) != node {
		return forbidden(a, fmt.Errorf("PodCertificateRequest.Spec.NodeName=%q, which is not the requesting node %q", req.Spec.NodeName, node))
	}
	nobj, found := p.objects.Get(nodesGVR, "", node)
	if !found {
		return fmt.Errorf("while retrieving node %q named in the PodCertificateRequest: %w", node, apierrors.NewNotFound(nodesGVR.GroupResource(), node))
	}
	if uid := accessorUID(nobj); uid != string(req.Spec.NodeUID) {
		return apierrors.NewBadRequest(fmt.Sprintf("PodCertificateRequest for pod %q names node UID %q, inconsistent with the running node (%q)", a.Namespace+"/"+req.Spec.PodName, req.Spec.NodeUID, uid))
	}
	podName := a.Namespace + "/" + req.Spec.PodName
	pod, err := p.livePod(a.Namespace, req.Spec.PodName)
	if err != nil {
		return err
	}
	if req.Spec.PodUID != pod.UID {
		return apierrors.NewBadRequest(fmt.Sprintf("PodCertificateRequest for pod %q contains pod UID (%q) which differs from running pod %q", podName, req.Spec.PodUID, pod.UID))
	}
	if pod.Spec.NodeName != node {
		return forbidden(a, fmt.Errorf("pod %q is not running on node %q named in the PodCertificateRequest", podName, req.Spec.NodeName))
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return forbidden(a, fmt.Errorf("pod %q is a mirror pod", podName))
	}
	if req.Spec.ServiceAccountName != pod.Spec.ServiceAccountName {
		return forbidden(a, fmt.Errorf("PodCertificateRequest for pod %q contains serviceAccountName (%q) that differs from running pod (%q)", podName, req.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
	}
	sobj, found := p.objects.Get(serviceAccountsGVR, a.Namespace, req.Spec.ServiceAccountName)
	if !found {
		return apierrors.NewNotFound(serviceAccountsGVR.GroupResource(), req.Spec.ServiceAccountName)
	}
	if uid := accessorUID(sobj); uid != string(req.Spec.ServiceAccountUID) {
		return apierrors.NewBadRequest(fmt.Sprintf("PodCertificateRequest for pod %q names service account UID %q, which differs from the running service account (%q)", podName, req.Spec.ServiceAccountUID, uid))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.PodCertificate != nil && s.PodCertificate.SignerName == req.Spec.SignerName {
				return nil
			}
		}
	}
	signer := strings.ReplaceAll(req.Spec.SignerName, "/", ":")
	if p.authz != nil && p.authz.Allowed(ctx, a.User, "request-serviceaccounts-podcertificate-signer", schema.GroupVersionResource{Group: a.Resource.Group, Version: a.Resource.Version, Resource: signer}, a.Namespace, req.Spec.ServiceAccountName) {
		return nil
	}
	return forbidden(a, fmt.Errorf("pod %q does not mount a podCertificate projected volume for signer %q", podName, req.Spec.SignerName))
}

// nodeLease lets a node write only its own Lease in kube-node-lease.
func nodeLease(node string, a *Attributes) error {
	if a.Namespace != corev1.NamespaceNodeLease {
		return forbidden(a, fmt.Errorf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease))
	}
	name := a.Name
	if a.Operation == Create {
		l, ok := a.Object.(*coordinationv1.Lease)
		if !ok {
			return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
		}
		name = l.Name
	}
	if name != node {
		return forbidden(a, errors.New("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

// csiNode lets a node write only its own CSINode.
func csiNode(node string, a *Attributes) error {
	name := a.Name
	if a.Operation == Create {
		m, err := meta.Accessor(a.Object)
		if err != nil {
			return forbidden(a, errors.New("unable to access the object name"))
		}
		name = m.GetName()
	}
	if name != node {
		return forbidden(a, errors.New("can only access CSINode with the same name as the requesting node"))
	}
	if a.SubResource == "status" {
		return forbidden(a, errors.New("CSIVolumeHealth feature gate is disabled"))
	}
	return nil
}

// resourceSlice lets a node create and delete only the ResourceSlices of
// its own devices.
func resourceSlice(node string, a *Attributes) error {
	var obj any
	var verb string
	switch a.Operation {
	case Create:
		obj, verb = a.Object, "create"
	case Delete:
		obj, verb = a.OldObject, "delete"
	default:
		return nil
	}
	s, ok := obj.(*resourcev1.ResourceSlice)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", obj))
	}
	if s.Spec.NodeName == nil || *s.Spec.NodeName != node {
		return forbidden(a, fmt.Errorf("can only %s ResourceSlice with the same NodeName as the requesting node", verb))
	}
	return nil
}

// nodeCSR lets a node request kubelet certificates only for its own name.
func nodeCSR(node string, a *Attributes) error {
	if a.Operation != Create {
		return nil
	}
	csr, ok := a.Object.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return forbidden(a, fmt.Errorf("unexpected type %T", a.Object))
	}
	if csr.Spec.SignerName != kubeletServingSigner && csr.Spec.SignerName != kubeletClientSigner {
		return nil
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return forbidden(a, errors.New("unable to parse csr: PEM block type must be CERTIFICATE REQUEST"))
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return forbidden(a, fmt.Errorf("unable to parse csr: %w", err))
	}
	if req.Subject.CommonName != "system:node:"+node {
		return forbidden(a, fmt.Errorf("can only create a node CSR with CN=system:node:%s", node))
	}
	return nil
}
