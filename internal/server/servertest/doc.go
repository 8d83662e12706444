// Package servertest is the one in-process test harness: it starts a skiff
// control plane (internal/server) on embedded etcd, on free loopback ports
// in a temporary data dir, and stops it when the test ends.
//
//	func TestMain(m *testing.M) { servertest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		s := servertest.Start(t, func(cfg *server.Config) {
//			cfg.Disable = nil // run the scheduler and the controllers too
//		})
//		pod, err := s.Client.CoreV1().Pods("default").Create(ctx, testobj.Pod("web-0").Obj(), metav1.CreateOptions{})
//		...
//		servertest.Wait(t, "pod web-0 bound", func(ctx context.Context) (bool, error) { ... })
//	}
//
// By default the server is bare: it runs no node (no agent, proxy or DNS on
// this host), no scheduler and no controllers but the service account
// controller (pods are refused without their service account, so every
// namespace gets its "default" one), so that a test runs the component it
// is about itself and nothing else acts on its objects. The
// callback passed to Start may change any field of the Config before the
// start, such as Disable or DataDir (to restart on the data of an earlier
// server).
//
// For tests of controllers, which run without a scheduler or an agent:
// Server.RunController runs one controller on informers of its own and
// returns a Recorder of its events; Server.StartKubelet simulates the
// scheduler and the nodes' kubelets (binds pending pods, reports bound
// pods Running and Ready, removes deleted ones at once); Server.FinishPod
// ends a pod as its kubelet would; Server.CreateNode creates a node with
// its status (testobj.Node builds it); Server.NodeClient acts as a joined
// node, with the rights the Node authorizer gives it.
//
// Wait polls a condition (a test waits for a condition, never for a time);
// Logger is the test logger, silent unless SKIFF_TEST_LOG is set; Main
// runs a package's tests and fails the run if they leaked goroutines.
package servertest
