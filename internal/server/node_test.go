package server_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// TestServerRunsItsNode checks that a server runs a node beside its
// control plane unless DisableAgent: the node registers as a control-plane
// node and is Ready.
func TestServerRunsItsNode(t *testing.T) {
	s := servertest.Start(t, func(cfg *server.Config) {
		cfg.DisableAgent = false
		cfg.SimulateAgent = true
		cfg.NodeName = "host-a"
		// The proxy programs nftables and the DNS listens on :53; neither
		// is what this test is about.
		cfg.Disable = append(cfg.Disable, "proxy", "dns", "ingress")
	})
	servertest.Wait(t, "node host-a Ready", func(ctx context.Context) (bool, error) {
		n, err := s.Client.CoreV1().Nodes().Get(ctx, "host-a", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; !ok {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}
