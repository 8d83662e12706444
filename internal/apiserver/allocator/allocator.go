package allocator

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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/storage"
)

// Reservation keys: one per allocated ClusterIP and NodePort.
const (
	clusterIPPrefix = "/registry/ranges/serviceips/"
	nodePortPrefix  = "/registry/ranges/servicenodeports/"
)

// Store holds the reservation keys; storage.Store is one.
type Store interface {
	// Get returns the value at key, or storage.ErrNotFound.
	Get(ctx context.Context, key string) (storage.KV, error)
	// Create writes key only if it does not exist, or returns storage.ErrExists.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Delete removes key (rev 0: whatever its version).
	Delete(ctx context.Context, key string, rev int64) (storage.KV, int64, error)
}

var _ Store = storage.Store(nil)

// Config configures an Allocator.
type Config struct {
	// Store keeps the reservations. Required.
	Store Store
	// ServiceCIDR is where ClusterIPs come from. Required.
	ServiceCIDR *net.IPNet
	// NodePortMin and NodePortMax bound NodePorts (default 30000-32767).
	NodePortMin, NodePortMax int
}

func (c *Config) validate() error {
	if c.Store == nil || c.ServiceCIDR == nil {
		return errors.New("allocator: Store and ServiceCIDR are required")
	}
	if c.NodePortMin == 0 && c.NodePortMax == 0 {
		c.NodePortMin, c.NodePortMax = 30000, 32767
	}
	if c.NodePortMin <= 0 || c.NodePortMax < c.NodePortMin || c.NodePortMax > 65535 {
		return fmt.Errorf("allocator: bad NodePort range %d-%d", c.NodePortMin, c.NodePortMax)
	}
	return nil
}

// Allocator allocates ClusterIPs and NodePorts. It is safe for concurrent use.
type Allocator struct {
	store      Store
	cidr       *net.IPNet
	minP, maxP int32
}

// New returns an Allocator for cfg.
func New(cfg Config) (*Allocator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Allocator{store: cfg.Store, cidr: cfg.ServiceCIDR, minP: int32(cfg.NodePortMin), maxP: int32(cfg.NodePortMax)}, nil
}

// Create gives a new Service its ClusterIP and NodePorts, setting them in
// svc. The returned undo releases them if the create fails later. Errors
// are API errors (422 for addresses or ports that are taken or out of range).
func (a *Allocator) Create(ctx context.Context, svc *corev1.Service, dryRun bool) (undo func(), err error) {
	var taken []string
	undo = func() { a.release(context.WithoutCancel(ctx), taken) }
	owner := svc.Namespace + "/" + svc.Name
	if err := a.allocateClusterIP(ctx, svc, owner, dryRun, &taken); err != nil {
		undo()
		return nil, err
	}
	if err := a.allocateNodePorts(ctx, svc, nil, owner, dryRun, &taken); err != nil {
		undo()
		return nil, err
	}
	if dryRun {
		return func() {}, nil
	}
	return undo, nil
}

// Update allocates what an updated Service newly needs and releases what
// it no longer uses.
func (a *Allocator) Update(ctx context.Context, svc, old *corev1.Service, dryRun bool) error {
	owner := svc.Namespace + "/" + svc.Name
	var taken []string
	if needsClusterIP(svc) && !needsClusterIP(old) {
		if err := a.allocateClusterIP(ctx, svc, owner, dryRun, &taken); err != nil {
			return err
		}
	}
	if err := a.allocateNodePorts(ctx, svc, old, owner, dryRun, &taken); err != nil {
		a.release(context.WithoutCancel(ctx), taken)
		return err
	}
	if dryRun {
		return nil
	}
	if !needsClusterIP(svc) && needsClusterIP(old) {
		for _, ip := range old.Spec.ClusterIPs {
			_, _, _ = a.store.Delete(ctx, clusterIPPrefix+ip, 0)
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
	for _, p := range nodePortsOf(old) {
		if !keep[p] {
			_, _, _ = a.store.Delete(ctx, nodePortPrefix+strconv.Itoa(int(p)), 0)
		}
	}
	return nil
}

// Release frees what a deleted Service held.
func (a *Allocator) Release(ctx context.Context, svc *corev1.Service) {
	ctx = context.WithoutCancel(ctx)
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone && ip != "" {
			_, _, _ = a.store.Delete(ctx, clusterIPPrefix+ip, 0)
		}
	}
	for _, p := range nodePortsOf(svc) {
		_, _, _ = a.store.Delete(ctx, nodePortPrefix+strconv.Itoa(int(p)), 0)
	}
}

// release deletes reservation keys taken by a call that failed.
func (a *Allocator) release(ctx context.Context, keys []string) {
	for _, k := range keys {
		_, _, _ = a.store.Delete(ctx, k, 0)
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

var serviceKind = schema.GroupKind{Kind: "Service"}

func (a *Allocator) allocateClusterIP(ctx context.Context, svc *corev1.Service, owner string, dryRun bool, taken *[]string) error {
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
	cidr := a.cidr
	if want := svc.Spec.ClusterIP; want != "" {
		ip := net.ParseIP(want)
		if ip == nil {
			return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{
				field.Invalid(path, want, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")})
		}
		if !cidr.Contains(ip) || ip.Equal(cidr.IP) || ip.Equal(broadcast(cidr)) {
			return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{
				field.Invalid(path, want, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", want, want, cidr))})
		}
		if err := a.reserve(ctx, clusterIPPrefix+ip.String(), owner, dryRun, taken); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{
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
		err := a.reserve(ctx, clusterIPPrefix+ip.String(), owner, dryRun, taken)
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

func (a *Allocator) allocateNodePorts(ctx context.Context, svc, old *corev1.Service, owner string, dryRun bool, taken *[]string) error {
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
		return apierrors.NewInvalid(serviceKind, svc.Name, field.ErrorList{
			field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p, msg)})
	}
	minP, maxP := a.minP, a.maxP
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
		err := a.reserve(ctx, nodePortPrefix+strconv.Itoa(int(p.NodePort)), owner, dryRun, taken)
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
			err := a.reserve(ctx, nodePortPrefix+strconv.Itoa(int(p)), owner, dryRun, taken)
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
func (a *Allocator) reserve(ctx context.Context, key, owner string, dryRun bool, taken *[]string) error {
	if dryRun {
		_, err := a.store.Get(ctx, key)
		if err == nil {
			return storage.ErrExists
		}
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	if _, err := a.store.Create(ctx, key, []byte(owner)); err != nil {
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

// FirstIP is the first address of cidr after its network address, which
// the default/kubernetes Service takes, as upstream.
func FirstIP(cidr *net.IPNet) net.IP {
	return addOffset(cidr.IP, 1)
}
