package events

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Length limits upstream puts on event fields.
const (
	maxShortField = 128
	maxNoteBytes  = 1024
)

// Resources returns the events.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return []registry.Resource{eventResource()}
}

func eventResource() registry.Resource {
	return registry.Resource{
		GroupVersion: eventsv1.SchemeGroupVersion,
		Resource:     "events",
		SingularName: "event",
		Kind:         "Event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &eventsv1.Event{} },
		NewList:      func() runtime.Object { return &eventsv1.EventList{} },
		Storage:      schema.GroupVersionResource{Version: "v1", Resource: "events"},
		ToStorage: func(obj runtime.Object) (runtime.Object, error) {
			e, ok := obj.(*eventsv1.Event)
			if !ok {
				return nil, fmt.Errorf("convert event to core/v1: unexpected type %T", obj)
			}
			return ToCore(e), nil
		},
		FromStorage: func(obj runtime.Object) (runtime.Object, error) {
			e, ok := obj.(*corev1.Event)
			if !ok {
				return nil, fmt.Errorf("convert event from core/v1: unexpected type %T", obj)
			}
			return FromCore(e), nil
		},
		Strategy: registry.Strategy{
			Validate:          validateEvent,
			ValidateUpdate:    validateEventUpdate,
			TableIncludesName: true,
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"], 0),
				registry.Column("Type", "string", corev1.Event{}.SwaggerDoc()["type"], 0),
				registry.Column("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"], 0),
				registry.Column("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"], 0),
				registry.Column("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"], 1),
				registry.Column("Source", "string", corev1.Event{}.SwaggerDoc()["source"], 1),
				registry.Column("Message", "string", corev1.Event{}.SwaggerDoc()["message"], 0),
				registry.Column("First Seen", "string", corev1.Event{}.SwaggerDoc()["firstTimestamp"], 1),
				registry.Column("Count", "string", corev1.Event{}.SwaggerDoc()["count"], 1),
				{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			},
			TableRow: func(obj runtime.Object) []interface{} { return eventRow(ToCore(obj.(*eventsv1.Event))) },
			Fields: func(obj runtime.Object) fields.Set {
				e := obj.(*eventsv1.Event)
				return fields.Set{
					"reason":                    e.Reason,
					"reportingController":       e.ReportingController,
					"type":                      e.Type,
					"regarding.kind":            e.Regarding.Kind,
					"regarding.namespace":       e.Regarding.Namespace,
					"regarding.name":            e.Regarding.Name,
					"regarding.uid":             string(e.Regarding.UID),
					"regarding.apiVersion":      e.Regarding.APIVersion,
					"regarding.resourceVersion": e.Regarding.ResourceVersion,
					"regarding.fieldPath":       e.Regarding.FieldPath,
				}
			},
		},
	}
}

// ToCore converts an events.k8s.io/v1 event to its core/v1 storage form.
func ToCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          *in.ObjectMeta.DeepCopy(),
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// FromCore converts a stored core/v1 event to events.k8s.io/v1.
func FromCore(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:               *in.ObjectMeta.DeepCopy(),
		EventTime:                in.EventTime,
		Action:                   in.Action,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	if in.Related != nil {
		r := *in.Related
		out.Related = &r
	}
	return out
}

// validateEvent holds an event written through events.k8s.io/v1 to the
// stricter rules upstream applies to that API: the reporting fields are
// required and the deprecated core fields must be unset.
func validateEvent(obj runtime.Object) field.ErrorList {
	e := obj.(*eventsv1.Event)
	var errs field.ErrorList
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		errs = append(errs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.DeprecatedFirstTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		errs = append(errs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	if e.Series != nil {
		if e.Series.Count < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
		}
		if e.Series.LastObservedTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	if e.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		for _, msg := range validation.IsQualifiedName(e.ReportingController) {
			errs = append(errs, field.Invalid(field.NewPath("reportingController"), e.ReportingController, msg))
		}
	}
	for _, f := range []struct {
		name, value string
	}{{"reportingInstance", e.ReportingInstance}, {"action", e.Action}, {"reason", e.Reason}} {
		if f.value == "" {
			errs = append(errs, field.Required(field.NewPath(f.name), ""))
		} else if len(f.value) > maxShortField {
			errs = append(errs, field.Invalid(field.NewPath(f.name), "", fmt.Sprintf("can have at most %v characters", maxShortField)))
		}
	}
	if len(e.Note) > maxNoteBytes {
		errs = append(errs, field.Invalid(field.NewPath("note"), "", fmt.Sprintf("can have at most %v characters", maxNoteBytes)))
	}
	if ns := e.Regarding.Namespace; ns != "" && e.Namespace != "" && ns != e.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("regarding", "namespace"), ns, "does not match event.namespace"))
	}
	return errs
}

// validateEventUpdate allows only the series (and metadata) of an
// events.k8s.io event to change, as upstream does.
func validateEventUpdate(obj, old runtime.Object) field.ErrorList {
	e, o := obj.(*eventsv1.Event), old.(*eventsv1.Event)
	var errs field.ErrorList
	for _, f := range []struct {
		name     string
		new, old interface{}
	}{
		{"regarding", e.Regarding, o.Regarding},
		{"related", e.Related, o.Related},
		{"reportingController", e.ReportingController, o.ReportingController},
		{"reportingInstance", e.ReportingInstance, o.ReportingInstance},
		{"action", e.Action, o.Action},
		{"reason", e.Reason, o.Reason},
		{"note", e.Note, o.Note},
		{"type", e.Type, o.Type},
		{"eventTime", e.EventTime, o.EventTime},
	} {
		errs = append(errs, apivalidation.ValidateImmutableField(f.new, f.old, field.NewPath(f.name))...)
	}
	return errs
}

// eventRow renders kubectl's event row (all columns, as the server always
// does) from the core form.
func eventRow(e *corev1.Event) []interface{} {
	first := registry.Since(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = registry.Since(metav1.NewTime(e.EventTime.Time))
	}
	last := registry.Since(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = registry.Since(metav1.NewTime(e.Series.LastObservedTime.Time))
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events carry no count in the new API
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	component, host := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if host == "" {
		host = e.ReportingInstance
	}
	source := component
	if host != "" {
		source += ", " + host
	}
	return []interface{}{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source, strings.TrimSpace(e.Message), first, int64(count), e.Name}
}
