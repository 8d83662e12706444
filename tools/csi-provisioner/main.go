// Command csi-provisioner is a small external provisioner for a CSI driver,
// built on sig-storage-lib-external-provisioner (the library upstream's
// external-provisioner is built on) for skiff's CSI integration test
// (internal/agent/integration/csi_test.go). Upstream's own sidecar is not
// available to the build, so this one does the part of its job the test
// needs:
//
//   - it asks the driver at --csi-address its name (GetPluginInfo) and
//     serves claims whose class names that provisioner;
//   - Provision calls CreateVolume with the name pvc-<claim UID>, the
//     claim's capacity and access modes, the class's parameters (less the
//     csi.storage.k8s.io/ ones) and, when the claim has a selected node,
//     that node's values of the driver's topology keys (from its CSINode)
//     as the requisite and preferred topology; it returns a PV whose
//     spec.csi carries the driver, the volume's id as volumeHandle, the
//     class's fsType and the response's volume context, and whose node
//     affinity is the volume's accessible topology;
//   - Delete calls DeleteVolume for a released PV of the driver.
//
// The library does the rest: it picks up the claims, names the PV, binds
// its claimRef, and deletes the PV once Delete has succeeded. It is its own
// module so that skiff never depends on it; `make csi-provisioner` builds
// bin/csi-provisioner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/connection"
	"github.com/kubernetes-csi/csi-lib-utils/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// Parameters with this prefix are for the sidecar (fsType, secrets), not
// for the driver.
const (
	paramPrefix = "csi.storage.k8s.io/"
	paramFSType = paramPrefix + "fstype"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "csi-provisioner:", err)
		os.Exit(1)
	}
}

func run() error {
	address := flag.String("csi-address", "/run/csi/socket", "the CSI driver's endpoint (a unix socket path)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server (in-cluster config when empty)")
	timeout := flag.Duration("timeout", 30*time.Second, "timeout of each CSI call")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	conn, err := connection.ConnectWithoutMetrics(ctx, *address)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", *address, err)
	}
	defer conn.Close()
	callCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	driver, err := rpc.GetDriverName(callCtx, conn)
	if err != nil {
		return fmt.Errorf("driver name: %w", err)
	}
	caps, err := rpc.GetControllerCapabilities(callCtx, conn)
	if err != nil {
		return fmt.Errorf("controller capabilities: %w", err)
	}
	if !caps[csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME] {
		return fmt.Errorf("driver %s cannot create volumes (no CREATE_DELETE_VOLUME)", driver)
	}
	slog.Info("serving", "driver", driver, "address", *address)

	p := &provisioner{driver: driver, client: client, csi: csi.NewControllerClient(conn), timeout: *timeout}
	pc := controller.NewProvisionController(ctx, client, driver, p,
		controller.LeaderElection(false))
	pc.Run(ctx)
	return nil
}

// provisioner implements the library's Provisioner with one CSI driver's
// controller service.
type provisioner struct {
	driver  string
	client  kubernetes.Interface
	csi     csi.ControllerClient
	timeout time.Duration
}

var _ controller.Provisioner = (*provisioner)(nil)

// Provision implements controller.Provisioner.
func (p *provisioner) Provision(ctx context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	claim, class := o.PVC, o.StorageClass
	fsType := class.Parameters[paramFSType]
	params := map[string]string{}
	for k, v := range class.Parameters {
		if !strings.HasPrefix(k, paramPrefix) {
			params[k] = v
		}
	}
	block := claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock
	caps, err := capabilities(claim.Spec.AccessModes, block, fsType)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	req := &csi.CreateVolumeRequest{
		// The library's PV name, pvc-<claim UID>: a retried call names the
		// same volume, which CreateVolume must treat as one.
		Name:               o.PVName,
		Parameters:         params,
		VolumeCapabilities: caps,
	}
	if q, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		req.CapacityRange = &csi.CapacityRange{RequiredBytes: q.Value()}
		if l, ok := claim.Spec.Resources.Limits[corev1.ResourceStorage]; ok {
			req.CapacityRange.LimitBytes = l.Value()
		}
	}
	if o.SelectedNodeName != "" {
		seg, err := p.nodeSegment(ctx, o.SelectedNodeName)
		if err != nil {
			// Nothing was created; the node may not have registered the
			// driver yet, and the library tries again.
			return nil, controller.ProvisioningFinished, err
		}
		if len(seg) > 0 {
			t := []*csi.Topology{{Segments: seg}}
			req.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: t, Preferred: t}
		}
	}

	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := p.csi.CreateVolume(callCtx, req)
	if err != nil {
		state := controller.ProvisioningFinished
		switch status.Code(err) {
		case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled, codes.Aborted:
			// The driver may still be creating it: the library calls
			// again until it answers, so no volume is left behind.
			state = controller.ProvisioningInBackground
		}
		return nil, state, fmt.Errorf("create volume %s: %w", o.PVName, err)
	}
	v := resp.GetVolume()
	size := v.GetCapacityBytes()
	if size == 0 {
		size = req.GetCapacityRange().GetRequiredBytes()
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:                   claim.Spec.AccessModes,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(size, resource.BinarySI)},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver:           p.driver,
				VolumeHandle:     v.GetVolumeId(),
				FSType:           fsType,
				VolumeAttributes: v.GetVolumeContext(),
			}},
			NodeAffinity: nodeAffinity(v.GetAccessibleTopology()),
		},
	}
	if class.ReclaimPolicy != nil {
		pv.Spec.PersistentVolumeReclaimPolicy = *class.ReclaimPolicy
	}
	if block {
		pv.Spec.CSI.FSType = ""
	}
	return pv, controller.ProvisioningFinished, nil
}

// Delete implements controller.Provisioner.
func (p *provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != p.driver {
		return &controller.IgnoredError{Reason: "not a volume of driver " + p.driver}
	}
	callCtx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if _, err := p.csi.DeleteVolume(callCtx, &csi.DeleteVolumeRequest{VolumeId: pv.Spec.CSI.VolumeHandle}); err != nil {
		return fmt.Errorf("delete volume %s: %w", pv.Spec.CSI.VolumeHandle, err)
	}
	return nil
}

// nodeSegment is the node's topology for the driver: its labels of the
// topology keys the driver reported in the node's CSINode.
func (p *provisioner) nodeSegment(ctx context.Context, name string) (map[string]string, error) {
	cn, err := p.client.StorageV1().CSINodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("csinode %s: %w", name, err)
	}
	var keys []string
	found := false
	for _, d := range cn.Spec.Drivers {
		if d.Name == p.driver {
			keys, found = d.TopologyKeys, true
		}
	}
	if !found {
		return nil, fmt.Errorf("driver %s not registered on node %s", p.driver, name)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	n, err := p.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	seg := map[string]string{}
	for _, k := range keys {
		v, ok := n.Labels[k]
		if !ok {
			return nil, fmt.Errorf("node %s has no label %s", name, k)
		}
		seg[k] = v
	}
	return seg, nil
}

// nodeAffinity requires one of the volume's accessible topologies.
func nodeAffinity(topo []*csi.Topology) *corev1.VolumeNodeAffinity {
	var terms []corev1.NodeSelectorTerm
	for _, t := range topo {
		var term corev1.NodeSelectorTerm
		for k, v := range t.GetSegments() {
			term.MatchExpressions = append(term.MatchExpressions,
				corev1.NodeSelectorRequirement{Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{v}})
		}
		if len(term.MatchExpressions) > 0 {
			terms = append(terms, term)
		}
	}
	if len(terms) == 0 {
		return nil
	}
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: terms}}
}

// capabilities are the CSI volume capabilities of a claim's access modes.
func capabilities(modes []corev1.PersistentVolumeAccessMode, block bool, fsType string) ([]*csi.VolumeCapability, error) {
	var caps []*csi.VolumeCapability
	for _, m := range modes {
		var mode csi.VolumeCapability_AccessMode_Mode
		switch m {
		case corev1.ReadWriteOnce:
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
		case corev1.ReadWriteOncePod:
			mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
		case corev1.ReadOnlyMany:
			mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
		case corev1.ReadWriteMany:
			mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
		default:
			return nil, fmt.Errorf("unsupported access mode %q", m)
		}
		c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
		if block {
			c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
		} else {
			c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}}
		}
		caps = append(caps, c)
	}
	if len(caps) == 0 {
		return nil, errors.New("claim has no access modes")
	}
	return caps, nil
}
