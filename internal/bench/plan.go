package bench

import "fmt"

// Workload kinds of the load test.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
)

// Group sizes, clusterloader2's load test's: a quarter of a namespace's
// pods in big groups, a quarter in medium ones, half in small ones.
const (
	bigGroup    = 250
	mediumGroup = 30
	smallGroup  = 5
)

// nodesPerNamespace is how many nodes' worth of pods one namespace
// holds when the number of namespaces is not given.
const nodesPerNamespace = 100

// Workload is one workload of the plan.
type Workload struct {
	Namespace, Name string
	Kind            string
	// Replicas is the size it is created with; a DaemonSet's is the
	// number of nodes it is expected to cover (its pods count against
	// the budget of its namespace).
	Replicas int
	// Service says it gets a Service selecting its pods.
	Service bool
}

// Plan is the objects a load test creates.
type Plan struct {
	Namespaces []string
	Workloads  []Workload
	// Pods is the sum of the workloads' replicas: nodes × pods per node.
	Pods int
}

// PlanLoad divides nodes × podsPerNode pods over namespaces (one per 100
// nodes when zero) the way clusterloader2's load test does: per
// namespace a quarter of the pods in groups of 250, a quarter in groups
// of 30 and the rest in groups of 5 (the last one smaller if the rest
// does not divide). In every size class the first group is a
// StatefulSet and the second a Job (but no big StatefulSet: its rollout
// would replace 250 pods a few at a time); the others are Deployments.
// The first namespace also holds a DaemonSet over every node, whose pods
// come out of its small groups' share. Half of
// the Deployments get a Service.
func PlanLoad(prefix string, nodes, podsPerNode, namespaces int) Plan {
	if namespaces <= 0 {
		namespaces = max(1, (nodes+nodesPerNamespace-1)/nodesPerNamespace)
	}
	total := nodes * podsPerNode
	p := Plan{}
	deployments := 0
	for n := range namespaces {
		ns := fmt.Sprintf("%s-%d", prefix, n)
		p.Namespaces = append(p.Namespaces, ns)
		budget := total / namespaces
		if n < total%namespaces {
			budget++
		}
		add := func(kind string, size int, name string) {
			w := Workload{Namespace: ns, Name: name, Kind: kind, Replicas: size}
			if kind == KindDeployment {
				w.Service = deployments%2 == 0
				deployments++
			}
			p.Workloads = append(p.Workloads, w)
			p.Pods += size
		}
		big := budget / 4 / bigGroup
		medium := budget / 4 / mediumGroup
		rest := budget - big*bigGroup - medium*mediumGroup
		if n == 0 && rest >= 2*nodes {
			add(KindDaemonSet, nodes, "daemon")
			rest -= nodes
		}
		small := (rest + smallGroup - 1) / smallGroup
		classes := []struct {
			name         string
			count, size  int
			statefulSets bool
		}{
			{"big", big, bigGroup, false},
			{"medium", medium, mediumGroup, true},
			{"small", small, smallGroup, true},
		}
		for _, c := range classes {
			for i := range c.count {
				size := c.size
				if c.name == "small" && i == c.count-1 && rest%smallGroup != 0 {
					size = rest % smallGroup
				}
				kind := KindDeployment
				switch {
				case i == 0 && c.statefulSets:
					kind = KindStatefulSet
				case i == 1:
					kind = KindJob
				}
				add(kind, size, fmt.Sprintf("%s-%d", c.name, i))
			}
		}
	}
	return p
}

// scaleUp and scaleDown are the sizes a workload of replicas is scaled
// to: half as big again, then half its first size (at least one).
func scaleUp(replicas int) int   { return (3*replicas + 1) / 2 }
func scaleDown(replicas int) int { return max(1, replicas/2) }
