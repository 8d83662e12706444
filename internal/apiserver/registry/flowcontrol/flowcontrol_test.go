package flowcontrol

import (
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

func TestPriorityLevelValidation(t *testing.T) {
	s := Resources()[1].Strategy
	limited := func(lr flowcontrolv1.LimitResponse) *flowcontrolv1.PriorityLevelConfiguration {
		return &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: lr}}}
	}
	tests := []struct {
		name string
		pl   *flowcontrolv1.PriorityLevelConfiguration
		want []string
	}{
		{name: "reject", pl: limited(flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject})},
		{name: "queue with defaults", pl: limited(flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue, Queuing: &flowcontrolv1.QueuingConfiguration{}})},
		{name: "queue without queuing", pl: limited(flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue}), want: []string{"spec.limited.limitResponse.queuing"}},
		{name: "hand larger than queues", pl: limited(flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
			Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 2, HandSize: 3, QueueLengthLimit: 1}}), want: []string{"spec.limited.limitResponse.queuing.handSize"}},
		{name: "limited without limited", pl: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited}}, want: []string{"spec.limited"}},
		{name: "unknown type", pl: &flowcontrolv1.PriorityLevelConfiguration{Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: "Sometimes"}}, want: []string{"spec.type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Default(tt.pl)
			errs := s.Validate(tt.pl)
			var got []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("errors %v, want fields %v", errs, tt.want)
			}
		})
	}
}

func TestFlowSchemaValidation(t *testing.T) {
	s := Resources()[0].Strategy
	fs := &flowcontrolv1.FlowSchema{Spec: flowcontrolv1.FlowSchemaSpec{
		PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "pl"},
		Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
			Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindGroup, Group: &flowcontrolv1.GroupSubject{Name: "g"}}},
			NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
		}},
	}}
	s.Default(fs)
	if fs.Spec.MatchingPrecedence != defaultMatchingPrecedence {
		t.Errorf("matchingPrecedence %d, want the default", fs.Spec.MatchingPrecedence)
	}
	if errs := s.Validate(fs); len(errs) != 0 {
		t.Errorf("valid flow schema: %v", errs)
	}
	fs.Spec.MatchingPrecedence = 10001
	fs.Spec.Rules[0].Subjects[0] = flowcontrolv1.Subject{Kind: flowcontrolv1.SubjectKindUser}
	if errs := s.Validate(fs); len(errs) != 2 {
		t.Errorf("want errors for matchingPrecedence and the user name, got %v", errs)
	}
}
