package csi

import (
	"testing"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestAccessMode(t *testing.T) {
	tests := []struct {
		mode        corev1.PersistentVolumeAccessMode
		multiWriter bool
		want        csipb.VolumeCapability_AccessMode_Mode
	}{
		{corev1.ReadWriteOnce, false, csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		{corev1.ReadWriteOnce, true, csipb.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER},
		{corev1.ReadWriteOncePod, true, csipb.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER},
		{corev1.ReadWriteOncePod, false, csipb.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
		{corev1.ReadOnlyMany, false, csipb.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY},
		{corev1.ReadWriteMany, false, csipb.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}
	for _, tt := range tests {
		if got := accessMode(tt.mode, tt.multiWriter); got != tt.want {
			t.Errorf("accessMode(%s, multiWriter %v) = %s, want %s", tt.mode, tt.multiWriter, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", UID: "uid-1"}}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:  []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			MountOptions: []string{"noatime"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: "d", VolumeHandle: "h", FSType: "xfs", VolumeAttributes: map[string]string{"k": "v"},
				NodeStageSecretRef:   &corev1.SecretReference{Namespace: "s", Name: "stage"},
				NodePublishSecretRef: &corev1.SecretReference{Namespace: "s", Name: "publish"},
			}},
		},
	}
	claimRO := &corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c", ReadOnly: true}}}
	inline := &corev1.Volume{Name: "inline", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
		Driver: "d", FSType: ptr.To("ext4"), ReadOnly: ptr.To(true),
		NodePublishSecretRef: &corev1.LocalObjectReference{Name: "creds"},
	}}}
	block := pv.DeepCopy()
	block.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
	tests := []struct {
		name    string
		vol     *corev1.Volume
		pv      *corev1.PersistentVolume
		want    request
		wantErr bool
	}{
		{name: "persistent, read-only claim", vol: claimRO, pv: pv, want: request{
			driver: "d", handle: "h", readOnly: true, fsType: "xfs", mountFlags: []string{"noatime"},
			attributes: map[string]string{"k": "v"}, accessMode: corev1.ReadWriteMany,
			stageRef: &corev1.SecretReference{Namespace: "s", Name: "stage"}, publishRef: &corev1.SecretReference{Namespace: "s", Name: "publish"},
			specVolID: "pv-1"}},
		{name: "inline: the pod's namespace for its secret", vol: inline, want: request{
			driver: "d", handle: ephemeralHandle("uid-1", "inline"), ephemeral: true, readOnly: true, fsType: "ext4",
			accessMode: corev1.ReadWriteOnce, publishRef: &corev1.SecretReference{Namespace: "ns", Name: "creds"}, specVolID: "inline"}},
		{name: "block volumes are refused", vol: claimRO, pv: block, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(pod, tt.vol, tt.pv)
			if (err != nil) != tt.wantErr {
				t.Fatalf("resolve error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(request{})); !tt.wantErr && diff != "" {
				t.Errorf("resolve (-want +got):\n%s", diff)
			}
		})
	}
}
