package events

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func sample() *eventsv1.Event {
	return &eventsv1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		EventTime:           metav1.NewMicroTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)),
		Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC))},
		ReportingController: "skiff.io/scheduler",
		ReportingInstance:   "scheduler-node1",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", FieldPath: "spec"},
		Related:             &corev1.ObjectReference{Kind: "Node", Name: "node1"},
		Note:                "Successfully assigned default/web to node1",
		Type:                corev1.EventTypeNormal,
	}
}

func TestConversionRoundTrip(t *testing.T) {
	in := sample()
	c := ToCore(in)
	if c.Message != in.Note || c.InvolvedObject != in.Regarding || c.ReportingController != in.ReportingController ||
		c.Series.Count != 3 || c.APIVersion != "v1" {
		t.Errorf("core form: %+v", c)
	}
	if diff := cmp.Diff(in, FromCore(c)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	legacy := &corev1.Event{Message: "m", Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, Count: 4,
		FirstTimestamp: metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))}
	e := FromCore(legacy)
	if e.Note != "m" || e.DeprecatedSource.Component != "kubelet" || e.DeprecatedCount != 4 || e.DeprecatedFirstTimestamp != legacy.FirstTimestamp {
		t.Errorf("deprecated fields: %+v", e)
	}
}

func TestValidate(t *testing.T) {
	r := Resources()[0]
	if errs := r.Strategy.Validate(sample()); len(errs) != 0 {
		t.Errorf("valid event rejected: %v", errs)
	}
	bad := &eventsv1.Event{Type: "Info", DeprecatedCount: 2}
	var got []string
	for _, e := range r.Strategy.Validate(bad) {
		got = append(got, e.Field)
	}
	want := []string{"eventTime", "type", "deprecatedCount", "reportingController", "reportingInstance", "action", "reason"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestTable(t *testing.T) {
	r := Resources()[0]
	row := r.Strategy.TableRow(sample())
	if len(row) != len(r.Strategy.TableColumns) || !r.Strategy.TableIncludesName {
		t.Fatalf("%d cells for %d columns", len(row), len(r.Strategy.TableColumns))
	}
	got := append([]interface{}{}, row[1:5]...)
	got = append(got, row[5], row[6], row[8], row[9])
	want := []interface{}{"Normal", "Scheduled", "pod/web", "spec", "skiff.io/scheduler, scheduler-node1", "Successfully assigned default/web to node1", int64(3), "web.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if f := r.Strategy.Fields(sample()); f["regarding.name"] != "web" || f["reportingController"] != "skiff.io/scheduler" {
		t.Errorf("fields: %v", f)
	}
}
