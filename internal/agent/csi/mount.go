package csi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"skiff/internal/agent"
)

// Volume context keys the kubelet adds for podInfoOnMount and token
// requests, as upstream.
const (
	ctxPodName        = "csi.storage.k8s.io/pod.name"
	ctxPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	ctxPodUID         = "csi.storage.k8s.io/pod.uid"
	ctxServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	ctxEphemeral      = "csi.storage.k8s.io/ephemeral"
	ctxTokens         = "csi.storage.k8s.io/serviceAccount.tokens"
)

// csiTimeout bounds a mount's or a tear-down's CSI calls, as upstream's.
const csiTimeout = 2 * time.Minute

// volData is the vol_data.json beside a publish (or staging) target: what
// tear-down needs when only the disk is left.
type volData struct {
	DriverName    string `json:"driverName"`
	VolumeHandle  string `json:"volumeHandle"`
	SpecVolID     string `json:"specVolID"`
	NodeName      string `json:"nodeName"`
	AttachmentID  string `json:"attachmentID,omitempty"`
	LifecycleMode string `json:"volumeLifecycleMode"`
	// Staged says the volume was staged (published from StagingPath).
	Staged bool `json:"staged,omitempty"`
}

// request is one volume's mount, resolved from the pod, PV and CSIDriver.
type request struct {
	driver     string
	handle     string
	ephemeral  bool
	readOnly   bool
	fsType     string
	mountFlags []string
	attributes map[string]string
	accessMode corev1.PersistentVolumeAccessMode
	stageRef   *corev1.SecretReference
	publishRef *corev1.SecretReference
	specVolID  string
}

// resolve reads what Mount needs from the pod's volume and its PV.
func resolve(pod *corev1.Pod, vol *corev1.Volume, pv *corev1.PersistentVolume) (request, error) {
	if pv != nil {
		src := pv.Spec.CSI
		if src == nil {
			return request{}, fmt.Errorf("persistentvolume %s is not a CSI volume", pv.Name)
		}
		if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
			return request{}, errors.New("block volumes are not supported")
		}
		r := request{
			driver: src.Driver, handle: src.VolumeHandle, fsType: src.FSType,
			readOnly:   src.ReadOnly || (vol.PersistentVolumeClaim != nil && vol.PersistentVolumeClaim.ReadOnly),
			mountFlags: pv.Spec.MountOptions, attributes: src.VolumeAttributes,
			stageRef: src.NodeStageSecretRef, publishRef: src.NodePublishSecretRef,
			specVolID: pv.Name,
		}
		if len(pv.Spec.AccessModes) > 0 {
			r.accessMode = pv.Spec.AccessModes[0]
		}
		return r, nil
	}
	src := vol.CSI
	if src == nil {
		return request{}, fmt.Errorf("volume %s is not a CSI volume", vol.Name)
	}
	r := request{
		driver: src.Driver, handle: ephemeralHandle(pod.UID, vol.Name), ephemeral: true,
		readOnly: src.ReadOnly != nil && *src.ReadOnly, attributes: src.VolumeAttributes,
		accessMode: corev1.ReadWriteOnce, specVolID: vol.Name,
	}
	if src.FSType != nil {
		r.fsType = *src.FSType
	}
	if src.NodePublishSecretRef != nil {
		r.publishRef = &corev1.SecretReference{Namespace: pod.Namespace, Name: src.NodePublishSecretRef.Name}
	}
	return r, nil
}

// accessMode maps a PV access mode to CSI's, as upstream's CSI plugin.
func accessMode(m corev1.PersistentVolumeAccessMode, multiWriter bool) csipb.VolumeCapability_AccessMode_Mode {
	switch m {
	case corev1.ReadOnlyMany:
		return csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	case corev1.ReadWriteMany:
		return csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	case corev1.ReadWriteOncePod:
		if multiWriter {
			return csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
		}
		return csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	case corev1.ReadWriteOnce:
		if multiWriter {
			return csipb.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER
		}
		return csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	}
	return csipb.VolumeCapability_AccessMode_UNKNOWN
}

// ownership decides, from the CSIDriver's fsGroupPolicy, whether the pod's
// fsGroup applies to the volume and whether the driver applies it
// (volume_mount_group) or the agent does.
func ownership(pod *corev1.Pod, d *storagev1.CSIDriver, r request, mountGroup bool) (apply, byDriver bool) {
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.FSGroup == nil || r.readOnly {
		return false, false
	}
	policy := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
	if d != nil && d.Spec.FSGroupPolicy != nil {
		policy = *d.Spec.FSGroupPolicy
	}
	switch policy {
	case storagev1.NoneFSGroupPolicy:
		return false, false
	case storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy:
		if r.fsType == "" || (r.accessMode != corev1.ReadWriteOnce && r.accessMode != corev1.ReadWriteOncePod) {
			return false, false
		}
	}
	return true, mountGroup
}

// volumeContext is the volume's attributes plus the pod information and
// tokens the CSIDriver asks for.
func (m *Manager) volumeContext(ctx context.Context, pod *corev1.Pod, d *storagev1.CSIDriver, r request) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range r.attributes {
		out[k] = v
	}
	if d == nil {
		return out, nil
	}
	if d.Spec.PodInfoOnMount != nil && *d.Spec.PodInfoOnMount {
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		out[ctxPodName] = pod.Name
		out[ctxPodNamespace] = pod.Namespace
		out[ctxPodUID] = string(pod.UID)
		out[ctxServiceAccount] = sa
		out[ctxEphemeral] = strconv.FormatBool(r.ephemeral)
	}
	if len(d.Spec.TokenRequests) > 0 {
		toks, err := m.tokens(ctx, pod, d.Spec.TokenRequests)
		if err != nil {
			return nil, err
		}
		out[ctxTokens] = toks
	}
	return out, nil
}

// tokens requests the pod's service account tokens for the driver's
// audiences, as JSON {audience: {token, expirationTimestamp}}.
func (m *Manager) tokens(ctx context.Context, pod *corev1.Pod, reqs []storagev1.TokenRequest) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	type token struct {
		Token               string      `json:"token"`
		ExpirationTimestamp metav1.Time `json:"expirationTimestamp"`
	}
	out := map[string]token{}
	for _, tr := range reqs {
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: tr.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		}}
		if tr.Audience != "" {
			req.Spec.Audiences = []string{tr.Audience}
		}
		res, err := m.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("fetch token: %w", err)
		}
		out[tr.Audience] = token{Token: res.Status.Token, ExpirationTimestamp: res.Status.ExpirationTimestamp}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// secret reads a Secret's data for a CSI call.
func (m *Manager) secret(ctx context.Context, ref *corev1.SecretReference) (map[string]string, error) {
	if ref == nil {
		return nil, nil
	}
	s, err := m.cfg.Client.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("fetching secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out, nil
}

// csiDriver returns the CSIDriver object, nil when there is none.
func (m *Manager) csiDriver(ctx context.Context, name string) (*storagev1.CSIDriver, error) {
	d, err := m.cfg.Client.StorageV1().CSIDrivers().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get csidriver %s: %w", name, err)
	}
	return d, nil
}

// ephemeralAllowed reports whether the driver serves inline volumes.
func ephemeralAllowed(d *storagev1.CSIDriver) bool {
	return d != nil && slices.Contains(d.Spec.VolumeLifecycleModes, storagev1.VolumeLifecycleEphemeral)
}

// Mount implements agent.CSIVolumes.
func (m *Manager) Mount(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, pv *corev1.PersistentVolume) (agent.CSIMount, error) {
	r, err := resolve(pod, vol, pv)
	if err != nil {
		return agent.CSIMount{}, err
	}
	target := m.layout.PublishPath(pod.UID, vol.Name)
	dataFile := filepath.Join(filepath.Dir(target), "vol_data.json")
	drv, err := m.driver(r.driver)
	if err != nil {
		return agent.CSIMount{}, err
	}
	obj, err := m.csiDriver(ctx, r.driver)
	if err != nil {
		return agent.CSIMount{}, err
	}
	if r.ephemeral && !ephemeralAllowed(obj) {
		return agent.CSIMount{}, fmt.Errorf("volume mode %q not supported by driver %s", storagev1.VolumeLifecycleEphemeral, r.driver)
	}
	apply, byDriver := ownership(pod, obj, r, drv.mountGroup)
	res := agent.CSIMount{Path: target, SetOwnership: apply && !byDriver}
	m.volumes.Lock()
	defer m.volumes.Unlock()
	if _, err := os.Stat(dataFile); err == nil && isMountPoint(target) {
		return res, nil // published already: pod syncs come often
	}

	ctx, cancel := context.WithTimeout(ctx, csiTimeout)
	defer cancel()
	var publishCtx map[string]string
	attachID := ""
	if !r.ephemeral && (obj == nil || obj.Spec.AttachRequired == nil || *obj.Spec.AttachRequired) {
		attachID = attachmentName(r.handle, r.driver, m.cfg.NodeName)
		if publishCtx, err = m.waitForAttach(ctx, attachID, r); err != nil {
			return agent.CSIMount{}, err
		}
	}
	volCtx, err := m.volumeContext(ctx, pod, obj, r)
	if err != nil {
		return agent.CSIMount{}, err
	}
	mountCap := &csipb.VolumeCapability_MountVolume{FsType: r.fsType, MountFlags: r.mountFlags}
	if apply && byDriver {
		mountCap.VolumeMountGroup = strconv.FormatInt(*pod.Spec.SecurityContext.FSGroup, 10)
	}
	capability := &csipb.VolumeCapability{
		AccessType: &csipb.VolumeCapability_Mount{Mount: mountCap},
		AccessMode: &csipb.VolumeCapability_AccessMode{Mode: accessMode(r.accessMode, drv.multiWriter)},
	}
	mode := storagev1.VolumeLifecyclePersistent
	if r.ephemeral {
		mode = storagev1.VolumeLifecycleEphemeral
	}
	data := volData{DriverName: r.driver, VolumeHandle: r.handle, SpecVolID: r.specVolID, NodeName: m.cfg.NodeName,
		AttachmentID: attachID, LifecycleMode: string(mode), Staged: drv.stage && !r.ephemeral}

	staging := ""
	if data.Staged {
		staging = m.layout.StagingPath(r.driver, r.handle)
		if err := writeVolData(filepath.Dir(staging), data); err != nil {
			return agent.CSIMount{}, err
		}
		if !isMountPoint(staging) {
			secrets, err := m.secret(ctx, r.stageRef)
			if err != nil {
				return agent.CSIMount{}, err
			}
			if err := os.MkdirAll(staging, 0o750); err != nil {
				return agent.CSIMount{}, err
			}
			_, err = drv.node.NodeStageVolume(ctx, &csipb.NodeStageVolumeRequest{
				VolumeId: r.handle, PublishContext: publishCtx, StagingTargetPath: staging,
				VolumeCapability: capability, Secrets: secrets, VolumeContext: r.attributes,
			})
			if err != nil {
				return agent.CSIMount{}, fmt.Errorf("MountVolume.MountDevice failed: rpc error: %w", err)
			}
		}
	}
	// vol_data.json first, so that a crash after the publish still
	// leaves what tear-down needs.
	if err := writeVolData(filepath.Dir(target), data); err != nil {
		return agent.CSIMount{}, err
	}
	secrets, err := m.secret(ctx, r.publishRef)
	if err != nil {
		return agent.CSIMount{}, err
	}
	_, err = drv.node.NodePublishVolume(ctx, &csipb.NodePublishVolumeRequest{
		VolumeId: r.handle, PublishContext: publishCtx, StagingTargetPath: staging, TargetPath: target,
		VolumeCapability: capability, Readonly: r.readOnly, Secrets: secrets, VolumeContext: volCtx,
	})
	if err != nil {
		return agent.CSIMount{}, fmt.Errorf("rpc error: NodePublishVolume: %w", err)
	}
	return res, nil
}

// waitForAttach waits for the volume's VolumeAttachment to be attached
// and returns its attachment metadata (the publish context).
func (m *Manager) waitForAttach(ctx context.Context, name string, r request) (map[string]string, error) {
	var meta map[string]string
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, m.cfg.AttachTimeout, true, func(ctx context.Context) (bool, error) {
		va, err := m.cfg.Client.StorageV1().VolumeAttachments().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		if va.Status.Attached {
			meta = va.Status.AttachmentMetadata
			return true, nil
		}
		last = nil
		if e := va.Status.AttachError; e != nil {
			last = errors.New(e.Message)
		}
		return false, nil
	})
	if err != nil {
		msg := fmt.Sprintf("timed out waiting for external-attacher of %s CSI driver to attach volume %s", r.driver, r.handle)
		if last != nil {
			msg += ": " + last.Error()
		}
		return nil, fmt.Errorf("MountVolume.WaitForAttach failed for volume %q : %s", r.specVolID, msg)
	}
	return meta, nil
}

// TearDown implements agent.CSIVolumes.
func (m *Manager) TearDown(ctx context.Context, uid types.UID) error {
	ctx, cancel := context.WithTimeout(ctx, csiTimeout)
	defer cancel()
	m.volumes.Lock()
	defer m.volumes.Unlock()
	dir := m.layout.podCSIDir(uid)
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if err := m.unpublish(ctx, uid, e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("volume %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// unpublish unpublishes one pod volume and unstages it when no other pod
// publishes it.
func (m *Manager) unpublish(ctx context.Context, uid types.UID, name string) error {
	vdir := m.layout.volumeDir(uid, name)
	target := m.layout.PublishPath(uid, name)
	data, err := readVolData(vdir)
	if os.IsNotExist(err) {
		if isMountPoint(target) {
			return fmt.Errorf("%s is mounted but has no vol_data.json", target)
		}
		return os.RemoveAll(vdir)
	}
	if err != nil {
		return err
	}
	drv, err := m.driver(data.DriverName)
	if err != nil {
		return fmt.Errorf("UnmountVolume.TearDown failed: %w", err)
	}
	if _, err := drv.node.NodeUnpublishVolume(ctx, &csipb.NodeUnpublishVolumeRequest{VolumeId: data.VolumeHandle, TargetPath: target}); err != nil {
		return fmt.Errorf("UnmountVolume.TearDown failed: rpc error: NodeUnpublishVolume: %w", err)
	}
	if isMountPoint(target) {
		return fmt.Errorf("UnmountVolume.TearDown failed: %s is still mounted after NodeUnpublishVolume", target)
	}
	if err := os.RemoveAll(vdir); err != nil {
		return err
	}
	if data.Staged && !m.published(data.DriverName, data.VolumeHandle) {
		return m.unstage(ctx, drv, data.DriverName, data.VolumeHandle)
	}
	return nil
}

// unstage unstages a volume and removes its staging folder.
func (m *Manager) unstage(ctx context.Context, drv *driver, driverName, handle string) error {
	staging := m.layout.StagingPath(driverName, handle)
	if _, err := drv.node.NodeUnstageVolume(ctx, &csipb.NodeUnstageVolumeRequest{VolumeId: handle, StagingTargetPath: staging}); err != nil {
		return fmt.Errorf("UnmountDevice failed: rpc error: NodeUnstageVolume: %w", err)
	}
	if isMountPoint(staging) {
		return fmt.Errorf("UnmountDevice failed: %s is still mounted after NodeUnstageVolume", staging)
	}
	return os.RemoveAll(filepath.Dir(staging))
}

// published reports whether any pod on the node publishes the volume.
func (m *Manager) published(driverName, handle string) bool {
	files, _ := filepath.Glob(filepath.Join(m.layout.Root, "pods", "*", "volumes", pluginName, "*", "vol_data.json"))
	for _, f := range files {
		d, err := readVolData(filepath.Dir(f))
		if err == nil && d.DriverName == driverName && d.VolumeHandle == handle {
			return true
		}
	}
	return false
}

// unstageLeftovers unstages the driver's staged volumes no pod publishes
// any more: those whose last pod went while the agent was down.
func (m *Manager) unstageLeftovers(ctx context.Context, drv *driver) {
	m.volumes.Lock()
	defer m.volumes.Unlock()
	dirs, _ := filepath.Glob(filepath.Join(m.layout.Root, "plugins", "kubernetes.io", "csi", drv.name, "*"))
	for _, dir := range dirs {
		data, err := readVolData(dir)
		if err != nil || m.published(data.DriverName, data.VolumeHandle) {
			continue
		}
		if err := m.unstage(ctx, drv, data.DriverName, data.VolumeHandle); err != nil {
			m.log.Warn("unstage leftover volume", "driver", drv.name, "volume", data.VolumeHandle, "err", err)
		}
	}
}

func writeVolData(dir string, d volData) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "vol_data.json"), b, 0o640)
}

func readVolData(dir string) (volData, error) {
	var d volData
	b, err := os.ReadFile(filepath.Join(dir, "vol_data.json"))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("parse %s: %w", filepath.Join(dir, "vol_data.json"), err)
	}
	return d, nil
}

// isMountPoint reports whether dir is on another device than its parent,
// or is a bind mount (its mount ID differs from its parent's).
func isMountPoint(dir string) bool {
	var st, pst syscall.Stat_t
	if syscall.Stat(dir, &st) != nil || syscall.Stat(filepath.Dir(dir), &pst) != nil {
		return false
	}
	if st.Dev != pst.Dev {
		return true
	}
	return inMountInfo(dir)
}

// InUse implements agent.CSIVolumes: the persistent volumes of the
// vol_data.json files of the node's pods.
func (m *Manager) InUse() []corev1.UniqueVolumeName {
	files, _ := filepath.Glob(filepath.Join(m.layout.Root, "pods", "*", "volumes", pluginName, "*", "vol_data.json"))
	var out []corev1.UniqueVolumeName
	for _, f := range files {
		d, err := readVolData(filepath.Dir(f))
		if err != nil || d.LifecycleMode == string(storagev1.VolumeLifecycleEphemeral) {
			continue
		}
		out = append(out, corev1.UniqueVolumeName("kubernetes.io/csi/"+d.DriverName+"^"+d.VolumeHandle))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
