package csi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestCSINodeDrivers(t *testing.T) {
	a := driverInfo{name: "a", nodeID: "id-a", maxVols: 3, topology: map[string]string{"z": "1", "r": "x"}}.csiNodeDriver()
	if diff := cmp.Diff(storagev1.CSINodeDriver{Name: "a", NodeID: "id-a", TopologyKeys: []string{"r", "z"},
		Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To(int32(3))}}, a); diff != "" {
		t.Errorf("csiNodeDriver (-want +got):\n%s", diff)
	}
	b := driverInfo{name: "b", nodeID: "id-b"}.csiNodeDriver()
	if b.Allocatable != nil || b.TopologyKeys != nil {
		t.Errorf("driver without limits or topology = %+v", b)
	}
	a2 := a
	a2.NodeID = "id-a2"
	tests := []struct {
		name        string
		in          []storagev1.CSINodeDriver
		add         *storagev1.CSINodeDriver
		remove      string
		want        []storagev1.CSINodeDriver
		wantChanged bool
	}{
		{name: "add to empty", add: &a, want: []storagev1.CSINodeDriver{a}, wantChanged: true},
		{name: "add another", in: []storagev1.CSINodeDriver{a}, add: &b, want: []storagev1.CSINodeDriver{a, b}, wantChanged: true},
		{name: "same again", in: []storagev1.CSINodeDriver{a, b}, add: &a, want: []storagev1.CSINodeDriver{a, b}},
		{name: "replaced", in: []storagev1.CSINodeDriver{a, b}, add: &a2, want: []storagev1.CSINodeDriver{a2, b}, wantChanged: true},
		{name: "remove", in: []storagev1.CSINodeDriver{a, b}, remove: "a", want: []storagev1.CSINodeDriver{b}, wantChanged: true},
		{name: "remove absent", in: []storagev1.CSINodeDriver{b}, remove: "a", want: []storagev1.CSINodeDriver{b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []storagev1.CSINodeDriver
			var changed bool
			if tt.add != nil {
				got, changed = withDriver(tt.in, *tt.add)
			} else {
				got, changed = withoutDriver(tt.in, tt.remove)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("drivers (-want +got):\n%s", diff)
			}
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
		})
	}
}

func TestNodeIDAnnotation(t *testing.T) {
	tests := []struct {
		name, current, driver, nodeID, want string
		wantErr                             bool
	}{
		{name: "first", driver: "a", nodeID: "1", want: `{"a":"1"}`},
		{name: "second", current: `{"a":"1"}`, driver: "b", nodeID: "2", want: `{"a":"1","b":"2"}`},
		{name: "remove one", current: `{"a":"1","b":"2"}`, driver: "a", want: `{"b":"2"}`},
		{name: "remove last", current: `{"a":"1"}`, driver: "a", want: ""},
		{name: "bad json", current: `{`, driver: "a", nodeID: "1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nodeIDAnnotation(tt.current, tt.driver, tt.nodeID)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("nodeIDAnnotation = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTopologyLabels(t *testing.T) {
	node := map[string]string{"zone": "z1", "kubernetes.io/hostname": "n"}
	add, err := topologyLabels(node, map[string]string{"zone": "z1", "rack": "r1"})
	if err != nil || !cmp.Equal(add, map[string]string{"rack": "r1"}) {
		t.Errorf("topologyLabels = %v, %v; want rack only", add, err)
	}
	if _, err := topologyLabels(node, map[string]string{"zone": "z2"}); err == nil {
		t.Error("a topology value collision was accepted")
	}
}

func TestPaths(t *testing.T) {
	l := Layout{Root: "/var/lib/skiff/agent"}
	// sha256("vol-1") in hex.
	if got, want := l.StagingPath("d.csi", "vol-1"), "/var/lib/skiff/agent/plugins/kubernetes.io/csi/d.csi/d2e8363faaac7ae76def3b14091d8eb5755f6b92e9531627aeec833a8731cc49/globalmount"; got != want {
		t.Errorf("StagingPath = %q, want %q", got, want)
	}
	if got, want := l.PublishPath("uid-1", "data"), "/var/lib/skiff/agent/pods/uid-1/volumes/kubernetes.io~csi/data/mount"; got != want {
		t.Errorf("PublishPath = %q, want %q", got, want)
	}
	if got, want := l.RegistryDir(), "/var/lib/skiff/agent/plugins_registry"; got != want {
		t.Errorf("RegistryDir = %q, want %q", got, want)
	}
	if ephemeralHandle("u", "v") == ephemeralHandle("u", "w") {
		t.Error("two inline volumes of a pod share a handle")
	}
}

func TestOwnership(t *testing.T) {
	withFSGroup := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr.To(int64(2000))}}}
	driver := func(p storagev1.FSGroupPolicy) *storagev1.CSIDriver {
		return &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: storagev1.CSIDriverSpec{FSGroupPolicy: &p}}
	}
	rwo := request{fsType: "ext4", accessMode: corev1.ReadWriteOnce}
	tests := []struct {
		name                  string
		pod                   *corev1.Pod
		d                     *storagev1.CSIDriver
		r                     request
		mountGroup            bool
		wantApply, wantDriver bool
	}{
		{name: "no fsGroup", pod: &corev1.Pod{}, r: rwo},
		{name: "default policy, RWO with fsType", pod: withFSGroup, r: rwo, wantApply: true},
		{name: "default policy, no fsType", pod: withFSGroup, r: request{accessMode: corev1.ReadWriteOnce}},
		{name: "default policy, RWX", pod: withFSGroup, r: request{fsType: "ext4", accessMode: corev1.ReadWriteMany}},
		{name: "File", pod: withFSGroup, d: driver(storagev1.FileFSGroupPolicy), r: request{accessMode: corev1.ReadWriteMany}, wantApply: true},
		{name: "None", pod: withFSGroup, d: driver(storagev1.NoneFSGroupPolicy), r: rwo},
		{name: "read-only", pod: withFSGroup, d: driver(storagev1.FileFSGroupPolicy), r: request{readOnly: true}},
		{name: "driver applies it", pod: withFSGroup, d: driver(storagev1.FileFSGroupPolicy), r: rwo, mountGroup: true, wantApply: true, wantDriver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apply, byDriver := ownership(tt.pod, tt.d, tt.r, tt.mountGroup)
			if apply != tt.wantApply || byDriver != tt.wantDriver {
				t.Errorf("ownership = %v, %v; want %v, %v", apply, byDriver, tt.wantApply, tt.wantDriver)
			}
		})
	}
}
