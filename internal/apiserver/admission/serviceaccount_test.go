package admission

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestAddServiceAccountVolume(t *testing.T) {
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "i"}},
			Containers:     []corev1.Container{{Name: "c"}},
		}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		wantSA    string
		wantAdded bool
	}{
		{name: "default", pod: pod(nil), wantSA: "default", wantAdded: true},
		{name: "named account", pod: pod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "robot" }), wantSA: "robot", wantAdded: true},
		{name: "opted out", pod: pod(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(false) }), wantSA: "default"},
		{name: "already mounted", pod: pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: serviceAccountMountPath}}
		}), wantSA: "default"},
		{name: "mirror pod", pod: pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addServiceAccountVolume(tt.pod)
			if tt.pod.Spec.ServiceAccountName != tt.wantSA {
				t.Errorf("serviceAccountName = %q, want %q", tt.pod.Spec.ServiceAccountName, tt.wantSA)
			}
			if !tt.wantAdded {
				if len(tt.pod.Spec.Volumes) != 0 {
					t.Errorf("volumes added: %v", tt.pod.Spec.Volumes)
				}
				return
			}
			if len(tt.pod.Spec.Volumes) != 1 {
				t.Fatalf("volumes = %v, want one", tt.pod.Spec.Volumes)
			}
			v := tt.pod.Spec.Volumes[0]
			if !strings.HasPrefix(v.Name, "kube-api-access-") || len(v.Name) != len("kube-api-access-")+5 {
				t.Errorf("volume name %q", v.Name)
			}
			want := &corev1.ProjectedVolumeSource{DefaultMode: ptr.To(int32(0o644)), Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(int64(3607)), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			}}
			if d := cmp.Diff(want, v.Projected); d != "" {
				t.Errorf("projected (-want +got):\n%s", d)
			}
			wantMount := []corev1.VolumeMount{{Name: v.Name, ReadOnly: true, MountPath: serviceAccountMountPath}}
			for _, c := range append(tt.pod.Spec.InitContainers, tt.pod.Spec.Containers...) {
				if d := cmp.Diff(wantMount, c.VolumeMounts); d != "" {
					t.Errorf("container %s mounts (-want +got):\n%s", c.Name, d)
				}
			}
		})
	}
}
