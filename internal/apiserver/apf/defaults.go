package apf

import (
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults are the configuration objects every cluster starts with, as
// upstream's bootstrap configuration: the mandatory ones (exempt and
// catch-all), which the server always restores, and the suggested ones,
// which it restores while their apf.kubernetes.io/autoupdate-spec
// annotation says "true".
type Defaults struct {
	MandatoryLevels, SuggestedLevels   []*flowcontrolv1.PriorityLevelConfiguration
	MandatorySchemas, SuggestedSchemas []*flowcontrolv1.FlowSchema
}

// DefaultObjects builds fresh copies of the default configuration.
func DefaultObjects() Defaults {
	allResources := []flowcontrolv1.ResourcePolicyRule{{
		Verbs: []string{flowcontrolv1.VerbAll}, APIGroups: []string{flowcontrolv1.APIGroupAll},
		Resources: []string{flowcontrolv1.ResourceAll}, Namespaces: []string{flowcontrolv1.NamespaceEvery}, ClusterScope: true,
	}}
	allNonResources := []flowcontrolv1.NonResourcePolicyRule{{
		Verbs: []string{flowcontrolv1.VerbAll}, NonResourceURLs: []string{flowcontrolv1.NonResourceAll},
	}}
	everything := func(subjects ...flowcontrolv1.Subject) flowcontrolv1.PolicyRulesWithSubjects {
		return flowcontrolv1.PolicyRulesWithSubjects{Subjects: subjects, ResourceRules: allResources, NonResourceRules: allNonResources}
	}
	leaderElection := func(coreNamespace string) []flowcontrolv1.ResourcePolicyRule {
		verbs := []string{"get", "create", "update"}
		return []flowcontrolv1.ResourcePolicyRule{
			{Verbs: verbs, APIGroups: []string{""}, Resources: []string{"endpoints", "configmaps"}, Namespaces: []string{coreNamespace}},
			{Verbs: verbs, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Namespaces: []string{flowcontrolv1.NamespaceEvery}},
		}
	}
	kubeSystemSAs := serviceAccount(metav1.NamespaceSystem, flowcontrolv1.NameAll)
	return Defaults{
		MandatoryLevels: []*flowcontrolv1.PriorityLevelConfiguration{
			levelObject(flowcontrolv1.PriorityLevelConfigurationNameExempt, flowcontrolv1.PriorityLevelConfigurationSpec{
				Type:   flowcontrolv1.PriorityLevelEnablementExempt,
				Exempt: &flowcontrolv1.ExemptPriorityLevelConfiguration{NominalConcurrencyShares: ptr(0), LendablePercent: ptr(0)},
			}),
			levelObject(flowcontrolv1.PriorityLevelConfigurationNameCatchAll, flowcontrolv1.PriorityLevelConfigurationSpec{
				Type: flowcontrolv1.PriorityLevelEnablementLimited,
				Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: ptr(5), LendablePercent: ptr(0),
					LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}},
			}),
		},
		SuggestedLevels: []*flowcontrolv1.PriorityLevelConfiguration{
			queuing("system", 30, 33, 64, 6, 50),
			queuing("node-high", 40, 25, 64, 6, 50),
			queuing("leader-election", 10, 0, 16, 4, 50),
			queuing("workload-high", 40, 50, 128, 6, 50),
			queuing("workload-low", 100, 90, 128, 6, 50),
			queuing("global-default", 20, 50, 128, 6, 50),
		},
		MandatorySchemas: []*flowcontrolv1.FlowSchema{
			flowSchema(flowcontrolv1.FlowSchemaNameExempt, flowcontrolv1.PriorityLevelConfigurationNameExempt, 1, "",
				everything(group("system:masters"))),
			flowSchema(flowcontrolv1.FlowSchemaNameCatchAll, flowcontrolv1.PriorityLevelConfigurationNameCatchAll, 10000,
				flowcontrolv1.FlowDistinguisherMethodByUserType,
				everything(group("system:unauthenticated"), group("system:authenticated"))),
		},
		SuggestedSchemas: []*flowcontrolv1.FlowSchema{
			flowSchema("system-nodes", "system", 500, flowcontrolv1.FlowDistinguisherMethodByUserType, everything(group("system:nodes"))),
			flowSchema("system-node-high", "node-high", 400, flowcontrolv1.FlowDistinguisherMethodByUserType,
				flowcontrolv1.PolicyRulesWithSubjects{Subjects: []flowcontrolv1.Subject{group("system:nodes")},
					ResourceRules: []flowcontrolv1.ResourcePolicyRule{
						{Verbs: []string{flowcontrolv1.VerbAll}, APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status"},
							Namespaces: []string{flowcontrolv1.NamespaceEvery}, ClusterScope: true},
						{Verbs: []string{flowcontrolv1.VerbAll}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
							Namespaces: []string{flowcontrolv1.NamespaceEvery}},
					}}),
			flowSchema("probes", flowcontrolv1.PriorityLevelConfigurationNameExempt, 2, "",
				flowcontrolv1.PolicyRulesWithSubjects{Subjects: []flowcontrolv1.Subject{group("system:unauthenticated"), group("system:authenticated")},
					NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/readyz", "/livez"}}}}),
			flowSchema("system-leader-election", "leader-election", 100, flowcontrolv1.FlowDistinguisherMethodByUserType,
				flowcontrolv1.PolicyRulesWithSubjects{
					Subjects:      []flowcontrolv1.Subject{user("system:kube-controller-manager"), user("system:kube-scheduler"), kubeSystemSAs},
					ResourceRules: leaderElection(metav1.NamespaceSystem)}),
			flowSchema("endpoint-controller", "workload-high", 150, flowcontrolv1.FlowDistinguisherMethodByUserType,
				flowcontrolv1.PolicyRulesWithSubjects{
					Subjects: []flowcontrolv1.Subject{user("system:kube-controller-manager"), serviceAccount(metav1.NamespaceSystem, "endpoint-controller")},
					ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"get", "create", "update"}, APIGroups: []string{""},
						Resources: []string{"endpoints"}, Namespaces: []string{flowcontrolv1.NamespaceEvery}}}}),
			flowSchema("workload-leader-election", "leader-election", 200, flowcontrolv1.FlowDistinguisherMethodByUserType,
				flowcontrolv1.PolicyRulesWithSubjects{Subjects: []flowcontrolv1.Subject{kubeSystemSAs},
					ResourceRules: leaderElection(flowcontrolv1.NamespaceEvery)}),
			flowSchema("kube-controller-manager", "workload-high", 800, flowcontrolv1.FlowDistinguisherMethodByNamespaceType,
				everything(user("system:kube-controller-manager"))),
			flowSchema("kube-scheduler", "workload-high", 800, flowcontrolv1.FlowDistinguisherMethodByNamespaceType,
				everything(user("system:kube-scheduler"))),
			flowSchema("kube-system-service-accounts", "workload-high", 900, flowcontrolv1.FlowDistinguisherMethodByNamespaceType,
				everything(kubeSystemSAs)),
			flowSchema("service-accounts", "workload-low", 9000, flowcontrolv1.FlowDistinguisherMethodByUserType,
				everything(group("system:serviceaccounts"))),
			flowSchema("global-default", "global-default", 9900, flowcontrolv1.FlowDistinguisherMethodByUserType,
				everything(group("system:unauthenticated"), group("system:authenticated"))),
		},
	}
}

func ptr(v int32) *int32 { return &v }

func autoUpdate() map[string]string {
	return map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: "true"}
}

func levelObject(name string, spec flowcontrolv1.PriorityLevelConfigurationSpec) *flowcontrolv1.PriorityLevelConfiguration {
	return &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: autoUpdate()}, Spec: spec}
}

func queuing(name string, shares, lendable, queues, handSize, queueLength int32) *flowcontrolv1.PriorityLevelConfiguration {
	return levelObject(name, flowcontrolv1.PriorityLevelConfigurationSpec{
		Type: flowcontrolv1.PriorityLevelEnablementLimited,
		Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
			NominalConcurrencyShares: ptr(shares), LendablePercent: ptr(lendable),
			LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
				Queuing: &flowcontrolv1.QueuingConfiguration{Queues: queues, HandSize: handSize, QueueLengthLimit: queueLength}},
		},
	})
}

func flowSchema(name, levelName string, precedence int32, distinguisher flowcontrolv1.FlowDistinguisherMethodType,
	rules flowcontrolv1.PolicyRulesWithSubjects) *flowcontrolv1.FlowSchema {
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: autoUpdate()},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: levelName},
			MatchingPrecedence:         precedence,
			Rules:                      []flowcontrolv1.PolicyRulesWithSubjects{rules},
		},
	}
	if distinguisher != "" {
		fs.Spec.DistinguisherMethod = &flowcontrolv1.FlowDistinguisherMethod{Type: distinguisher}
	}
	return fs
}

func group(name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: name}}
}

func user(name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: name}}
}

func serviceAccount(namespace, name string) flowcontrolv1.Subject {
	return flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindServiceAccount,
		ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: namespace, Name: name}}
}

// AutoUpdateSpec reports whether the server may reset a stored default
// object's spec: always for mandatory objects; for suggested ones while
// the autoupdate annotation is "true", or, lacking the annotation, while
// nobody has changed the object since it was created (generation 1), as
// upstream decides.
func AutoUpdateSpec(meta metav1.Object, mandatory bool) bool {
	if mandatory {
		return true
	}
	if v, ok := meta.GetAnnotations()[flowcontrolv1.AutoUpdateAnnotationKey]; ok {
		return v == "true"
	}
	return meta.GetGeneration() == 1
}
