package scheduler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

func TestProfilesFromConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packer
  plugins:
    multiPoint:
      enabled:
      - name: NodeResourcesFit
        weight: 5
      disabled:
      - name: ImageLocality
      - name: VolumeBinding
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
`))
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := Profiles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range profiles {
		names = append(names, p.SchedulerName)
	}
	if diff := cmp.Diff([]string{"default-scheduler", "bin-packer"}, names); diff != "" {
		t.Fatalf("profiles (-want +got):\n%s", diff)
	}
	bp := profiles[1]
	var fitWeight int32
	for _, r := range bp.MultiPoint {
		if r.Name == "ImageLocality" {
			t.Error("ImageLocality not disabled")
		}
		if r.Name == "NodeResourcesFit" {
			fitWeight = r.Weight
		}
	}
	if fitWeight != 5 {
		t.Errorf("NodeResourcesFit weight %d, want 5", fitWeight)
	}
	if diff := cmp.Diff([]string{"NodeResourcesBalancedAllocation"}, bp.Points[framework.PointScore].Disabled); diff != "" {
		t.Errorf("score disabled (-want +got):\n%s", diff)
	}
	if bp.PluginArgs["NodeResourcesFit"] == nil {
		t.Error("NodeResourcesFit args not decoded")
	}
	// Both profiles build.
	for _, p := range profiles {
		// The volume plugins register their informers.
		inf := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
		if _, err := framework.NewFramework(NewInTreeRegistry(), p, framework.Options{Informers: inf}); err != nil {
			t.Errorf("build %s: %v", p.SchedulerName, err)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"wrong kind", "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Pod\n"},
		{"wrong version", "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n"},
		{"unknown field", "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nbogus: 1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseConfig([]byte(tt.yaml)); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestFitErrorMessage(t *testing.T) {
	fe := &FitError{NumAllNodes: 5, Diagnosis: Diagnosis{
		NodeToStatus: framework.NodeToStatus{
			"a": framework.NewStatus(framework.Unschedulable, "Insufficient cpu"),
			"b": framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory"),
			"c": framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {dedicated: gpu}"),
		},
		PostFilterMsg: "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
	}}
	want := "0/5 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
	if diff := cmp.Diff(want, fe.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
