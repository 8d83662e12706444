package core

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

// Length limits of new-style (eventTime) events.
const (
	eventFieldLimit   = 128
	eventMessageLimit = 1024
)

func eventResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "events",
		SingularName: "event",
		Kind:         "Event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Event{} },
		NewList:      func() runtime.Object { return &corev1.EventList{} },
		Strategy: registry.Strategy{
			Validate: func(obj runtime.Object) field.ErrorList { return ValidateEvent(obj.(*corev1.Event)) },
			// Upstream puts Name last and wide-only: `kubectl get events`
			// shows no NAME column.
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
			TableRow: func(obj runtime.Object) []interface{} { return eventRow(obj.(*corev1.Event)) },
			Fields:   func(obj runtime.Object) fields.Set { return eventFields(obj.(*corev1.Event)) },
		},
	}
}

// ValidateEvent checks a core/v1 event as upstream's legacy validation
// does; events.k8s.io/v1 objects are validated after conversion to it.
func ValidateEvent(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			// Old clients record cluster-scoped objects' events in "default".
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, ev.InvolvedObject.Namespace, mismatch))
		}
		rc := field.NewPath("reportingComponent")
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(rc, ""))
		}
		for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
			errs = append(errs, field.Invalid(rc, ev.ReportingController, msg))
		}
		for _, f := range []struct {
			name, value string
		}{{"reportingInstance", ev.ReportingInstance}, {"action", ev.Action}, {"reason", ev.Reason}} {
			if f.value == "" {
				errs = append(errs, field.Required(field.NewPath(f.name), ""))
			}
			if len(f.value) > eventFieldLimit {
				errs = append(errs, field.TooLong(field.NewPath(f.name), "", eventFieldLimit))
			}
		}
		if len(ev.Message) > eventMessageLimit {
			errs = append(errs, field.TooLong(field.NewPath("message"), "", eventMessageLimit))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return errs
}

func eventFields(ev *corev1.Event) fields.Set {
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	o := ev.InvolvedObject
	return fields.Set{
		"involvedObject.kind":            o.Kind,
		"involvedObject.namespace":       o.Namespace,
		"involvedObject.name":            o.Name,
		"involvedObject.uid":             string(o.UID),
		"involvedObject.apiVersion":      o.APIVersion,
		"involvedObject.resourceVersion": o.ResourceVersion,
		"involvedObject.fieldPath":       o.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         source,
		"type":                           ev.Type,
	}
}

func sinceMicro(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return registry.Since(metav1.NewTime(t.Time))
}

func eventRow(ev *corev1.Event) []interface{} {
	first := registry.Since(ev.FirstTimestamp)
	if ev.FirstTimestamp.IsZero() {
		first = sinceMicro(ev.EventTime)
	}
	last := registry.Since(ev.LastTimestamp)
	if ev.LastTimestamp.IsZero() {
		last = first
	}
	count := ev.Count
	if ev.Series != nil {
		last = sinceMicro(ev.Series.LastObservedTime)
		count = ev.Series.Count
	} else if count == 0 {
		// Singleton events of the new API carry no count.
		count = 1
	}
	target := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		target = fmt.Sprintf("%s/%s", target, ev.InvolvedObject.Name)
	}
	component := ev.Source.Component
	if component == "" {
		component = ev.ReportingController
	}
	instance := ev.Source.Host
	if instance == "" {
		instance = ev.ReportingInstance
	}
	source := component
	if instance != "" {
		source = component + ", " + instance
	}
	return []interface{}{
		last, ev.Type, ev.Reason, target, ev.InvolvedObject.FieldPath, source,
		strings.TrimSpace(ev.Message), first, int64(count), ev.Name,
	}
}
