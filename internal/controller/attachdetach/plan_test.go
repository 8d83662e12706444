package attachdetach

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestAttachmentName(t *testing.T) {
	// Upstream's shape: "csi-" and the hex sha256 of handle+driver+node,
	// so that every node's attachment of a volume has its own name.
	got := AttachmentName("vol-1", "d", "n")
	if len(got) != len("csi-")+64 || got[:4] != "csi-" {
		t.Errorf("AttachmentName = %q, want csi- and a hex sha256", got)
	}
	if got == AttachmentName("vol-1", "d", "m") {
		t.Error("two nodes share an attachment name")
	}
}

func TestDecide(t *testing.T) {
	pv := func(name, driver, handle string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: driver, VolumeHandle: handle}}}}
	}
	hostPV := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-host"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}}
	pvs := map[string]*corev1.PersistentVolume{
		"pv-a": pv("pv-a", "attach.csi", "h-a"), "pv-b": pv("pv-b", "noattach.csi", "h-b"),
		"pv-c": pv("pv-c", "unknown.csi", "h-c"), "pv-host": hostPV,
	}
	claims := map[string]*corev1.PersistentVolumeClaim{
		"a":       {ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-a"}},
		"b":       {ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-b"}},
		"c":       {ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-c"}},
		"host":    {ObjectMeta: metav1.ObjectMeta{Name: "host", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-host"}},
		"unbound": {ObjectMeta: metav1.ObjectMeta{Name: "unbound", Namespace: "ns"}},
	}
	drivers := map[string]*storagev1.CSIDriver{
		"attach.csi":   {Spec: storagev1.CSIDriverSpec{AttachRequired: ptr.To(true)}},
		"noattach.csi": {Spec: storagev1.CSIDriverSpec{AttachRequired: ptr.To(false)}},
	}
	pod := func(phase corev1.PodPhase, claimNames ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Status: corev1.PodStatus{Phase: phase}}
		for _, c := range claimNames {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
		}
		return p
	}
	inline := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "inline"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "attach.csi"}}}}}}
	va := func(pvName, driver string, attached bool) *storagev1.VolumeAttachment {
		handle := pvs[pvName].Spec.CSI.VolumeHandle
		return &storagev1.VolumeAttachment{
			ObjectMeta: metav1.ObjectMeta{Name: AttachmentName(handle, driver, "n1")},
			Spec:       storagev1.VolumeAttachmentSpec{Attacher: driver, NodeName: "n1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pvName)}},
			Status:     storagev1.VolumeAttachmentStatus{Attached: attached},
		}
	}
	nameA := AttachmentName("h-a", "attach.csi", "n1")
	nameC := AttachmentName("h-c", "unknown.csi", "n1")
	tests := []struct {
		name        string
		pods        []*corev1.Pod
		attachments []*storagev1.VolumeAttachment
		inUse       []corev1.UniqueVolumeName
		wantCreate  []string
		wantDelete  []string
		wantWaiting int
		wantAttach  []corev1.UniqueVolumeName
	}{
		{name: "attach required, and by default without a CSIDriver", pods: []*corev1.Pod{pod(corev1.PodPending, "a", "c")},
			wantCreate: []string{nameA, nameC}},
		{name: "no attach: driver says so, not CSI, unbound, inline", pods: []*corev1.Pod{pod(corev1.PodRunning, "b", "host", "unbound"), inline}},
		{name: "exists and attached", pods: []*corev1.Pod{pod(corev1.PodRunning, "a")},
			attachments: []*storagev1.VolumeAttachment{va("pv-a", "attach.csi", true)},
			wantAttach:  []corev1.UniqueVolumeName{UniqueVolumeName("attach.csi", "h-a")}},
		{name: "exists, not yet attached", pods: []*corev1.Pod{pod(corev1.PodRunning, "a")},
			attachments: []*storagev1.VolumeAttachment{va("pv-a", "attach.csi", false)}},
		{name: "pod finished: still attached until it goes", pods: []*corev1.Pod{pod(corev1.PodSucceeded, "a")},
			attachments: []*storagev1.VolumeAttachment{va("pv-a", "attach.csi", true)},
			wantAttach:  []corev1.UniqueVolumeName{UniqueVolumeName("attach.csi", "h-a")}},
		{name: "pod gone: detach", attachments: []*storagev1.VolumeAttachment{va("pv-a", "attach.csi", true)}, wantDelete: []string{nameA}},
		{name: "someone else's attachments are left alone (no PV, another name, another attacher)", attachments: []*storagev1.VolumeAttachment{
			{ObjectMeta: metav1.ObjectMeta{Name: "va-e2e"}, Spec: storagev1.VolumeAttachmentSpec{Attacher: "e2e.example.com", NodeName: "n1",
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-missing")}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "by-hand"}, Spec: storagev1.VolumeAttachmentSpec{Attacher: "attach.csi", NodeName: "n1",
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv-a")}}},
			func() *storagev1.VolumeAttachment {
				v := va("pv-a", "attach.csi", true)
				v.Spec.Attacher = "other.csi"
				return v
			}(),
		}},
		{name: "no pod, still in use on the node: wait", attachments: []*storagev1.VolumeAttachment{va("pv-a", "attach.csi", true)},
			inUse:       []corev1.UniqueVolumeName{UniqueVolumeName("attach.csi", "h-a")},
			wantWaiting: 1, wantAttach: []corev1.UniqueVolumeName{UniqueVolumeName("attach.csi", "h-a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decide(state{
				node: "n1", pods: tt.pods, attachments: tt.attachments, inUse: tt.inUse,
				claim:  func(_, name string) *corev1.PersistentVolumeClaim { return claims[name] },
				volume: func(name string) *corev1.PersistentVolume { return pvs[name] },
				driver: func(name string) *storagev1.CSIDriver { return drivers[name] },
			})
			var created []string
			for _, va := range p.create {
				created = append(created, va.Name)
				if va.Spec.NodeName != "n1" || va.Spec.Source.PersistentVolumeName == nil {
					t.Errorf("created %+v", va.Spec)
				}
			}
			var attached []corev1.UniqueVolumeName
			for _, a := range p.attached {
				attached = append(attached, a.Name)
			}
			if diff := cmp.Diff(tt.wantCreate, created); diff != "" {
				t.Errorf("create (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDelete, p.delete); diff != "" {
				t.Errorf("delete (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAttach, attached); diff != "" {
				t.Errorf("attached (-want +got):\n%s", diff)
			}
			if p.waiting != tt.wantWaiting {
				t.Errorf("waiting = %d, want %d", p.waiting, tt.wantWaiting)
			}
		})
	}
}
