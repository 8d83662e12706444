package integration

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"skiff/internal/scheduler"
	"skiff/internal/server/servertest"
	"skiff/internal/testobj"
)

func TestProfilesAndSpread(t *testing.T) {
	srv := servertest.Start(t, nil)
	rc, c := srv.Config, srv.Client
	ctx := context.Background()
	createNode(t, c, testobj.Node("a1").Capacity("4", "8Gi").Ready().Labels(v1.LabelTopologyZone, "a").Obj())
	createNode(t, c, testobj.Node("a2").Capacity("4", "8Gi").Ready().Labels(v1.LabelTopologyZone, "a").Obj())
	createNode(t, c, testobj.Node("b1").Capacity("4", "8Gi").Ready().Labels(v1.LabelTopologyZone, "b").Obj())
	cfg, err := scheduler.ParseConfig([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesFit}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
`))
	if err != nil {
		t.Fatal(err)
	}
	startScheduler(t, rc, scheduler.Config{DisableLeaderElection: true, Configuration: cfg})

	t.Run("spread across zones", func(t *testing.T) {
		perZone := map[string]int{}
		for _, name := range []string{"s0", "s1", "s2", "s3"} {
			p := testobj.Pod(name).Req("cpu", "100m").Labels("app", "spread").Obj()
			p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			}}
			createPod(t, c, p)
			node := waitBound(t, c, name)
			perZone[map[string]string{"a1": "a", "a2": "a", "b1": "b"}[node]]++
		}
		if diff := cmp.Diff(map[string]int{"a": 2, "b": 2}, perZone); diff != "" {
			t.Errorf("pods per zone (-want +got):\n%s", diff)
		}
	})

	t.Run("profiles by schedulerName", func(t *testing.T) {
		stranger := testobj.Pod("stranger").Req("cpu", "100m").Obj()
		stranger.Spec.SchedulerName = "someone-else"
		createPod(t, c, stranger)
		// packer packs onto the node that already has the most requested.
		big := testobj.Pod("filler").Req("cpu", "3").Obj()
		createPod(t, c, big)
		full := waitBound(t, c, "filler")
		packed := testobj.Pod("packed").Req("cpu", "500m").Obj()
		packed.Spec.SchedulerName = "packer"
		createPod(t, c, packed)
		if got := waitBound(t, c, "packed"); got != full {
			t.Errorf("packer placed on %s, want the fullest node %s", got, full)
		}
		evs, err := c.CoreV1().Events("default").List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "packed").String(),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Reason == "Scheduled" && e.Source.Component != "packer" {
				t.Errorf("Scheduled event from %q, want packer", e.Source.Component)
			}
		}
		// The stranger's add was seen before the others' (one watch
		// stream); it stays pending and untouched.
		p, err := c.CoreV1().Pods("default").Get(ctx, "stranger", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
			t.Errorf("pod for an unknown scheduler was touched: node %q, conditions %v", p.Spec.NodeName, p.Status.Conditions)
		}
	})
}
