package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// minStopGrace is the least a container gets to stop after its preStop
// hook used up the grace period, as upstream.
const minStopGrace = 2 * time.Second

// errNoHookRunner means the prober cannot run exec or httpGet hooks.
var errNoHookRunner = errors.New("exec and httpGet lifecycle hooks are not supported by this runtime")

// runHook runs one lifecycle handler of a container until it ends or ctx
// does; sleep handlers sleep here, others go to the prober.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, h *corev1.LifecycleHandler, containerID string) error {
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
		case <-a.cfg.Clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return nil
	}
	if h.Exec == nil && h.HTTPGet == nil {
		return fmt.Errorf("invalid lifecycle handler of container %s", c.Name)
	}
	hr, ok := a.cfg.Prober.(HookRunner)
	if !ok {
		return errNoHookRunner
	}
	return hr.RunHook(ctx, pod, c, h, containerID)
}

// hookHandler is the container's postStart or preStop handler, or nil.
func hookHandler(c *corev1.Container, preStop bool) *corev1.LifecycleHandler {
	if c == nil || c.Lifecycle == nil {
		return nil
	}
	if preStop {
		return c.Lifecycle.PreStop
	}
	return c.Lifecycle.PostStart
}

// graceAfterPreStop is what remains of grace once a preStop hook took
// elapsed, never less than minStopGrace.
func graceAfterPreStop(grace, elapsed time.Duration) time.Duration {
	return max(grace-elapsed, minStopGrace)
}

// killContainer stops a container as upstream's kubelet does: its preStop
// hook first (when it has one, it runs and there is a grace period),
// bounded by the grace period, then the runtime's stop with what remains.
func (a *Agent) killContainer(ctx context.Context, pod *corev1.Pod, act Action) error {
	var c *corev1.Container
	if pod != nil {
		c = specContainer(pod.Spec.Containers, act.Container)
		if c == nil {
			c = specContainer(pod.Spec.InitContainers, act.Container)
		}
	}
	grace := act.Grace
	if h := hookHandler(c, true); h != nil && grace > 0 && a.isRunning(ctx, pod, act.ContainerID) {
		start := a.cfg.Clock.Now()
		hctx, cancel := context.WithTimeout(ctx, grace)
		err := a.runHook(hctx, pod, c, h, act.ContainerID)
		cancel()
		if err != nil {
			a.log.Info("preStop hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
			a.containerEvent(pod, c.Name, corev1.EventTypeWarning, EventFailedPreStopHook, messagePreStopHookFailed)
		}
		grace = graceAfterPreStop(grace, a.cfg.Clock.Since(start))
	}
	return a.cfg.Runtime.StopContainer(ctx, act.ContainerID, grace)
}

// isRunning reports whether the runtime lists the container as running.
func (a *Agent) isRunning(ctx context.Context, pod *corev1.Pod, id string) bool {
	cs, err := a.cfg.Runtime.ListContainers(ctx, pod.UID)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.ID == id {
			return c.State == ContainerRunning
		}
	}
	return false
}
