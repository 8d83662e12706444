package scheduler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"sigs.k8s.io/yaml"

	schedcache "skiff/internal/scheduler/cache"
	"skiff/internal/scheduler/framework"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenFile is one testdata/<name>.yaml: a profile and placement cases.
type goldenFile struct {
	// Config is an optional KubeSchedulerConfiguration profile list;
	// empty means the default profile.
	Config *configv1.KubeSchedulerConfiguration `json:"config"`
	Cases  []goldenCase                         `json:"cases"`
}

type goldenCase struct {
	Name       string                         `json:"name"`
	Nodes      []v1.Node                      `json:"nodes"`
	Pods       []v1.Pod                       `json:"pods"`
	Namespaces []v1.Namespace                 `json:"namespaces"`
	Services   []v1.Service                   `json:"services"`
	PDBs       []policyv1.PodDisruptionBudget `json:"pdbs"`
	// Pod is scheduled; Then are scheduled after it, each seeing the
	// previous placements (to test spreading).
	Pod  v1.Pod   `json:"pod"`
	Then []v1.Pod `json:"then"`
}

// TestGolden runs every testdata/*.yaml and compares the placement report
// with testdata/*.golden (regenerate with -update).
func TestGolden(t *testing.T) { checkGolden(t, true) }

// TestGoldenWithoutIndex checks that the plugins' full walks (used when
// the snapshot offers no framework.TopologyIndex) place pods exactly as
// the indexed paths do.
func TestGoldenWithoutIndex(t *testing.T) {
	if *update {
		t.Skip("-update rewrites from TestGolden")
	}
	checkGolden(t, false)
}

// plainLister hides the snapshot's TopologyIndex.
type plainLister struct{ framework.SharedLister }

func checkGolden(t *testing.T, indexed bool) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var gf goldenFile
			if err := yaml.UnmarshalStrict(data, &gf); err != nil {
				t.Fatalf("parse %s: %v", f, err)
			}
			var out strings.Builder
			for _, c := range gf.Cases {
				fmt.Fprintf(&out, "## %s\n", c.Name)
				out.WriteString(runGoldenCase(t, gf.Config, c, indexed))
				out.WriteString("\n")
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func fillNode(n *v1.Node) *v1.Node {
	n = n.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if _, ok := n.Labels[v1.LabelHostname]; !ok {
		n.Labels[v1.LabelHostname] = n.Name
	}
	if n.Status.Allocatable == nil {
		n.Status.Allocatable = v1.ResourceList{}
	}
	if _, ok := n.Status.Allocatable[v1.ResourcePods]; !ok {
		n.Status.Allocatable[v1.ResourcePods] = resource.MustParse("110")
	}
	return n
}

func fillPod(p *v1.Pod) *v1.Pod {
	p = p.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if p.UID == "" {
		p.UID = types.UID(p.Namespace + "/" + p.Name)
	}
	if p.Spec.SchedulerName == "" {
		p.Spec.SchedulerName = DefaultSchedulerName
	}
	if len(p.Spec.Containers) == 0 {
		p.Spec.Containers = []v1.Container{{Name: "c", Image: "pause"}}
	}
	return p
}

func runGoldenCase(t *testing.T, cfg *configv1.KubeSchedulerConfiguration, c goldenCase, indexed bool) string {
	t.Helper()
	ctx := context.Background()
	client := fake.NewClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	cch := schedcache.New()
	snap := schedcache.NewSnapshot()
	var out strings.Builder
	for i := range c.Nodes {
		cch.AddNode(fillNode(&c.Nodes[i]))
	}
	for i := range c.Pods {
		p := fillPod(&c.Pods[i])
		cch.AddPod(p)
		if _, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, metaCreate); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.Namespaces {
		_ = inf.Core().V1().Namespaces().Informer().GetStore().Add(&c.Namespaces[i])
	}
	for i := range c.Services {
		s := c.Services[i]
		if s.Namespace == "" {
			s.Namespace = "default"
		}
		_ = inf.Core().V1().Services().Informer().GetStore().Add(&s)
	}
	for i := range c.PDBs {
		p := c.PDBs[i]
		if p.Namespace == "" {
			p.Namespace = "default"
		}
		_ = inf.Policy().V1().PodDisruptionBudgets().Informer().GetStore().Add(&p)
	}
	profiles, err := Profiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fwk, err := framework.NewFramework(NewInTreeRegistry(), profiles[0], framework.Options{
		Client: client, Informers: inf, Parallelism: 1,
		Snapshot: func() framework.SharedLister {
			if !indexed {
				return plainLister{snap}
			}
			return snap
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	algo := &algorithm{percentageOfNodesToScore: 100, rnd: rand.New(rand.NewPCG(1, 2))}
	pods := append([]v1.Pod{c.Pod}, c.Then...)
	for i := range pods {
		pod := fillPod(&pods[i])
		cch.UpdateSnapshot(snap)
		client.ClearActions()
		state := framework.NewCycleState()
		res, err := algo.schedulePod(ctx, fwk, state, pod, snap)
		fmt.Fprintf(&out, "pod %s:\n", pod.Name)
		var fitErr *FitError
		switch {
		case errors.As(err, &fitErr):
			if fwk.HasPostFilterPlugins() {
				r, st := fwk.RunPostFilterPlugins(ctx, state, pod, fitErr.Diagnosis.NodeToStatus)
				if !st.IsSuccess() {
					fitErr.Diagnosis.PostFilterMsg = st.Message()
				}
				if r != nil && r.NominatedNodeName != "" {
					fmt.Fprintf(&out, "  nominated: %s\n", r.NominatedNodeName)
					var victims []string
					for _, a := range client.Actions() {
						if d, ok := a.(k8stesting.DeleteAction); ok {
							victims = append(victims, d.GetName())
						}
					}
					sort.Strings(victims)
					fmt.Fprintf(&out, "  victims: %s\n", strings.Join(victims, ", "))
				}
			}
			fmt.Fprintf(&out, "  unschedulable: %s\n", fitErr.Error())
		case err != nil:
			fmt.Fprintf(&out, "  error: %v\n", err)
		default:
			fmt.Fprintf(&out, "  node: %s\n", res.SuggestedHost)
			writeScores(&out, res)
			placed := pod.DeepCopy()
			placed.Spec.NodeName = res.SuggestedHost
			cch.AddPod(placed)
		}
	}
	return out.String()
}

func writeScores(out *strings.Builder, res ScheduleResult) {
	if len(res.Scores) == 0 {
		return
	}
	idx := make([]int, len(res.Scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return res.Scores[idx[a]].Name < res.Scores[idx[b]].Name })
	for _, i := range idx {
		fmt.Fprintf(out, "  %s: %d", res.Scores[i].Name, res.Scores[i].Score)
		var parts []string
		for _, ps := range res.PluginScores {
			parts = append(parts, fmt.Sprintf("%s=%d", ps.Plugin, ps.Scores[i]))
		}
		if len(parts) > 0 {
			fmt.Fprintf(out, " (%s)", strings.Join(parts, " "))
		}
		out.WriteString("\n")
	}
}
