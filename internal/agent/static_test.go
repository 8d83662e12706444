package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const webManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: httpd
    image: busybox
    ports:
    - containerPort: 80
`

func TestStaticPodFromManifest(t *testing.T) {
	pod, err := staticPodFromManifest([]byte(webManifest), "/m/web.yaml", "Node-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "web-node-1" || pod.Namespace != "default" || pod.Spec.NodeName != "Node-1" {
		t.Errorf("name %s/%s node %s, want default/web-node-1 on Node-1", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	if len(pod.UID) != 32 || pod.Annotations[AnnotationConfigHash] != string(pod.UID) {
		t.Errorf("UID %q hash %q: want a 32-hex hash in both", pod.UID, pod.Annotations[AnnotationConfigHash])
	}
	want := map[string]string{
		AnnotationConfigSource: "file", AnnotationConfigHash: string(pod.UID), AnnotationConfigSeen: t0.Format("2006-01-02T15:04:05.999999999Z07:00"),
	}
	if diff := cmp.Diff(want, pod.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways || c.Ports[0].Protocol != corev1.ProtocolTCP || c.TerminationMessagePath == "" {
		t.Errorf("container not defaulted: %+v", c)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways || *pod.Spec.TerminationGracePeriodSeconds != 30 || pod.Status.Phase != corev1.PodPending {
		t.Errorf("pod not defaulted: %+v %+v", pod.Spec, pod.Status)
	}
	if tl := pod.Spec.Tolerations; len(tl) != 1 || tl[0].Operator != corev1.TolerationOpExists || tl[0].Effect != corev1.TaintEffectNoExecute || tl[0].Key != "" {
		t.Errorf("tolerations %+v, want one for every NoExecute taint", tl)
	}

	// The UID follows the manifest, the node and the file, not the time
	// or the formatting.
	again, err := staticPodFromManifest([]byte(strings.ReplaceAll(webManifest, "labels: {app: web}", "labels:\n    app: web")), "/m/web.yaml", "Node-1", t0.Add(1e9))
	if err != nil {
		t.Fatal(err)
	}
	if again.UID != pod.UID {
		t.Errorf("same pod reformatted got UID %s, want %s", again.UID, pod.UID)
	}
	for _, alt := range []struct{ what, data, file, node string }{
		{"content", strings.Replace(webManifest, "busybox", "busybox:2", 1), "/m/web.yaml", "Node-1"},
		{"file", webManifest, "/m/other.yaml", "Node-1"},
		{"node", webManifest, "/m/web.yaml", "node-2"},
	} {
		p, err := staticPodFromManifest([]byte(alt.data), alt.file, alt.node, t0)
		if err != nil {
			t.Fatal(err)
		}
		if p.UID == pod.UID {
			t.Errorf("another %s kept UID %s", alt.what, p.UID)
		}
	}

	bad := []struct{ name, data string }{
		{"not YAML", "{"},
		{"not a pod", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"},
		{"no name", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: c, image: i}]\n"},
		{"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
		{"bad namespace", "apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: Not_OK}\nspec:\n  containers: [{name: c, image: i}]\n"},
	}
	for _, b := range bad {
		if _, err := staticPodFromManifest([]byte(b.data), "/m/x.yaml", "n", t0); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"busybox": "latest", "busybox:1.36": "1.36", "localhost:5000/app": "latest", "localhost:5000/app:v1": "v1",
		"app@sha256:abc": "", "example.com/a/b:latest": "latest",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

func staticTestPod(name string, uid types.UID, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid,
		Annotations: map[string]string{AnnotationConfigHash: string(uid)}}}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{Time: t0}
	}
	return p
}

func TestPlanStatic(t *testing.T) {
	a1, a2, b1 := staticTestPod("a-n", "a1", false), staticTestPod("a-n", "a2", false), staticTestPod("b-n", "b1", false)
	tests := []struct {
		name       string
		desired    map[string]*corev1.Pod
		keep       map[string]types.UID
		running    map[types.UID]*corev1.Pod
		wantAdd    []types.UID
		wantRemove []types.UID
	}{
		{name: "new files start pods", desired: map[string]*corev1.Pod{"a.yaml": a1, "b.yaml": b1}, wantAdd: []types.UID{"a1", "b1"}},
		{name: "unchanged: nothing", desired: map[string]*corev1.Pod{"a.yaml": a1}, running: map[types.UID]*corev1.Pod{"a1": a1}},
		{name: "removed file stops its pod", running: map[types.UID]*corev1.Pod{"a1": a1}, wantRemove: []types.UID{"a1"}},
		{name: "already stopping: not again", running: map[types.UID]*corev1.Pod{"a1": staticTestPod("a-n", "a1", true)}},
		{
			name:    "changed file: the old pod stops first, the new one waits for its name",
			desired: map[string]*corev1.Pod{"a.yaml": a2}, running: map[types.UID]*corev1.Pod{"a1": a1},
			wantRemove: []types.UID{"a1"},
		},
		{
			name:    "changed file, old one still stopping: still waiting",
			desired: map[string]*corev1.Pod{"a.yaml": a2}, running: map[types.UID]*corev1.Pod{"a1": staticTestPod("a-n", "a1", true)},
		},
		{
			name: "a file that cannot be read keeps its pod",
			keep: map[string]types.UID{"a.yaml": "a1"}, running: map[types.UID]*corev1.Pod{"a1": a1},
		},
		{
			name:    "two files with one pod name: the first file wins",
			desired: map[string]*corev1.Pod{"a.yaml": a1, "z.yaml": a2},
			wantAdd: []types.UID{"a1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planStatic(tt.desired, tt.keep, tt.running)
			var add []types.UID
			for _, p := range plan.add {
				add = append(add, p.UID)
			}
			if diff := cmp.Diff(tt.wantAdd, add); diff != "" {
				t.Errorf("add (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRemove, plan.remove); diff != "" {
				t.Errorf("remove (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanMirrors(t *testing.T) {
	mirror := func(name, hash string, deleting bool) *corev1.Pod {
		m := staticTestPod(name, types.UID("m-"+name), deleting)
		m.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: hash}
		return m
	}
	a1 := staticTestPod("a-n", "a1", false)
	tests := []struct {
		name                   string
		static, mirrors        map[string]*corev1.Pod
		wantCreate, wantDelete []string
	}{
		{name: "no mirror: create", static: map[string]*corev1.Pod{"default/a-n": a1}, wantCreate: []string{"default/a-n"}},
		{name: "current mirror: nothing", static: map[string]*corev1.Pod{"default/a-n": a1}, mirrors: map[string]*corev1.Pod{"default/a-n": mirror("a-n", "a1", false)}},
		{name: "mirror of an older manifest: delete (then create)", static: map[string]*corev1.Pod{"default/a-n": a1}, mirrors: map[string]*corev1.Pod{"default/a-n": mirror("a-n", "a0", false)}, wantDelete: []string{"default/a-n"}},
		{name: "mirror being deleted by a user: delete now (then create)", static: map[string]*corev1.Pod{"default/a-n": a1}, mirrors: map[string]*corev1.Pod{"default/a-n": mirror("a-n", "a1", true)}, wantDelete: []string{"default/a-n"}},
		{name: "orphaned mirror: delete", mirrors: map[string]*corev1.Pod{"default/b-n": mirror("b-n", "b1", false)}, wantDelete: []string{"default/b-n"}},
		{name: "static pod stopping, no mirror: none created", static: map[string]*corev1.Pod{"default/a-n": staticTestPod("a-n", "a1", true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := planMirrors(tt.static, tt.mirrors)
			var create, del []string
			for _, p := range plan.create {
				create = append(create, fullName(p))
			}
			for _, p := range plan.delete {
				del = append(del, fullName(p))
			}
			if diff := cmp.Diff(tt.wantCreate, create); diff != "" {
				t.Errorf("create (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDelete, del); diff != "" {
				t.Errorf("delete (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMirrorPodFor(t *testing.T) {
	sp, err := staticPodFromManifest([]byte(webManifest), "/m/web.yaml", "n1", t0)
	if err != nil {
		t.Fatal(err)
	}
	m := mirrorPodFor(sp, "n1", "node-uid")
	if m.UID != "" || m.Annotations[corev1.MirrorPodAnnotationKey] != string(sp.UID) || m.Spec.NodeName != "n1" || m.Name != sp.Name {
		t.Errorf("mirror pod %+v", m.ObjectMeta)
	}
	want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "node-uid", Controller: m.OwnerReferences[0].Controller}}
	if diff := cmp.Diff(want, m.OwnerReferences); diff != "" || !*m.OwnerReferences[0].Controller {
		t.Errorf("owner references (-want +got):\n%s", diff)
	}
	if _, ok := sp.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		t.Error("the static pod itself got the mirror annotation")
	}
}
