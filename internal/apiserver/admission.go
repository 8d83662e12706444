package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/storage"
)

// immortalNamespaces may never be deleted.
var immortalNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// admitCreate refuses objects in namespaces that do not exist or are being
// deleted, as upstream's NamespaceLifecycle admission does, and mirror pods
// that refer to API objects (admitMirrorPod).
func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object) error {
	if !res.Namespaced {
		return nil
	}
	if err := admitMirrorPod(res, obj); err != nil {
		return err
	}
	ns := accessor(obj).GetNamespace()
	nsRes, ok := s.lookup("", "v1", "namespaces")
	if !ok {
		return nil
	}
	var nsObj runtime.Object
	if e, found := s.cache.Get(nsRes.bucket, nsRes.key("", ns)); found {
		nsObj = e.Object
	} else {
		o, err := s.readObject(ctx, nsRes, "", ns)
		if err != nil {
			return err
		}
		nsObj = o
	}
	if n, ok := nsObj.(*corev1.Namespace); ok && (n.Status.Phase == corev1.NamespaceTerminating || n.DeletionTimestamp != nil) {
		err := apierrors.NewForbidden(res.groupResource(), accessor(obj).GetName(),
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}

// defaultTolerationSeconds is how long pods stay on a node that is not
// ready or unreachable before they are evicted, unless they say otherwise.
const defaultTolerationSeconds = 300

// mutateCreate applies the mutating admission upstream enables by default:
// pods tolerate not-ready and unreachable nodes for five minutes
// (DefaultTolerationSeconds).
func mutateCreate(obj runtime.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	secs := int64(defaultTolerationSeconds)
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		has := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				has = true
				break
			}
		}
		if !has {
			s := secs
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &s})
		}
	}
	addServiceAccountVolume(pod)
}

// serviceAccountMountPath is where pods find their API credentials.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// addServiceAccountVolume does what upstream's ServiceAccount admission
// does to a new pod: default its service account to "default" and, unless
// it opts out, add the kube-api-access-<random> projected volume (a bound
// token, the cluster CA and the namespace) mounted in every container.
// Mirror pods are left alone, as upstream.
func addServiceAccountVolume(pod *corev1.Pod) {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
		// The deprecated alias follows, as defaulting would make it on the
		// next update (which would then read as a spec change).
		pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	}
	if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
		return
	}
	mounted := func(c *corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.MountPath == serviceAccountMountPath {
				return true
			}
		}
		return false
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if mounted(&cs[i]) {
				return
			}
		}
	}
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = letters[rand.IntN(len(letters))]
	}
	name := "kube-api-access-" + string(suffix)
	expiration, mode := int64(3607), int32(0o644)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &expiration, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		}},
	}})
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: serviceAccountMountPath}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].VolumeMounts = append(pod.Spec.InitContainers[i].VolumeMounts, mount)
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, mount)
	}
}

// admitDelete refuses to delete the namespaces the system needs.
func admitDelete(res *resource, name string) error {
	if res.gvr.Group == "" && res.gvr.Resource == "namespaces" && immortalNamespaces[name] {
		return apierrors.NewForbidden(res.groupResource(), name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

// Reservation keys: one per allocated ClusterIP and NodePort, created with
// the same compare-and-swap as objects so that two API servers never hand
// out the same one.
const (
	clusterIPPrefix = registryPrefix + "ranges/serviceips/"
	nodePortPrefix  = registryPrefix + "ranges/servicenodeports/"
)

var servicesGR = schema.GroupResource{Resource: "services"}

// allocateCreate gives a new Service its ClusterIP and NodePorts. The
// returned undo releases them if the create fails later.
func (s *Server) allocateCreate(ctx context.Context, res *resource, obj runtime.Object, dryRun bool) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return func() {}, nil
	}
	var taken []string
	undo := func() {
		for _, k := range taken {
			_, _, _ = s.cfg.Store.Delete(context.WithoutCancel(ctx), k, 0)
		}
	}
	owner := svc.Namespace + "/" + svc.Name
	if err := s.allocateClusterIP(ctx, svc, owner, dryRun, &taken); err != nil {
		undo()
		return nil, err
	}
	if err := s.allocateNodePorts(ctx, svc, nil, owner, dryRun, &taken); err != nil {
		undo()
		return nil, err
	}
	if dryRun {
		return func() {}, nil
	}
	return undo, nil
}

// allocateUpdate allocates what an updated Service newly needs and releases
// what it no longer uses.
func (s *Server) allocateUpdate(ctx context.Context, res *resource, obj, old runtime.Object, dryRun bool) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	oldSvc := old.(*corev1.Service)
	owner := svc.Namespace + "/" + svc.Name
	var taken []string
	if needsClusterIP(svc) && !needsClusterIP(oldSvc) {
		if err := s.allocateClusterIP(ctx, svc, owner, dryRun, &taken); err != nil {
			return err
		}
	}
	if err := s.allocateNodePorts(ctx, svc, oldSvc, owner, dryRun, &taken); err != nil {
		for _, k := range taken {
			_, _, _ = s.cfg.Store.Delete(context.WithoutCancel(ctx), k, 0)
		}
		return err
	}
	if dryRun {
		return nil
	}
	if !needsClusterIP(svc) && needsClusterIP(oldSvc) {
		for _, ip := range oldSvc.Spec.ClusterIPs {
			_, _, _ = s.cfg.Store.Delete(ctx, clusterIPPrefix+ip, 0)
		}
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	}
	keep := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		keep[p.NodePort] = true
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		keep[svc.Spec.HealthCheckNodePort] = true
	}
	for _, p := range nodePortsOf(oldSvc) {
		if !keep[p] {
			_, _, _ = s.cfg.Store.Delete(ctx, nodePortPrefix+strconv.Itoa(int(p)), 0)
		}
	}
	return nil
}

// afterDelete releases what a deleted object held.
func (s *Server) afterDelete(ctx context.Context, res *resource, obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone && ip != "" {
			_, _, _ = s.cfg.Store.Delete(ctx, clusterIPPrefix+ip, 0)
		}
	}
	for _, p := range nodePortsOf(svc) {
		_, _, _ = s.cfg.Store.Delete(ctx, nodePortPrefix+strconv.Itoa(int(p)), 0)
	}
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeNodePort {
		return true
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func nodePortsOf(svc *corev1.Service) []int32 {
	var out []int32
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			out = append(out, p.NodePort)
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		out = append(out, svc.Spec.HealthCheckNodePort)
	}
	return out
}

func (s *Server) allocateClusterIP(ctx context.Context, svc *corev1.Service, owner string, dryRun bool, taken *[]string) error {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		return nil
	}
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		setSingleStack(svc)
		return nil
	}
	path := field.NewPath("spec", "clusterIPs").Index(0)
	cidr := s.cfg.ServiceCIDR
	if want := svc.Spec.ClusterIP; want != "" {
		ip := net.ParseIP(want)
		if ip == nil {
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
				field.Invalid(path, want, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")})
		}
		if !cidr.Contains(ip) || ip.Equal(cidr.IP) || ip.Equal(broadcast(cidr)) {
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
				field.Invalid(path, want, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", want, want, cidr))})
		}
		if err := s.reserve(ctx, clusterIPPrefix+ip.String(), owner, dryRun, taken); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
					field.Invalid(path, want, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", want))})
			}
			return apierrors.NewInternalError(err)
		}
		svc.Spec.ClusterIP = ip.String()
		svc.Spec.ClusterIPs = []string{ip.String()}
		setSingleStack(svc)
		return nil
	}
	size := rangeSize(cidr)
	if size < 3 {
		return apierrors.NewInternalError(fmt.Errorf("service CIDR %s is too small", cidr))
	}
	// Dynamic allocations use the upper part of the range first, leaving the
	// lower band for users who pick addresses, as upstream does.
	low := min(max(size/16, 16), 256)
	if low >= size-2 {
		low = 1
	}
	tryOffset := func(off int64) (bool, error) {
		ip := addOffset(cidr.IP, off)
		err := s.reserve(ctx, clusterIPPrefix+ip.String(), owner, dryRun, taken)
		if errors.Is(err, storage.ErrExists) {
			return false, nil
		}
		if err != nil {
			return false, apierrors.NewInternalError(err)
		}
		svc.Spec.ClusterIP = ip.String()
		svc.Spec.ClusterIPs = []string{ip.String()}
		setSingleStack(svc)
		return true, nil
	}
	for range 32 {
		off := low + rand.Int64N(size-1-low)
		if ok, err := tryOffset(off); ok || err != nil {
			return err
		}
	}
	for off := int64(1); off < size-1; off++ {
		if ok, err := tryOffset(off); ok || err != nil {
			return err
		}
	}
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
}

func setSingleStack(svc *corev1.Service) {
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if svc.Spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &p
	}
}

func (s *Server) allocateNodePorts(ctx context.Context, svc, old *corev1.Service, owner string, dryRun bool, taken *[]string) error {
	if !needsNodePorts(svc) {
		if svc.Spec.Type == corev1.ServiceTypeClusterIP || svc.Spec.Type == corev1.ServiceTypeExternalName {
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
		return nil
	}
	had := map[int32]bool{}
	if old != nil {
		for _, p := range nodePortsOf(old) {
			had[p] = true
		}
	}
	mine := map[int32]bool{}
	invalidPort := func(i int, p int32, msg string) error {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p, msg)})
	}
	minP, maxP := int32(s.cfg.NodePortMin), int32(s.cfg.NodePortMax)
	// Ports the user chose first, then the rest.
	for i, p := range svc.Spec.Ports {
		if p.NodePort == 0 || had[p.NodePort] || mine[p.NodePort] {
			if p.NodePort != 0 {
				mine[p.NodePort] = true
			}
			continue
		}
		if p.NodePort < minP || p.NodePort > maxP {
			return invalidPort(i, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", minP, maxP))
		}
		err := s.reserve(ctx, nodePortPrefix+strconv.Itoa(int(p.NodePort)), owner, dryRun, taken)
		if errors.Is(err, storage.ErrExists) {
			return invalidPort(i, p.NodePort, "provided port is already allocated")
		}
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		mine[p.NodePort] = true
	}
	pick := func() (int32, error) {
		n := maxP - minP + 1
		start := rand.Int32N(n)
		for k := int32(0); k < n; k++ {
			p := minP + (start+k)%n
			if mine[p] {
				continue
			}
			err := s.reserve(ctx, nodePortPrefix+strconv.Itoa(int(p)), owner, dryRun, taken)
			if errors.Is(err, storage.ErrExists) {
				continue
			}
			if err != nil {
				return 0, apierrors.NewInternalError(err)
			}
			mine[p] = true
			return p, nil
		}
		return 0, apierrors.NewInternalError(errors.New("failed to allocate a nodePort: range is full"))
	}
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].NodePort != 0 {
			continue
		}
		p, err := pick()
		if err != nil {
			return err
		}
		svc.Spec.Ports[i].NodePort = p
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && svc.Spec.HealthCheckNodePort == 0 {
		p, err := pick()
		if err != nil {
			return err
		}
		svc.Spec.HealthCheckNodePort = p
	}
	return nil
}

// reserve creates a reservation key (or, for a dry run, checks it is free).
func (s *Server) reserve(ctx context.Context, key, owner string, dryRun bool, taken *[]string) error {
	if dryRun {
		_, err := s.cfg.Store.Get(ctx, key)
		if err == nil {
			return storage.ErrExists
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	if _, err := s.cfg.Store.Create(ctx, key, []byte(owner)); err != nil {
		return err
	}
	*taken = append(*taken, key)
	return nil
}

func rangeSize(cidr *net.IPNet) int64 {
	ones, bits := cidr.Mask.Size()
	if bits-ones >= 62 {
		return 1 << 62
	}
	return int64(1) << (bits - ones)
}

func addOffset(base net.IP, off int64) net.IP {
	b := base.To4()
	if b == nil {
		b = base.To16()
	}
	n := new(big.Int).SetBytes(b)
	n.Add(n, big.NewInt(off))
	out := n.Bytes()
	ip := make(net.IP, len(b))
	copy(ip[len(ip)-len(out):], out)
	return ip
}

func broadcast(cidr *net.IPNet) net.IP {
	return addOffset(cidr.IP, rangeSize(cidr)-1)
}
