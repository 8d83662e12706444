package csi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// rpcTimeout bounds each registration call.
const rpcTimeout = 10 * time.Second

// dial connects to a unix socket, given as a path or a unix:// URL.
func dial(endpoint string) (*grpc.ClientConn, error) {
	path := strings.TrimPrefix(endpoint, "unix://")
	return grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// scan registers the drivers of new sockets and deregisters those whose
// socket went.
func (m *Manager) scan(ctx context.Context) {
	entries, _ := os.ReadDir(m.layout.RegistryDir())
	present := map[string]bool{}
	for _, e := range entries {
		if e.Type()&os.ModeSocket == 0 {
			continue
		}
		sock := filepath.Join(m.layout.RegistryDir(), e.Name())
		present[sock] = true
		m.mu.Lock()
		_, known := m.sockets[sock]
		m.mu.Unlock()
		if known {
			continue
		}
		if err := m.register(ctx, sock); err != nil {
			m.log.Warn("register plugin", "socket", sock, "err", err)
		}
	}
	m.mu.Lock()
	var gone []string
	for sock := range m.sockets {
		if !present[sock] {
			gone = append(gone, sock)
		}
	}
	m.mu.Unlock()
	for _, sock := range gone {
		if err := m.deregister(ctx, sock); err != nil {
			m.log.Warn("deregister plugin", "socket", sock, "err", err)
		}
	}
}

// register runs the registration handshake of one socket. A socket that
// fails is tried again on the next scan.
func (m *Manager) register(ctx context.Context, sock string) error {
	conn, err := dial(sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	reg := registerapi.NewRegistrationClient(conn)
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	info, err := reg.GetInfo(cctx, &registerapi.InfoRequest{})
	if err != nil {
		return fmt.Errorf("get plugin info: %w", err)
	}
	if info.Type != registerapi.CSIPlugin {
		// Device and DRA plugins are not this manager's; remember the
		// socket so that it is not asked again.
		m.mu.Lock()
		m.sockets[sock] = ""
		m.mu.Unlock()
		return nil
	}
	d, info2, err := m.connectDriver(ctx, info)
	if err == nil {
		err = m.installDriver(ctx, info2)
		if err != nil {
			_ = d.conn.Close()
		}
	}
	status := &registerapi.RegistrationStatus{PluginRegistered: err == nil}
	if err != nil {
		status.Error = err.Error()
	}
	if _, nerr := reg.NotifyRegistrationStatus(cctx, status); nerr != nil && err == nil {
		m.log.Warn("notify registration status", "driver", info.Name, "err", nerr)
	}
	if err != nil {
		return fmt.Errorf("register csi driver %s: %w", info.Name, err)
	}
	m.mu.Lock()
	if old := m.drivers[d.name]; old != nil {
		_ = old.conn.Close()
	}
	m.drivers[d.name] = d
	m.sockets[sock] = d.name
	m.mu.Unlock()
	m.log.Info("registered csi driver", "driver", d.name, "nodeID", info2.nodeID)
	m.unstageLeftovers(ctx, d)
	return nil
}

// supportsV1 reports whether a plugin speaks CSI 1.x, as upstream asks.
func supportsV1(versions []string) bool {
	return slices.ContainsFunc(versions, func(v string) bool {
		v = strings.TrimPrefix(v, "v")
		return v == "1" || strings.HasPrefix(v, "1.")
	})
}

// connectDriver connects to the driver's endpoint and asks for its node
// info and capabilities.
func (m *Manager) connectDriver(ctx context.Context, info *registerapi.PluginInfo) (*driver, driverInfo, error) {
	if !supportsV1(info.SupportedVersions) {
		return nil, driverInfo{}, fmt.Errorf("none of the versions specified %q are supported", info.SupportedVersions)
	}
	if info.Endpoint == "" {
		return nil, driverInfo{}, fmt.Errorf("no endpoint")
	}
	conn, err := dial(info.Endpoint)
	if err != nil {
		return nil, driverInfo{}, err
	}
	d := &driver{name: info.Name, conn: conn, node: csipb.NewNodeClient(conn)}
	cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	ni, err := d.node.NodeGetInfo(cctx, &csipb.NodeGetInfoRequest{})
	if err != nil {
		_ = conn.Close()
		return nil, driverInfo{}, fmt.Errorf("NodeGetInfo: %w", err)
	}
	caps, err := d.node.NodeGetCapabilities(cctx, &csipb.NodeGetCapabilitiesRequest{})
	if err != nil {
		_ = conn.Close()
		return nil, driverInfo{}, fmt.Errorf("NodeGetCapabilities: %w", err)
	}
	for _, c := range caps.GetCapabilities() {
		switch c.GetRpc().GetType() {
		case csipb.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME:
			d.stage = true
		case csipb.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP:
			d.mountGroup = true
		case csipb.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER:
			d.multiWriter = true
		}
	}
	if ni.GetNodeId() == "" {
		_ = conn.Close()
		return nil, driverInfo{}, fmt.Errorf("NodeGetInfo returned an empty node ID")
	}
	di := driverInfo{name: info.Name, nodeID: ni.GetNodeId(), maxVols: ni.GetMaxVolumesPerNode()}
	if t := ni.GetAccessibleTopology(); t != nil {
		di.topology = t.GetSegments()
	}
	return d, di, nil
}

// installDriver records the driver on the Node (node ID annotation,
// topology labels) and in the CSINode, as upstream's node info manager.
func (m *Manager) installDriver(ctx context.Context, di driverInfo) error {
	nodes := m.cfg.Client.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		add, err := topologyLabels(n.Labels, di.topology)
		if err != nil {
			return err
		}
		ann, err := nodeIDAnnotation(n.Annotations[AnnotationNodeID], di.name, di.nodeID)
		if err != nil {
			return err
		}
		if len(add) == 0 && n.Annotations[AnnotationNodeID] == ann {
			return nil
		}
		n = n.DeepCopy()
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for k, v := range add {
			n.Labels[k] = v
		}
		if n.Annotations == nil {
			n.Annotations = map[string]string{}
		}
		n.Annotations[AnnotationNodeID] = ann
		_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update node: %w", err)
	}
	return m.updateCSINode(ctx, func(ds []storagev1.CSINodeDriver) ([]storagev1.CSINodeDriver, bool) {
		return withDriver(ds, di.csiNodeDriver())
	})
}

// deregister removes the socket's driver from the node, as upstream's
// DeRegisterPlugin does.
func (m *Manager) deregister(ctx context.Context, sock string) error {
	m.mu.Lock()
	name := m.sockets[sock]
	d := m.drivers[name]
	m.mu.Unlock()
	if name != "" {
		if err := m.updateCSINode(ctx, func(ds []storagev1.CSINodeDriver) ([]storagev1.CSINodeDriver, bool) {
			return withoutDriver(ds, name)
		}); err != nil {
			return err
		}
		nodes := m.cfg.Client.CoreV1().Nodes()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := nodes.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur := n.Annotations[AnnotationNodeID]
			ann, err := nodeIDAnnotation(cur, name, "")
			if err != nil || ann == cur {
				return err
			}
			n = n.DeepCopy()
			if ann == "" {
				delete(n.Annotations, AnnotationNodeID)
			} else {
				n.Annotations[AnnotationNodeID] = ann
			}
			_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update node: %w", err)
		}
		m.log.Info("deregistered csi driver", "driver", name)
	}
	m.mu.Lock()
	delete(m.sockets, sock)
	if d != nil && m.drivers[name] == d {
		delete(m.drivers, name)
		_ = d.conn.Close()
	}
	m.mu.Unlock()
	return nil
}

// ensureCSINode creates the node's CSINode, owned by its Node, as the
// kubelet does at start.
func (m *Manager) ensureCSINode(ctx context.Context) error {
	c := m.cfg.Client.StorageV1().CSINodes()
	if _, err := c.Get(ctx, m.cfg.NodeName, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	n, err := m.cfg.Client.CoreV1().Nodes().Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	obj := &storagev1.CSINode{
		ObjectMeta: metav1.ObjectMeta{Name: m.cfg.NodeName, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID},
		}},
		Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{}},
	}
	if _, err := c.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// updateCSINode applies change to the CSINode's drivers.
func (m *Manager) updateCSINode(ctx context.Context, change func([]storagev1.CSINodeDriver) ([]storagev1.CSINodeDriver, bool)) error {
	c := m.cfg.Client.StorageV1().CSINodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cn, err := c.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if err := m.ensureCSINode(ctx); err != nil {
				return err
			}
			cn, err = c.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		ds, changed := change(cn.Spec.Drivers)
		if !changed {
			return nil
		}
		cn = cn.DeepCopy()
		cn.Spec.Drivers = ds
		_, err = c.Update(ctx, cn, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update csinode: %w", err)
	}
	return nil
}
