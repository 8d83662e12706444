// Package flowcontrol holds the strategies of flowcontrol.apiserver.k8s.io/v1
// flowschemas and prioritylevelconfigurations: the API priority and fairness
// configuration objects. skiff stores and validates them; it does not yet
// classify requests by them.
package flowcontrol

import (
	"fmt"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Resources returns the flowcontrol.apiserver.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{flowSchemaResource(), priorityLevelResource()}
}

func flowSchemaResource() registry.Resource {
	return registry.Resource{
		GroupVersion: flowcontrolv1.SchemeGroupVersion,
		Resource:     "flowschemas",
		SingularName: "flowschema",
		Kind:         "FlowSchema",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &flowcontrolv1.FlowSchema{} },
		NewList:      func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{})},
			Default:            defaultFlowSchema,
			PrepareForCreate:   func(obj runtime.Object) { obj.(*flowcontrolv1.FlowSchema).Status = flowcontrolv1.FlowSchemaStatus{} },
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*flowcontrolv1.FlowSchema).Status = old.(*flowcontrolv1.FlowSchema).Status
			},
			Validate:        validateFlowSchema,
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"], 0),
				registry.Column("MatchingPrecedence", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"], 0),
				registry.Column("DistinguisherMethod", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("MissingPL", "string", "indicates whether the PriorityLevelConfiguration it references is missing", 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				fs := obj.(*flowcontrolv1.FlowSchema)
				method := "<none>"
				if fs.Spec.DistinguisherMethod != nil {
					method = string(fs.Spec.DistinguisherMethod.Type)
				}
				missing := "?"
				for _, c := range fs.Status.Conditions {
					if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
						missing = string(c.Status)
					}
				}
				return []interface{}{fs.Spec.PriorityLevelConfiguration.Name, fmt.Sprint(fs.Spec.MatchingPrecedence), method, registry.Age(obj), missing}
			},
		},
	}
}

func priorityLevelResource() registry.Resource {
	return registry.Resource{
		GroupVersion: flowcontrolv1.SchemeGroupVersion,
		Resource:     "prioritylevelconfigurations",
		SingularName: "prioritylevelconfiguration",
		Kind:         "PriorityLevelConfiguration",
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} },
		NewList:      func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} },
		Strategy: registry.Strategy{
			SubresourceUpdates: map[string]registry.SubresourceUpdate{"status": registry.StatusUpdate(registry.Status{})},
			Default:            defaultPriorityLevel,
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*flowcontrolv1.PriorityLevelConfiguration).Status = flowcontrolv1.PriorityLevelConfigurationStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*flowcontrolv1.PriorityLevelConfiguration).Status = old.(*flowcontrolv1.PriorityLevelConfiguration).Status
			},
			Validate:        validatePriorityLevel,
			TrackGeneration: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"], 0),
				registry.Column("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"], 0),
				registry.Column("Queues", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queues"], 0),
				registry.Column("HandSize", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["handSize"], 0),
				registry.Column("QueueLengthLimit", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queueLengthLimit"], 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
			},
			TableRow: func(obj runtime.Object) []interface{} {
				pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
				shares, queues, handSize, queueLength := "<none>", "<none>", "<none>", "<none>"
				if l := pl.Spec.Limited; l != nil {
					if l.NominalConcurrencyShares != nil {
						shares = fmt.Sprint(*l.NominalConcurrencyShares)
					}
					if q := l.LimitResponse.Queuing; q != nil {
						queues, handSize, queueLength = fmt.Sprint(q.Queues), fmt.Sprint(q.HandSize), fmt.Sprint(q.QueueLengthLimit)
					}
				}
				return []interface{}{string(pl.Spec.Type), shares, queues, handSize, queueLength, registry.Age(obj)}
			},
		},
	}
}

// Upstream's v1 defaults.
const (
	defaultMatchingPrecedence = 1000
	defaultNominalShares      = 30
	defaultQueues             = 64
	defaultHandSize           = 8
	defaultQueueLengthLimit   = 50
)

// defaultFlowSchema sets upstream's v1 defaults.
func defaultFlowSchema(obj runtime.Object) {
	fs := obj.(*flowcontrolv1.FlowSchema)
	if fs.Spec.MatchingPrecedence == 0 {
		fs.Spec.MatchingPrecedence = defaultMatchingPrecedence
	}
}

// defaultPriorityLevel sets upstream's v1 defaults: 30 nominal shares, no
// lending, and queuing parameters of 64 queues, hand size 8, 50 per queue.
func defaultPriorityLevel(obj runtime.Object) {
	pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
	if l := pl.Spec.Limited; l != nil {
		if l.NominalConcurrencyShares == nil {
			n := int32(defaultNominalShares)
			l.NominalConcurrencyShares = &n
		}
		if l.LendablePercent == nil {
			z := int32(0)
			l.LendablePercent = &z
		}
		if q := l.LimitResponse.Queuing; q != nil {
			if q.Queues == 0 {
				q.Queues = defaultQueues
			}
			if q.HandSize == 0 {
				q.HandSize = defaultHandSize
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = defaultQueueLengthLimit
			}
		}
	}
	if e := pl.Spec.Exempt; e != nil {
		if e.NominalConcurrencyShares == nil {
			z := int32(0)
			e.NominalConcurrencyShares = &z
		}
		if e.LendablePercent == nil {
			z := int32(0)
			e.LendablePercent = &z
		}
	}
}

func validateFlowSchema(obj runtime.Object) field.ErrorList {
	spec := obj.(*flowcontrolv1.FlowSchema).Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	if spec.MatchingPrecedence <= 0 || spec.MatchingPrecedence > 10000 {
		errs = append(errs, field.Invalid(p.Child("matchingPrecedence"), spec.MatchingPrecedence, "must be between 1 and 10000 inclusively"))
	}
	if spec.PriorityLevelConfiguration.Name == "" {
		errs = append(errs, field.Required(p.Child("priorityLevelConfiguration", "name"), "must reference a priority level"))
	}
	if d := spec.DistinguisherMethod; d != nil && d.Type != flowcontrolv1.FlowDistinguisherMethodByUserType && d.Type != flowcontrolv1.FlowDistinguisherMethodByNamespaceType {
		errs = append(errs, field.NotSupported(p.Child("distinguisherMethod", "type"), d.Type,
			[]string{string(flowcontrolv1.FlowDistinguisherMethodByUserType), string(flowcontrolv1.FlowDistinguisherMethodByNamespaceType)}))
	}
	for i, rule := range spec.Rules {
		rp := p.Child("rules").Index(i)
		if len(rule.Subjects) == 0 {
			errs = append(errs, field.Required(rp.Child("subjects"), "subjects must contain at least one value"))
		}
		for j, s := range rule.Subjects {
			errs = append(errs, validateSubject(s, rp.Child("subjects").Index(j))...)
		}
		if len(rule.ResourceRules) == 0 && len(rule.NonResourceRules) == 0 {
			errs = append(errs, field.Required(rp, "at least one of resourceRules and nonResourceRules has to be non-empty"))
		}
	}
	return errs
}

func validateSubject(s flowcontrolv1.Subject, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Kind {
	case flowcontrolv1.SubjectKindUser:
		if s.User == nil || s.User.Name == "" {
			errs = append(errs, field.Required(p.Child("user", "name"), "username is required"))
		}
	case flowcontrolv1.SubjectKindGroup:
		if s.Group == nil || s.Group.Name == "" {
			errs = append(errs, field.Required(p.Child("group", "name"), "group name is required"))
		}
	case flowcontrolv1.SubjectKindServiceAccount:
		if s.ServiceAccount == nil || s.ServiceAccount.Name == "" || s.ServiceAccount.Namespace == "" {
			errs = append(errs, field.Required(p.Child("serviceAccount"), "name and namespace are required"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind,
			[]string{string(flowcontrolv1.SubjectKindUser), string(flowcontrolv1.SubjectKindGroup), string(flowcontrolv1.SubjectKindServiceAccount)}))
	}
	return errs
}

func validatePriorityLevel(obj runtime.Object) field.ErrorList {
	spec := obj.(*flowcontrolv1.PriorityLevelConfiguration).Spec
	p := field.NewPath("spec")
	var errs field.ErrorList
	switch spec.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if spec.Limited != nil {
			errs = append(errs, field.Forbidden(p.Child("limited"), "must be nil if the type is not Limited"))
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if spec.Limited == nil {
			errs = append(errs, field.Required(p.Child("limited"), "must not be empty when type is Limited"))
			break
		}
		if spec.Exempt != nil {
			errs = append(errs, field.Forbidden(p.Child("exempt"), "must be nil if the type is Limited"))
		}
		errs = append(errs, validateLimited(spec.Limited, p.Child("limited"))...)
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), spec.Type,
			[]string{string(flowcontrolv1.PriorityLevelEnablementExempt), string(flowcontrolv1.PriorityLevelEnablementLimited)}))
	}
	return errs
}

func validateLimited(l *flowcontrolv1.LimitedPriorityLevelConfiguration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := l.NominalConcurrencyShares; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(p.Child("nominalConcurrencyShares"), *n, "must be a non-negative integer"))
	}
	if lp := l.LendablePercent; lp != nil && (*lp < 0 || *lp > 100) {
		errs = append(errs, field.Invalid(p.Child("lendablePercent"), *lp, "must be between 0 and 100, inclusive"))
	}
	rp := p.Child("limitResponse")
	switch l.LimitResponse.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if l.LimitResponse.Queuing != nil {
			errs = append(errs, field.Forbidden(rp.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited"))
		}
	case flowcontrolv1.LimitResponseTypeQueue:
		q := l.LimitResponse.Queuing
		if q == nil {
			errs = append(errs, field.Required(rp.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited"))
			break
		}
		if q.Queues <= 0 {
			errs = append(errs, field.Invalid(rp.Child("queuing", "queues"), q.Queues, "must be positive"))
		}
		if q.HandSize <= 0 || q.HandSize > q.Queues {
			errs = append(errs, field.Invalid(rp.Child("queuing", "handSize"), q.HandSize, "must be positive and not greater than queues"))
		}
		if q.QueueLengthLimit <= 0 {
			errs = append(errs, field.Invalid(rp.Child("queuing", "queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
		}
	default:
		errs = append(errs, field.NotSupported(rp.Child("type"), l.LimitResponse.Type,
			[]string{string(flowcontrolv1.LimitResponseTypeQueue), string(flowcontrolv1.LimitResponseTypeReject)}))
	}
	return errs
}
