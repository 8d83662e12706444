package servertest

import (
	"testing"

	"skiff/internal/etcd/etcdtest"
)

// Main runs the package's tests and then fails the run if goroutines they
// started are still running after a grace period. Call it from TestMain:
//
//	func TestMain(m *testing.M) { servertest.Main(m) }
func Main(m *testing.M) { etcdtest.Main(m) }
