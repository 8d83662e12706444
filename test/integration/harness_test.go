package integration

import (
	"testing"

	"k8s.io/client-go/rest"

	"skiff/internal/server/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// protobuf makes a client speak protobuf (JSON for what has no protobuf
// encoding), as kubectl and the controllers do.
func protobuf(rc *rest.Config) {
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
}
