package horizontalpodautoscaler_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"skiff/internal/controller/horizontalpodautoscaler"
	"skiff/internal/server/servertest"
)

// TestAPISourceWithProtobufClient checks that the metrics API is read
// through a client that asks for protobuf, as the controllers' clients
// do: the pod metrics list must still come back as JSON it can decode.
func TestAPISourceWithProtobufClient(t *testing.T) {
	s := servertest.Start(t, nil)
	c := s.ClientFor(t, func(rc *rest.Config) {
		rc.ContentType = "application/vnd.kubernetes.protobuf"
		rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	})
	usage, err := horizontalpodautoscaler.NewAPISource(c).PodUsage(t.Context(), "default", labels.Everything())
	if err != nil {
		t.Fatalf("PodUsage: %v", err)
	}
	if len(usage) != 0 {
		t.Errorf("PodUsage with no nodes = %v, want none", usage)
	}
}
