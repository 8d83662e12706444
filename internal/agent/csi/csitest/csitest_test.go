package csitest

import (
	"context"
	"os"
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func createReq(name string, required int64, requisite map[string]string) *csipb.CreateVolumeRequest {
	r := &csipb.CreateVolumeRequest{
		Name:          name,
		CapacityRange: &csipb.CapacityRange{RequiredBytes: required},
		VolumeCapabilities: []*csipb.VolumeCapability{{
			AccessType: &csipb.VolumeCapability_Mount{Mount: &csipb.VolumeCapability_MountVolume{}},
			AccessMode: &csipb.VolumeCapability_AccessMode{Mode: csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		}},
	}
	if requisite != nil {
		r.AccessibilityRequirements = &csipb.TopologyRequirement{Requisite: []*csipb.Topology{{Segments: requisite}}}
	}
	return r
}

// TestCreateDeleteVolume checks the controller service's answers, in
// order on one driver: what the provisioner relies on (a repeated
// CreateVolume is the same volume; DeleteVolume of a gone volume
// succeeds) and what it must handle (conflicts, topology it cannot meet,
// a volume still attached).
func TestCreateDeleteVolume(t *testing.T) {
	d := Start(t, t.TempDir(), Config{Name: "csi.test", NodeID: "n1", Topology: map[string]string{"zone": "z1"}, Capacity: 1 << 20})
	ctx := context.Background()
	steps := []struct {
		name     string
		do       func() error
		want     codes.Code
		wantDir  bool
		volume   string
		capacity int64
	}{
		{name: "create rounds up to the driver's capacity", volume: "pvc-1", capacity: 1 << 20, wantDir: true,
			do: func() error { _, err := d.CreateVolume(ctx, createReq("pvc-1", 1000, nil)); return err }},
		{name: "a repeated create is the same volume", volume: "pvc-1", capacity: 1 << 20, wantDir: true,
			do: func() error { _, err := d.CreateVolume(ctx, createReq("pvc-1", 1000, nil)); return err }},
		{name: "the same name with another size conflicts", volume: "pvc-1", want: codes.AlreadyExists, wantDir: true,
			do: func() error { _, err := d.CreateVolume(ctx, createReq("pvc-1", 2<<20, nil)); return err }},
		{name: "a requisite topology the driver is not in", volume: "pvc-2", want: codes.ResourceExhausted,
			do: func() error {
				_, err := d.CreateVolume(ctx, createReq("pvc-2", 1, map[string]string{"zone": "z2"}))
				return err
			}},
		{name: "a name that is a path", volume: "pvc-2", want: codes.InvalidArgument,
			do: func() error { _, err := d.CreateVolume(ctx, createReq("../x", 1, nil)); return err }},
		{name: "an attached volume is not deleted", volume: "pvc-1", want: codes.FailedPrecondition, wantDir: true,
			do: func() error {
				if _, err := d.ControllerPublishVolume(ctx, &csipb.ControllerPublishVolumeRequest{VolumeId: "pvc-1", NodeId: "n1"}); err != nil {
					return err
				}
				_, err := d.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: "pvc-1"})
				return err
			}},
		{name: "a detached one is", volume: "pvc-1",
			do: func() error {
				if _, err := d.ControllerUnpublishVolume(ctx, &csipb.ControllerUnpublishVolumeRequest{VolumeId: "pvc-1", NodeId: "n1"}); err != nil {
					return err
				}
				_, err := d.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: "pvc-1"})
				return err
			}},
		{name: "deleting a gone volume succeeds", volume: "pvc-1",
			do: func() error { _, err := d.DeleteVolume(ctx, &csipb.DeleteVolumeRequest{VolumeId: "pvc-1"}); return err }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := status.Code(s.do()); got != s.want {
				t.Errorf("code = %v, want %v", got, s.want)
			}
			st, err := os.Stat(d.VolumeDir(s.volume))
			if got := err == nil && st.IsDir(); got != s.wantDir {
				t.Errorf("volume folder of %s exists = %v, want %v", s.volume, got, s.wantDir)
			}
			if s.capacity == 0 {
				return
			}
			resp, err := d.CreateVolume(ctx, createReq(s.volume, 1, nil))
			if err != nil || resp.Volume.CapacityBytes != s.capacity || len(resp.Volume.AccessibleTopology) != 1 {
				t.Errorf("volume %s = %v, %v; want capacity %d in the driver's zone", s.volume, resp, err, s.capacity)
			}
		})
	}
}
