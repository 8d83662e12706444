package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"

	"skiff/internal/controller"
	"skiff/internal/controller/persistentvolume"
	"skiff/internal/controller/pvcprotection"
	"skiff/internal/controller/pvprotection"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

const (
	pvFinalizer  = pvprotection.Finalizer
	pvcFinalizer = pvcprotection.Finalizer
)

// env is a server running the PV binder and both protection
// controllers, each writing as its kube-system ServiceAccount (so with
// the bootstrap policy's role, as in the controller manager); events
// keeps what they record.
type env struct {
	*servertest.Server
	events *noteRecorder
}

func startStorage(t *testing.T) *env {
	t.Helper()
	// The binder's tests make their own classes: no local-path default.
	s := servertest.Start(t, func(c *server.Config) { c.NoDefaultStorageClass = true })
	rec := &noteRecorder{}
	for account, ctor := range map[string]controller.Constructor{
		"persistent-volume-binder":  persistentvolume.New,
		"pv-protection-controller":  pvprotection.New,
		"pvc-protection-controller": pvcprotection.New,
	} {
		client := s.ClientFor(t, func(rc *rest.Config) {
			rc.Impersonate.UserName = "system:serviceaccount:kube-system:" + account
		})
		s.RunController(t, func(cc controller.Context) (controller.Controller, error) {
			cc.Client, cc.Events = client, rec
			return ctor(cc)
		}, nil)
	}
	return &env{Server: s, events: rec}
}

// noteRecorder keeps every event's namespace, reason and note.
type noteRecorder struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct{ namespace, reason, note string }

var _ events.EventRecorder = (*noteRecorder)(nil)

func (r *noteRecorder) Eventf(regarding, _ runtime.Object, _, reason, _, note string, args ...any) {
	ns := metav1.NamespaceDefault
	if m, err := meta.Accessor(regarding); err == nil && m.GetNamespace() != "" {
		ns = m.GetNamespace()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recorded{ns, reason, fmt.Sprintf(note, args...)})
}

func (r *noteRecorder) has(ns, reason, note string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e recorded) bool {
		return e.namespace == ns && e.reason == reason && strings.Contains(e.note, note)
	})
}

func (e *env) namespace(t *testing.T, name string) string {
	t.Helper()
	if _, err := e.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

type volume struct {
	name, size, class string
	modes             []corev1.PersistentVolumeAccessMode
	labels            map[string]string
	claimRef          *corev1.ObjectReference
	policy            corev1.PersistentVolumeReclaimPolicy
	provisioner       string
}

func (e *env) createPV(t *testing.T, v volume) *corev1.PersistentVolume {
	t.Helper()
	if v.modes == nil {
		v.modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if v.policy == "" {
		v.policy = corev1.PersistentVolumeReclaimRetain
	}
	obj := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: v.name, Labels: v.labels},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(v.size)},
			AccessModes:                   v.modes,
			StorageClassName:              v.class,
			ClaimRef:                      v.claimRef,
			PersistentVolumeReclaimPolicy: v.policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + v.name}},
		},
	}
	if v.provisioner != "" {
		obj.Annotations = map[string]string{persistentvolume.AnnDynamicallyProvisioned: v.provisioner}
	}
	out, err := e.Client.CoreV1().PersistentVolumes().Create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pv %s: %v", v.name, err)
	}
	return out
}

type claim struct {
	ns, name, size string
	class          *string
	modes          []corev1.PersistentVolumeAccessMode
	selector       map[string]string
	volumeName     string
}

func (e *env) createPVC(t *testing.T, c claim) *corev1.PersistentVolumeClaim {
	t.Helper()
	if c.modes == nil {
		c.modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	obj := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: c.name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      c.modes,
			StorageClassName: c.class,
			VolumeName:       c.volumeName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(c.size)}},
		},
	}
	if c.selector != nil {
		obj.Spec.Selector = &metav1.LabelSelector{MatchLabels: c.selector}
	}
	out, err := e.Client.CoreV1().PersistentVolumeClaims(c.ns).Create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pvc %s/%s: %v", c.ns, c.name, err)
	}
	return out
}

func strPtr(s string) *string { return &s }

// waitClaim waits until the claim satisfies cond and returns it.
func waitClaim(t *testing.T, c kubernetes.Interface, ns, name, what string, cond func(*corev1.PersistentVolumeClaim) bool) *corev1.PersistentVolumeClaim {
	t.Helper()
	var got *corev1.PersistentVolumeClaim
	servertest.Wait(t, "claim "+ns+"/"+name+" "+what, func(ctx context.Context) (bool, error) {
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = pvc
		return cond(pvc), nil
	})
	return got
}

func waitPV(t *testing.T, c kubernetes.Interface, name, what string, cond func(*corev1.PersistentVolume) bool) *corev1.PersistentVolume {
	t.Helper()
	var got *corev1.PersistentVolume
	servertest.Wait(t, "volume "+name+" "+what, func(ctx context.Context) (bool, error) {
		pv, err := c.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = pv
		return cond(pv), nil
	})
	return got
}

func boundTo(volume string) func(*corev1.PersistentVolumeClaim) bool {
	return func(c *corev1.PersistentVolumeClaim) bool {
		return c.Status.Phase == corev1.ClaimBound && c.Spec.VolumeName == volume
	}
}

func pvPhase(p corev1.PersistentVolumePhase) func(*corev1.PersistentVolume) bool {
	return func(v *corev1.PersistentVolume) bool { return v.Status.Phase == p }
}

// waitEvent waits for an event in ns with reason whose note contains
// note.
func (e *env) waitEvent(t *testing.T, ns, reason, note string) {
	t.Helper()
	servertest.Wait(t, "a "+reason+" event", func(context.Context) (bool, error) { return e.events.has(ns, reason, note), nil })
}

// TestStaticBinding binds claims to existing volumes: the smallest that
// fits, by access modes, by class and by selector, with upstream's
// annotations, phases and claim status.
func TestStaticBinding(t *testing.T) {
	e := startStorage(t)
	ctx := context.Background()
	ns := e.namespace(t, "static")
	for _, v := range []volume{
		{name: "s-10g", size: "10Gi", class: "static"},
		{name: "s-1g", size: "1Gi", class: "static"},
		{name: "s-3g", size: "3Gi", class: "static"},
		{name: "s-2g", size: "2Gi", class: "static"},
		{name: "s-rwx", size: "5Gi", class: "static", modes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}},
		{name: "s-gold", size: "8Gi", class: "static", labels: map[string]string{"tier": "gold"}},
		{name: "s-fast", size: "2Gi", class: "fast"},
		{name: "s-none", size: "4Gi"},
	} {
		e.createPV(t, v)
	}
	waitPV(t, e.Client, "s-2g", "Available", pvPhase(corev1.VolumeAvailable))

	e.createPVC(t, claim{ns: ns, name: "two", size: "1500Mi", class: strPtr("static")})
	got := waitClaim(t, e.Client, ns, "two", "bound", boundTo("s-2g"))
	if q := got.Status.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("claim capacity = %s, want the volume's 2Gi", q.String())
	}
	if !slices.Equal(got.Status.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("claim access modes = %v", got.Status.AccessModes)
	}
	for _, a := range []string{persistentvolume.AnnBindCompleted, persistentvolume.AnnBoundByController} {
		if got.Annotations[a] != "yes" {
			t.Errorf("claim annotation %s = %q, want yes", a, got.Annotations[a])
		}
	}
	pv := waitPV(t, e.Client, "s-2g", "Bound", pvPhase(corev1.VolumeBound))
	if r := pv.Spec.ClaimRef; r == nil || r.Name != "two" || r.Namespace != ns || r.UID != got.UID || r.Kind != "PersistentVolumeClaim" {
		t.Errorf("volume claimRef = %+v", r)
	}
	if pv.Annotations[persistentvolume.AnnBoundByController] != "yes" || pv.Status.LastPhaseTransitionTime == nil {
		t.Errorf("bound volume: annotations %v, lastPhaseTransitionTime %v", pv.Annotations, pv.Status.LastPhaseTransitionTime)
	}

	e.createPVC(t, claim{ns: ns, name: "shared", size: "1Gi", class: strPtr("static"),
		modes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}})
	waitClaim(t, e.Client, ns, "shared", "bound", boundTo("s-rwx"))
	e.createPVC(t, claim{ns: ns, name: "gold", size: "1Gi", class: strPtr("static"), selector: map[string]string{"tier": "gold"}})
	waitClaim(t, e.Client, ns, "gold", "bound", boundTo("s-gold"))
	e.createPVC(t, claim{ns: ns, name: "fast", size: "1Gi", class: strPtr("fast")})
	waitClaim(t, e.Client, ns, "fast", "bound", boundTo("s-fast"))
	e.createPVC(t, claim{ns: ns, name: "none", size: "1Gi", class: strPtr("")})
	waitClaim(t, e.Client, ns, "none", "bound", boundTo("s-none"))

	// Nothing left that fits: Pending, and the FailedBinding event for a
	// claim with no class.
	e.createPVC(t, claim{ns: ns, name: "huge", size: "100Gi", class: strPtr("")})
	e.waitEvent(t, ns, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
	// A volume that turns up later binds without waiting for a resync.
	e.createPV(t, volume{name: "s-huge", size: "100Gi"})
	waitClaim(t, e.Client, ns, "huge", "bound", boundTo("s-huge"))

	// The resize admission plugin: no class allows expansion here.
	two, err := e.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "two", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	two.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
	_, err = e.Client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, two, metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(),
		"only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize") {
		t.Errorf("growing a claim of a class without expansion: %v, want 403", err)
	}
	// Shrinking to the bound capacity is invalid.
	two.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
	_, err = e.Client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, two, metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "field can not be less than status.capacity") {
		t.Errorf("shrinking a claim: %v, want 422", err)
	}
}

// TestPreBound binds a claim that names its volume and a volume that
// names its claim (without a UID), with no bound-by-controller annotation
// on the side the user chose.
func TestPreBound(t *testing.T) {
	e := startStorage(t)
	ns := e.namespace(t, "prebound")

	// The claim names a volume that does not exist yet: Pending, then
	// bound as soon as the volume appears.
	e.createPVC(t, claim{ns: ns, name: "wants-v1", size: "1Gi", class: strPtr(""), volumeName: "p-v1"})
	e.createPV(t, volume{name: "p-small", size: "1Gi"}) // a better fit by size, not chosen
	e.createPV(t, volume{name: "p-v1", size: "5Gi"})
	c := waitClaim(t, e.Client, ns, "wants-v1", "bound", boundTo("p-v1"))
	if _, ok := c.Annotations[persistentvolume.AnnBoundByController]; ok {
		t.Errorf("user-bound claim has %s", persistentvolume.AnnBoundByController)
	}
	pv := waitPV(t, e.Client, "p-v1", "Bound", pvPhase(corev1.VolumeBound))
	if pv.Annotations[persistentvolume.AnnBoundByController] != "yes" {
		t.Errorf("volume bound by the controller lacks %s: %v", persistentvolume.AnnBoundByController, pv.Annotations)
	}

	// The volume names a claim (no UID), created before it.
	e.createPV(t, volume{name: "p-v2", size: "8Gi", claimRef: &corev1.ObjectReference{Namespace: ns, Name: "picked"}})
	waitPV(t, e.Client, "p-v2", "Available while its claim is missing", pvPhase(corev1.VolumeAvailable))
	made := e.createPVC(t, claim{ns: ns, name: "picked", size: "1Gi", class: strPtr("")})
	waitClaim(t, e.Client, ns, "picked", "bound", boundTo("p-v2"))
	pv = waitPV(t, e.Client, "p-v2", "Bound", pvPhase(corev1.VolumeBound))
	if pv.Spec.ClaimRef.UID != made.UID {
		t.Errorf("claimRef UID = %q, want %q", pv.Spec.ClaimRef.UID, made.UID)
	}
	if _, ok := pv.Annotations[persistentvolume.AnnBoundByController]; ok {
		t.Errorf("user-bound volume has %s", persistentvolume.AnnBoundByController)
	}

	// A claim naming a volume bound to another claim stays Pending.
	e.createPVC(t, claim{ns: ns, name: "thief", size: "1Gi", class: strPtr(""), volumeName: "p-v2"})
	e.waitEvent(t, ns, "FailedBinding", `volume "p-v2" already bound to a different claim.`)
	c = waitClaim(t, e.Client, ns, "thief", "Pending", func(c *corev1.PersistentVolumeClaim) bool { return c.Status.Phase == corev1.ClaimPending })
	if _, ok := c.Annotations[persistentvolume.AnnBindCompleted]; ok {
		t.Error("a claim for a taken volume is marked bound")
	}
}

// TestProvisioningAndReclaim: a class with an external provisioner gets
// the claim annotated; the volume the "provisioner" (this test) creates
// binds; Released volumes are retained, left to their provisioner, or
// Failed when nothing can delete them; a claim whose volume is gone is
// Lost.
func TestProvisioningAndReclaim(t *testing.T) {
	e := startStorage(t)
	ctx := context.Background()
	ns := e.namespace(t, "provision")
	immediate := storagev1.VolumeBindingImmediate
	if _, err := e.Client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Provisioner: "example.com/x", VolumeBindingMode: &immediate,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pvc := e.createPVC(t, claim{ns: ns, name: "data", size: "1Gi", class: strPtr("ext")})
	waitClaim(t, e.Client, ns, "data", "annotated for its provisioner", func(c *corev1.PersistentVolumeClaim) bool {
		return c.Annotations[persistentvolume.AnnStorageProvisioner] == "example.com/x" &&
			c.Annotations[persistentvolume.AnnBetaStorageProvisioner] == "example.com/x"
	})
	e.waitEvent(t, ns, "ExternalProvisioning", "Waiting for a volume to be created either by the external provisioner 'example.com/x' or manually by the system administrator.")

	// The provisioner's volume, pre-bound to the claim.
	e.createPV(t, volume{name: "pvc-" + string(pvc.UID), size: "1Gi", class: "ext", policy: corev1.PersistentVolumeReclaimDelete,
		provisioner: "example.com/x", claimRef: &corev1.ObjectReference{Namespace: ns, Name: "data", UID: pvc.UID}})
	waitClaim(t, e.Client, ns, "data", "bound", boundTo("pvc-"+string(pvc.UID)))

	// Deleted claim: the provisioner's volume is Released and left alone.
	if err := e.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPV(t, e.Client, "pvc-"+string(pvc.UID), "Released", pvPhase(corev1.VolumeReleased))

	// Retain: Released, and then deletable (pv-protection lets go).
	e.createPV(t, volume{name: "keep", size: "1Gi", class: "manual"})
	e.createPVC(t, claim{ns: ns, name: "keep", size: "1Gi", class: strPtr("manual")})
	waitClaim(t, e.Client, ns, "keep", "bound", boundTo("keep"))
	// A class that does not exist: static binding still works, but
	// provisioning fails with upstream's event.
	e.createPVC(t, claim{ns: ns, name: "orphan", size: "50Gi", class: strPtr("manual")})
	e.waitEvent(t, ns, "ProvisioningFailed", `storageclass.storage.k8s.io "manual" not found`)

	if err := e.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "keep", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPV(t, e.Client, "keep", "Released", pvPhase(corev1.VolumeReleased))
	if err := e.Client.CoreV1().PersistentVolumes().Delete(ctx, "keep", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the released volume to be deleted", func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().PersistentVolumes().Get(ctx, "keep", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// Delete with nothing to delete it: Failed, with upstream's message.
	e.createPV(t, volume{name: "nodeleter", size: "1Gi", class: "manual2", policy: corev1.PersistentVolumeReclaimDelete})
	e.createPVC(t, claim{ns: ns, name: "nodeleter", size: "1Gi", class: strPtr("manual2")})
	waitClaim(t, e.Client, ns, "nodeleter", "bound", boundTo("nodeleter"))
	if err := e.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "nodeleter", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	failed := waitPV(t, e.Client, "nodeleter", "Failed", pvPhase(corev1.VolumeFailed))
	want := `error getting deleter volume plugin for volume "nodeleter": no deletable volume plugin matched`
	if failed.Status.Message != want {
		t.Errorf("failed volume message = %q, want %q", failed.Status.Message, want)
	}
	e.waitEvent(t, metav1.NamespaceDefault, "VolumeFailedDelete", want)

	// Lost: the volume of a bound claim goes away (its finalizer holds it
	// while Bound; an administrator removes it).
	e.createPV(t, volume{name: "lost", size: "1Gi", class: "manual3"})
	e.createPVC(t, claim{ns: ns, name: "lost", size: "1Gi", class: strPtr("manual3")})
	waitClaim(t, e.Client, ns, "lost", "bound", boundTo("lost"))
	if err := e.Client.CoreV1().PersistentVolumes().Delete(ctx, "lost", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	pv := waitPV(t, e.Client, "lost", "being deleted", func(v *corev1.PersistentVolume) bool { return v.DeletionTimestamp != nil })
	if !slices.Contains(pv.Finalizers, pvFinalizer) {
		t.Fatalf("bound volume lost its protection finalizer: %v", pv.Finalizers)
	}
	pv.Finalizers = nil
	if _, err := e.Client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitClaim(t, e.Client, ns, "lost", "Lost", func(c *corev1.PersistentVolumeClaim) bool { return c.Status.Phase == corev1.ClaimLost })
	e.waitEvent(t, ns, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
}

// TestWaitForFirstConsumer: a claim of a WaitForFirstConsumer class waits
// (even with a static volume that fits) until the scheduler picks a node,
// then is handed to the provisioner.
func TestWaitForFirstConsumer(t *testing.T) {
	e := startStorage(t)
	ctx := context.Background()
	ns := e.namespace(t, "wffc")
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := e.Client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "late"}, Provisioner: "example.com/x", VolumeBindingMode: &wffc,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.createPV(t, volume{name: "w-static", size: "1Gi", class: "late"})
	e.createPVC(t, claim{ns: ns, name: "c", size: "1Gi", class: strPtr("late")})
	e.waitEvent(t, ns, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
	c := waitClaim(t, e.Client, ns, "c", "Pending", func(c *corev1.PersistentVolumeClaim) bool { return c.Status.Phase == corev1.ClaimPending })
	if c.Spec.VolumeName != "" || c.Annotations[persistentvolume.AnnStorageProvisioner] != "" {
		t.Fatalf("waiting claim was bound or provisioned: volume %q, annotations %v", c.Spec.VolumeName, c.Annotations)
	}
	c.Annotations = map[string]string{persistentvolume.AnnSelectedNode: "node-1"}
	if _, err := e.Client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitClaim(t, e.Client, ns, "c", "annotated for its provisioner", func(c *corev1.PersistentVolumeClaim) bool {
		return c.Annotations[persistentvolume.AnnStorageProvisioner] == "example.com/x"
	})
}

// TestDefaultClass: admission gives a new claim the default class; a
// claim created while there was none gets it once one exists.
func TestDefaultClass(t *testing.T) {
	e := startStorage(t)
	ctx := context.Background()
	ns := e.namespace(t, "defaults")
	early := e.createPVC(t, claim{ns: ns, name: "early", size: "1Gi"})
	if early.Spec.StorageClassName != nil {
		t.Fatalf("claim got class %q with no default class", *early.Spec.StorageClassName)
	}
	mk := func(name string) {
		t.Helper()
		immediate := storagev1.VolumeBindingImmediate
		if _, err := e.Client.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner: "example.com/x", VolumeBindingMode: &immediate,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("standard")
	waitClaim(t, e.Client, ns, "early", "given the default class", func(c *corev1.PersistentVolumeClaim) bool {
		return c.Spec.StorageClassName != nil && *c.Spec.StorageClassName == "standard"
	})
	late := e.createPVC(t, claim{ns: ns, name: "late", size: "1Gi"})
	if late.Spec.StorageClassName == nil || *late.Spec.StorageClassName != "standard" {
		t.Errorf("admission gave class %v, want standard", late.Spec.StorageClassName)
	}
	explicit := e.createPVC(t, claim{ns: ns, name: "explicit", size: "1Gi", class: strPtr("")})
	if *explicit.Spec.StorageClassName != "" {
		t.Errorf("admission changed an explicit empty class to %q", *explicit.Spec.StorageClassName)
	}
	if !slices.Contains(late.Finalizers, pvcFinalizer) {
		t.Errorf("new claim finalizers = %v, want %s", late.Finalizers, pvcFinalizer)
	}
}

// TestClaimInUse: a claim a running pod uses survives its deletion until
// the pod is gone.
func TestClaimInUse(t *testing.T) {
	e := startStorage(t)
	ctx := context.Background()
	ns := e.namespace(t, "inuse")
	e.createPVC(t, claim{ns: ns, name: "used", size: "1Gi", class: strPtr("")})
	e.createPVC(t, claim{ns: ns, name: "unused", size: "1Gi", class: strPtr("")})
	servertest.Wait(t, "the default service account", func(ctx context.Context) (bool, error) {
		_, err := e.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	pod, err := e.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "used"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodRunning
	if _, err := e.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"used", "unused"} {
		if err := e.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(name string) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			_, err := e.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}
	}
	// The unused claim goes: the controller has seen both deletions.
	servertest.Wait(t, "the unused claim to go", gone("unused"))
	c, err := e.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "used", metav1.GetOptions{})
	if err != nil || c.DeletionTimestamp == nil || !slices.Contains(c.Finalizers, pvcFinalizer) {
		t.Fatalf("claim in use: %v (err %v), want it terminating with its finalizer", c, err)
	}
	zero := int64(0)
	if err := e.Client.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the claim to go with its pod", gone("used"))
}
