package persistentvolume

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type pvOpt func(*corev1.PersistentVolume)

func pv(name, size string, opts ...pvOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

func modes(m ...corev1.PersistentVolumeAccessMode) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.AccessModes = m }
}
func class(c string) pvOpt { return func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = c } }
func labelled(k, val string) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Labels = map[string]string{k: val} }
}
func phase(p corev1.PersistentVolumePhase) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Status.Phase = p }
}
func claimRef(ns, name string, uid types.UID) pvOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: ns, Name: name, UID: uid}
	}
}
func block() pvOpt {
	return func(v *corev1.PersistentVolume) { m := corev1.PersistentVolumeBlock; v.Spec.VolumeMode = &m }
}
func deleting() pvOpt {
	return func(v *corev1.PersistentVolume) { now := metav1.Now(); v.DeletionTimestamp = &now }
}

type pvcOpt func(*corev1.PersistentVolumeClaim)

func pvc(size string, opts ...pvcOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "claim", UID: "uid-1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func wantClass(c string) pvcOpt {
	return func(p *corev1.PersistentVolumeClaim) { p.Spec.StorageClassName = &c }
}
func wantModes(m ...corev1.PersistentVolumeAccessMode) pvcOpt {
	return func(p *corev1.PersistentVolumeClaim) { p.Spec.AccessModes = m }
}
func selecting(k, v string) pvcOpt {
	return func(p *corev1.PersistentVolumeClaim) {
		p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
}
func wantBlock() pvcOpt {
	return func(p *corev1.PersistentVolumeClaim) { m := corev1.PersistentVolumeBlock; p.Spec.VolumeMode = &m }
}

func TestFindBestMatch(t *testing.T) {
	rwo, rox, rwx := corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		want    string // "" for no match
	}{
		{"smallest that fits", pvc("2Gi"),
			[]*corev1.PersistentVolume{pv("big", "10Gi"), pv("small", "1Gi"), pv("fit", "3Gi"), pv("exact", "2Gi")}, false, "exact"},
		{"nothing big enough", pvc("20Gi"), []*corev1.PersistentVolume{pv("big", "10Gi")}, false, ""},
		{"fewest access modes first, before size", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("two-small", "1Gi", modes(rwo, rox)), pv("one-big", "5Gi", modes(rwo))}, false, "one-big"},
		{"access modes must include the claim's", pvc("1Gi", wantModes(rwx)),
			[]*corev1.PersistentVolume{pv("rwo", "1Gi"), pv("rwx", "2Gi", modes(rwx, rwo))}, false, "rwx"},
		{"empty class matches only empty class", pvc("1Gi", wantClass("")),
			[]*corev1.PersistentVolume{pv("fast", "1Gi", class("fast")), pv("none", "2Gi")}, false, "none"},
		{"nil class matches only empty class", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("fast", "1Gi", class("fast"))}, false, ""},
		{"named class", pvc("1Gi", wantClass("fast")),
			[]*corev1.PersistentVolume{pv("none", "1Gi"), pv("fast", "2Gi", class("fast"))}, false, "fast"},
		{"selector", pvc("1Gi", selecting("tier", "gold")),
			[]*corev1.PersistentVolume{pv("plain", "1Gi"), pv("gold", "5Gi", labelled("tier", "gold"))}, false, "gold"},
		{"volume mode", pvc("1Gi", wantBlock()),
			[]*corev1.PersistentVolume{pv("fs", "1Gi"), pv("blk", "5Gi", block())}, false, "blk"},
		{"only Available volumes", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("pending", "1Gi", phase(corev1.VolumePending)), pv("released", "1Gi", phase(corev1.VolumeReleased))}, false, ""},
		{"volumes claimed by another claim are skipped", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("other", "1Gi", claimRef("ns", "other", "")), pv("free", "5Gi")}, false, "free"},
		{"pre-bound volume wins over a smaller one", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("small", "1Gi"), pv("mine", "5Gi", claimRef("ns", "claim", ""), phase(corev1.VolumePending))}, false, "mine"},
		{"pre-bound to an older claim of the same name is skipped", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("old", "1Gi", claimRef("ns", "claim", "uid-0"))}, false, ""},
		{"pre-bound but too small", pvc("5Gi"),
			[]*corev1.PersistentVolume{pv("mine", "1Gi", claimRef("ns", "claim", "uid-1"))}, false, ""},
		{"deleting volume skipped", pvc("1Gi"), []*corev1.PersistentVolume{pv("gone", "1Gi", deleting())}, false, ""},
		{"WaitForFirstConsumer leaves static volumes to the scheduler", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("free", "1Gi")}, true, ""},
		{"WaitForFirstConsumer still takes a pre-bound volume", pvc("1Gi"),
			[]*corev1.PersistentVolume{pv("mine", "1Gi", claimRef("ns", "claim", "uid-1"))}, true, "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBestMatch(tt.claim, tt.volumes, tt.delay)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("match = %q, want %q", name, tt.want)
			}
		})
	}
}

func TestCheckSatisfies(t *testing.T) {
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pv    *corev1.PersistentVolume
		want  error
	}{
		{"fits", pvc("1Gi"), pv("v", "1Gi"), nil},
		{"too small", pvc("2Gi"), pv("v", "1Gi"), errors.New("requested PV is too small")},
		{"class", pvc("1Gi", wantClass("fast")), pv("v", "1Gi"), errors.New("storageClassName does not match")},
		{"mode", pvc("1Gi", wantBlock()), pv("v", "1Gi"), errors.New("incompatible volumeMode")},
		{"access", pvc("1Gi", wantModes(corev1.ReadWriteMany)), pv("v", "1Gi"), errors.New("incompatible accessMode")},
		{"deleting", pvc("1Gi"), pv("v", "1Gi", deleting()), errors.New(`the volume is marked for deletion "v"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkSatisfies(tt.pv, tt.claim)
			if (got == nil) != (tt.want == nil) || got != nil && got.Error() != tt.want.Error() {
				t.Errorf("checkSatisfies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReclaim(t *testing.T) {
	withPolicy := func(p corev1.PersistentVolumeReclaimPolicy, provisioner string) *corev1.PersistentVolume {
		v := pv("v", "1Gi")
		v.Spec.PersistentVolumeReclaimPolicy = p
		if provisioner != "" {
			v.Annotations = map[string]string{AnnDynamicallyProvisioned: provisioner}
		}
		return v
	}
	type out struct {
		Act             reclaimAction
		Reason, Message string
	}
	tests := []struct {
		name string
		pv   *corev1.PersistentVolume
		want out
	}{
		{"retain", withPolicy(corev1.PersistentVolumeReclaimRetain, ""), out{reclaimRetain, "", ""}},
		{"delete by an external provisioner", withPolicy(corev1.PersistentVolumeReclaimDelete, "skiff.io/local-path"), out{reclaimExternal, "", ""}},
		{"delete with no provisioner", withPolicy(corev1.PersistentVolumeReclaimDelete, ""), out{reclaimFail, "VolumeFailedDelete",
			`error getting deleter volume plugin for volume "v": no deletable volume plugin matched`}},
		{"recycle", withPolicy(corev1.PersistentVolumeReclaimRecycle, ""), out{reclaimFail, "VolumeFailedRecycle", "No recycler plugin found for the volume!"}},
		{"unknown", withPolicy("Shred", ""), out{reclaimFail, "VolumeUnknownReclaimPolicy", "Volume has unrecognized PersistentVolumeReclaimPolicy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got out
			got.Act, got.Reason, got.Message = reclaim(tt.pv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reclaim (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultClass(t *testing.T) {
	sc := func(name string, age time.Duration, def bool) *storagev1.StorageClass {
		c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))}}
		if def {
			c.Annotations = map[string]string{annDefaultClass: "true"}
		}
		return c
	}
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		want    string
	}{
		{"none", []*storagev1.StorageClass{sc("a", 0, false)}, ""},
		{"one", []*storagev1.StorageClass{sc("a", 0, false), sc("b", time.Hour, true)}, "b"},
		{"newest of several", []*storagev1.StorageClass{sc("old", time.Hour, true), sc("new", time.Minute, true)}, "new"},
		{"same age: first by name", []*storagev1.StorageClass{sc("z", 0, true), sc("m", 0, true)}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if c := defaultClass(tt.classes); c != nil {
				got = c.Name
			}
			if got != tt.want {
				t.Errorf("default class = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBinding(t *testing.T) {
	claim := pvc("1Gi")
	claim.ResourceVersion = "7"
	// A free volume gets the claim and the bound-by-controller annotation.
	got := volumeBinding(pv("v", "1Gi"), claim)
	want := pv("v", "1Gi")
	want.Annotations = map[string]string{AnnBoundByController: "yes"}
	want.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: "ns", Name: "claim", UID: "uid-1", ResourceVersion: "7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("volume binding (-want +got):\n%s", diff)
	}
	// A volume a user pre-bound gets the UID, not the annotation.
	got = volumeBinding(pv("v", "1Gi", claimRef("ns", "claim", "")), claim)
	if got == nil || got.Spec.ClaimRef.UID != "uid-1" || metav1.HasAnnotation(got.ObjectMeta, AnnBoundByController) {
		t.Errorf("pre-bound volume binding = %+v", got)
	}
	// Done already: nothing to write.
	if got := volumeBinding(pv("v", "1Gi", claimRef("ns", "claim", "uid-1")), claim); got != nil {
		t.Errorf("bound volume rewritten: %+v", got)
	}

	// The claim: volumeName, both annotations when the controller chose.
	c := claimBinding(claim, want)
	if c.Spec.VolumeName != "v" || c.Annotations[AnnBoundByController] != "yes" || c.Annotations[AnnBindCompleted] != "yes" {
		t.Errorf("claim binding = %+v", c)
	}
	// A claim that named its volume: only bind-completed.
	pre := pvc("1Gi")
	pre.Spec.VolumeName = "v"
	c = claimBinding(pre, want)
	if metav1.HasAnnotation(c.ObjectMeta, AnnBoundByController) || c.Annotations[AnnBindCompleted] != "yes" {
		t.Errorf("pre-bound claim binding = %+v", c.Annotations)
	}
}

func TestClaimStatus(t *testing.T) {
	v := pv("v", "5Gi", modes(corev1.ReadWriteOnce, corev1.ReadOnlyMany))
	s, dirty := claimStatus(pvc("1Gi"), corev1.ClaimBound, v)
	want := corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
	}
	if diff := cmp.Diff(want, s); diff != "" || !dirty {
		t.Errorf("bound status (-want +got):\n%s (dirty %v)", diff, dirty)
	}
	bound := pvc("1Gi")
	bound.Status = want
	if _, dirty := claimStatus(bound, corev1.ClaimBound, v); dirty {
		t.Error("unchanged status is dirty")
	}
	// A resizer grew the volume: the bound claim's capacity is the
	// resizer's to report, not the binder's.
	grown := pv("v", "8Gi", modes(corev1.ReadWriteOnce, corev1.ReadOnlyMany))
	if s, dirty := claimStatus(bound, corev1.ClaimBound, grown); dirty {
		t.Errorf("a bound claim follows its grown volume: %v", s.Capacity)
	}
	s, dirty = claimStatus(bound, corev1.ClaimLost, nil)
	if diff := cmp.Diff(corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimLost}, s); diff != "" || !dirty {
		t.Errorf("lost status (-want +got):\n%s", diff)
	}
}
