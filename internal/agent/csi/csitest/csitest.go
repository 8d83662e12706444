// Package csitest is a small CSI driver for tests: Identity, Node and
// Controller (create/delete and publish/unpublish) services on a unix
// socket, whose node service really bind-mounts, plus a registration
// server on the agent's plugins_registry folder, as node-driver-registrar
// runs one.
//
// CreateVolume makes a folder per volume in the driver's state folder
// (volumes/<name>, see VolumeDir); DeleteVolume removes it. A volume's
// content is that folder or, for a volume the driver did not create, the
// folder named by its volume context key "source". NodeStageVolume
// bind-mounts it at the staging path; NodePublishVolume bind-mounts the
// staging path (or the content, when the volume was not staged: a driver
// without staging, an inline volume) at the target. It needs root.
package csitest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Call is one node or controller service call the driver served.
type Call struct {
	Method string
	Volume string
	// Target is the staging or publish target.
	Target string
	// Staging is NodePublishVolume's staging path.
	Staging  string
	Readonly bool
	Context  map[string]string
	Secrets  map[string]string
	Publish  map[string]string
	FSType   string
	Flags    []string
	Group    string
	// Capacity is CreateVolume's required bytes.
	Capacity int64
	// Params are CreateVolume's parameters.
	Params map[string]string
	// Topology is CreateVolume's first preferred (else requisite) segment.
	Topology map[string]string
}

// Config describes a test driver.
type Config struct {
	// Name is the driver's name.
	Name string
	// NodeID is what NodeGetInfo returns.
	NodeID string
	// MaxVolumes is NodeGetInfo's max_volumes_per_node.
	MaxVolumes int64
	// Topology is NodeGetInfo's accessible topology.
	Topology map[string]string
	// Stage gives the node service STAGE_UNSTAGE_VOLUME.
	Stage bool
	// Capacity is what CreateVolume reports of a volume that asks for
	// less; 0 reports the required bytes.
	Capacity int64
}

// Driver is a running test driver.
type Driver struct {
	cfg      Config
	Endpoint string
	srv      *grpc.Server
	// state holds the volumes CreateVolume made.
	state string

	mu    sync.Mutex
	calls []Call
	// published are the controller-published volume/node pairs.
	published map[string]bool
	// volumes are the created volumes by id (their name).
	volumes map[string]*csipb.Volume

	csipb.UnimplementedIdentityServer
	csipb.UnimplementedNodeServer
	csipb.UnimplementedControllerServer
}

// Start serves a driver at dir/csi.sock until the test ends; the volumes
// it creates are folders under dir/volumes.
func Start(t testing.TB, dir string, cfg Config) *Driver {
	t.Helper()
	d := &Driver{cfg: cfg, Endpoint: filepath.Join(dir, "csi.sock"), state: filepath.Join(dir, "volumes"),
		published: map[string]bool{}, volumes: map[string]*csipb.Volume{}}
	d.srv = grpc.NewServer()
	csipb.RegisterIdentityServer(d.srv, d)
	csipb.RegisterNodeServer(d.srv, d)
	csipb.RegisterControllerServer(d.srv, d)
	serve(t, d.srv, d.Endpoint)
	return d
}

func serve(t testing.TB, srv *grpc.Server, sock string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(sock), 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
		_ = os.Remove(sock)
	})
}

// Calls returns the node service calls so far, in order.
func (d *Driver) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// CallsOf returns the calls of one method.
func (d *Driver) CallsOf(method string) []Call {
	var out []Call
	for _, c := range d.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (d *Driver) record(c Call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, c)
}

// GetPluginInfo implements csi.IdentityServer.
func (d *Driver) GetPluginInfo(context.Context, *csipb.GetPluginInfoRequest) (*csipb.GetPluginInfoResponse, error) {
	return &csipb.GetPluginInfoResponse{Name: d.cfg.Name, VendorVersion: "0.1.0"}, nil
}

// GetPluginCapabilities implements csi.IdentityServer.
func (d *Driver) GetPluginCapabilities(context.Context, *csipb.GetPluginCapabilitiesRequest) (*csipb.GetPluginCapabilitiesResponse, error) {
	return &csipb.GetPluginCapabilitiesResponse{Capabilities: []*csipb.PluginCapability{{
		Type: &csipb.PluginCapability_Service_{Service: &csipb.PluginCapability_Service{Type: csipb.PluginCapability_Service_CONTROLLER_SERVICE}},
	}}}, nil
}

// Probe implements csi.IdentityServer.
func (d *Driver) Probe(context.Context, *csipb.ProbeRequest) (*csipb.ProbeResponse, error) {
	return &csipb.ProbeResponse{}, nil
}

// ControllerGetCapabilities implements csi.ControllerServer.
func (d *Driver) ControllerGetCapabilities(context.Context, *csipb.ControllerGetCapabilitiesRequest) (*csipb.ControllerGetCapabilitiesResponse, error) {
	var caps []*csipb.ControllerServiceCapability
	for _, c := range []csipb.ControllerServiceCapability_RPC_Type{
		csipb.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csipb.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	} {
		caps = append(caps, &csipb.ControllerServiceCapability{
			Type: &csipb.ControllerServiceCapability_Rpc{Rpc: &csipb.ControllerServiceCapability_RPC{Type: c}}})
	}
	return &csipb.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// VolumeDir is the folder of a volume CreateVolume made.
func (d *Driver) VolumeDir(id string) string {
	return filepath.Join(d.state, id)
}

// CreateVolume implements csi.ControllerServer: it makes the volume's
// folder. The volume's id is its name, so that a repeated call (the
// provisioner retries after a timeout) finds the same volume. Its
// accessible topology is the driver's, which a requirement must allow.
func (d *Driver) CreateVolume(_ context.Context, r *csipb.CreateVolumeRequest) (*csipb.CreateVolumeResponse, error) {
	c := Call{Method: "CreateVolume", Volume: r.Name, Params: r.Parameters, Capacity: r.GetCapacityRange().GetRequiredBytes()}
	if req := r.AccessibilityRequirements; req != nil {
		if len(req.Preferred) > 0 {
			c.Topology = req.Preferred[0].Segments
		} else if len(req.Requisite) > 0 {
			c.Topology = req.Requisite[0].Segments
		}
	}
	d.record(c)
	if r.Name == "" || strings.ContainsAny(r.Name, "/\x00") || r.Name == "." || r.Name == ".." {
		return nil, status.Errorf(codes.InvalidArgument, "bad volume name %q", r.Name)
	}
	if len(r.VolumeCapabilities) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no volume capabilities")
	}
	var topo []*csipb.Topology
	if len(d.cfg.Topology) > 0 {
		topo = []*csipb.Topology{{Segments: d.cfg.Topology}}
		if req := r.AccessibilityRequirements; req != nil && len(req.Requisite) > 0 &&
			!slices.ContainsFunc(req.Requisite, func(t *csipb.Topology) bool { return maps.Equal(t.Segments, d.cfg.Topology) }) {
			return nil, status.Errorf(codes.ResourceExhausted, "topology %v not in requisite %v", d.cfg.Topology, req.Requisite)
		}
	}
	size := max(d.cfg.Capacity, c.Capacity)
	if limit := r.GetCapacityRange().GetLimitBytes(); limit > 0 && size > limit {
		return nil, status.Errorf(codes.OutOfRange, "capacity %d above the limit %d", size, limit)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.volumes[r.Name]; ok {
		if v.CapacityBytes != size {
			return nil, status.Errorf(codes.AlreadyExists, "volume %s exists with capacity %d", r.Name, v.CapacityBytes)
		}
		return &csipb.CreateVolumeResponse{Volume: v}, nil
	}
	if err := os.MkdirAll(d.VolumeDir(r.Name), 0o755); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	v := &csipb.Volume{VolumeId: r.Name, CapacityBytes: size, AccessibleTopology: topo,
		// What the node service is told about the volume.
		VolumeContext: map[string]string{"csi.test.skiff.io/created-by": "csitest"}}
	d.volumes[r.Name] = v
	return &csipb.CreateVolumeResponse{Volume: v}, nil
}

// DeleteVolume implements csi.ControllerServer: it removes the volume's
// folder. An unknown volume is gone already.
func (d *Driver) DeleteVolume(_ context.Context, r *csipb.DeleteVolumeRequest) (*csipb.DeleteVolumeResponse, error) {
	d.record(Call{Method: "DeleteVolume", Volume: r.VolumeId})
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.volumes[r.VolumeId]; !ok {
		return &csipb.DeleteVolumeResponse{}, nil
	}
	for k := range d.published {
		if strings.HasPrefix(k, r.VolumeId+"@") {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %s is published at %s", r.VolumeId, k)
		}
	}
	if err := os.RemoveAll(d.VolumeDir(r.VolumeId)); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	delete(d.volumes, r.VolumeId)
	return &csipb.DeleteVolumeResponse{}, nil
}

// content is the folder holding a volume's data: the one CreateVolume
// made, else the volume context's source.
func (d *Driver) content(id string, volCtx map[string]string) string {
	d.mu.Lock()
	_, ok := d.volumes[id]
	d.mu.Unlock()
	if ok {
		return d.VolumeDir(id)
	}
	return volCtx["source"]
}

// ControllerPublishVolume implements csi.ControllerServer: it attaches.
func (d *Driver) ControllerPublishVolume(_ context.Context, r *csipb.ControllerPublishVolumeRequest) (*csipb.ControllerPublishVolumeResponse, error) {
	if r.NodeId != d.cfg.NodeID {
		return nil, status.Errorf(codes.NotFound, "node %q not found", r.NodeId)
	}
	d.mu.Lock()
	d.published[r.VolumeId+"@"+r.NodeId] = true
	d.mu.Unlock()
	d.record(Call{Method: "ControllerPublishVolume", Volume: r.VolumeId})
	return &csipb.ControllerPublishVolumeResponse{PublishContext: map[string]string{"device": "/dev/test-" + r.VolumeId}}, nil
}

// ControllerUnpublishVolume implements csi.ControllerServer: it detaches.
func (d *Driver) ControllerUnpublishVolume(_ context.Context, r *csipb.ControllerUnpublishVolumeRequest) (*csipb.ControllerUnpublishVolumeResponse, error) {
	d.mu.Lock()
	delete(d.published, r.VolumeId+"@"+r.NodeId)
	d.mu.Unlock()
	d.record(Call{Method: "ControllerUnpublishVolume", Volume: r.VolumeId})
	return &csipb.ControllerUnpublishVolumeResponse{}, nil
}

// NodeGetInfo implements csi.NodeServer.
func (d *Driver) NodeGetInfo(context.Context, *csipb.NodeGetInfoRequest) (*csipb.NodeGetInfoResponse, error) {
	r := &csipb.NodeGetInfoResponse{NodeId: d.cfg.NodeID, MaxVolumesPerNode: d.cfg.MaxVolumes}
	if len(d.cfg.Topology) > 0 {
		r.AccessibleTopology = &csipb.Topology{Segments: d.cfg.Topology}
	}
	return r, nil
}

// NodeGetCapabilities implements csi.NodeServer.
func (d *Driver) NodeGetCapabilities(context.Context, *csipb.NodeGetCapabilitiesRequest) (*csipb.NodeGetCapabilitiesResponse, error) {
	var caps []*csipb.NodeServiceCapability
	if d.cfg.Stage {
		caps = append(caps, &csipb.NodeServiceCapability{Type: &csipb.NodeServiceCapability_Rpc{
			Rpc: &csipb.NodeServiceCapability_RPC{Type: csipb.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME}}})
	}
	return &csipb.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

func mountOf(c *csipb.VolumeCapability) (fsType string, flags []string, group string) {
	if m := c.GetMount(); m != nil {
		return m.FsType, m.MountFlags, m.VolumeMountGroup
	}
	return "", nil, ""
}

// bind bind-mounts src at dst (made a folder), read-only when ro.
func bind(src, dst string, ro bool) error {
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return err
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s at %s: %w", src, dst, err)
	}
	if ro {
		if err := syscall.Mount("", dst, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			_ = syscall.Unmount(dst, 0)
			return fmt.Errorf("remount %s read-only: %w", dst, err)
		}
	}
	return nil
}

// unbind unmounts dst if mounted and removes it.
func unbind(dst string) error {
	if err := syscall.Unmount(dst, 0); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
		return fmt.Errorf("unmount %s: %w", dst, err)
	}
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// NodeStageVolume implements csi.NodeServer.
func (d *Driver) NodeStageVolume(_ context.Context, r *csipb.NodeStageVolumeRequest) (*csipb.NodeStageVolumeResponse, error) {
	fs, flags, group := mountOf(r.VolumeCapability)
	d.record(Call{Method: "NodeStageVolume", Volume: r.VolumeId, Target: r.StagingTargetPath, Context: r.VolumeContext,
		Secrets: r.Secrets, Publish: r.PublishContext, FSType: fs, Flags: flags, Group: group})
	src := d.content(r.VolumeId, r.VolumeContext)
	if src == "" {
		return nil, status.Error(codes.InvalidArgument, "unknown volume and its context has no source")
	}
	if err := bind(src, r.StagingTargetPath, false); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &csipb.NodeStageVolumeResponse{}, nil
}

// NodeUnstageVolume implements csi.NodeServer.
func (d *Driver) NodeUnstageVolume(_ context.Context, r *csipb.NodeUnstageVolumeRequest) (*csipb.NodeUnstageVolumeResponse, error) {
	d.record(Call{Method: "NodeUnstageVolume", Volume: r.VolumeId, Target: r.StagingTargetPath})
	if err := unbind(r.StagingTargetPath); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &csipb.NodeUnstageVolumeResponse{}, nil
}

// NodePublishVolume implements csi.NodeServer.
func (d *Driver) NodePublishVolume(_ context.Context, r *csipb.NodePublishVolumeRequest) (*csipb.NodePublishVolumeResponse, error) {
	fs, flags, group := mountOf(r.VolumeCapability)
	d.record(Call{Method: "NodePublishVolume", Volume: r.VolumeId, Target: r.TargetPath, Staging: r.StagingTargetPath,
		Readonly: r.Readonly, Context: r.VolumeContext, Secrets: r.Secrets, Publish: r.PublishContext, FSType: fs, Flags: flags, Group: group})
	src := r.StagingTargetPath
	if src == "" {
		src = d.content(r.VolumeId, r.VolumeContext)
	}
	if src == "" {
		return nil, status.Error(codes.InvalidArgument, "nothing to publish")
	}
	if err := bind(src, r.TargetPath, r.Readonly); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &csipb.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume implements csi.NodeServer.
func (d *Driver) NodeUnpublishVolume(_ context.Context, r *csipb.NodeUnpublishVolumeRequest) (*csipb.NodeUnpublishVolumeResponse, error) {
	d.record(Call{Method: "NodeUnpublishVolume", Volume: r.VolumeId, Target: r.TargetPath})
	if err := unbind(r.TargetPath); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &csipb.NodeUnpublishVolumeResponse{}, nil
}

// Registrar is a registration server, as node-driver-registrar serves.
type Registrar struct {
	registerapi.UnimplementedRegistrationServer
	info   *registerapi.PluginInfo
	srv    *grpc.Server
	Socket string

	mu       sync.Mutex
	statuses []*registerapi.RegistrationStatus
}

// Register serves the driver's registration socket in registryDir (the
// agent's plugins_registry) until the test ends or Stop is called.
func (d *Driver) Register(t testing.TB, registryDir string) *Registrar {
	t.Helper()
	r := &Registrar{
		info: &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: d.cfg.Name, Endpoint: d.Endpoint, SupportedVersions: []string{"1.0.0"}},
		// node-driver-registrar's socket name.
		Socket: filepath.Join(registryDir, d.cfg.Name+"-reg.sock"),
	}
	r.srv = grpc.NewServer()
	registerapi.RegisterRegistrationServer(r.srv, r)
	serve(t, r.srv, r.Socket)
	return r
}

// Stop stops serving and removes the socket, as the registrar does when
// its driver goes.
func (r *Registrar) Stop() {
	r.srv.Stop()
	_ = os.Remove(r.Socket)
}

// GetInfo implements the registration API.
func (r *Registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return r.info, nil
}

// NotifyRegistrationStatus implements the registration API.
func (r *Registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses = append(r.statuses, s)
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Statuses returns the registration statuses the agent sent.
func (r *Registrar) Statuses() []*registerapi.RegistrationStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.statuses)
}
