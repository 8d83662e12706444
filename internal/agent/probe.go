package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Probe types, as keys of podEntry.probes.
const (
	probeReadiness = "readiness"
	probeLiveness  = "liveness"
	probeStartup   = "startup"
)

// probeTitle names a probe type in Unhealthy events.
func probeTitle(typ string) string {
	switch typ {
	case probeReadiness:
		return "Readiness"
	case probeLiveness:
		return "Liveness"
	}
	return "Startup"
}

// probeRecord is the state of one probe of one container instance.
type probeRecord struct {
	containerID string
	// ok is the current conclusion: after successThreshold successes it
	// turns true, after failureThreshold failures false.
	ok bool
	// failed means failureThreshold was reached: a startup probe that
	// failed asks for a restart, as a failed liveness probe does.
	failed              bool
	successes, failures int32
}

// probeStates summarizes the probe records of a pod by container name.
func (a *Agent) probeStates(uid types.UID) map[string]ProbeState {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.pods[uid]
	if e == nil || e.pod == nil {
		return nil
	}
	out := map[string]ProbeState{}
	for _, c := range append(append([]corev1.Container{}, e.pod.Spec.InitContainers...), e.pod.Spec.Containers...) {
		ps := ProbeState{Ready: true, Started: true}
		var id string
		check := func(t string, p *corev1.Probe) *probeRecord {
			if p == nil {
				return nil
			}
			r := e.probes[c.Name+"/"+t]
			if r == nil {
				return &probeRecord{ok: t == probeLiveness}
			}
			id = r.containerID
			return r
		}
		if r := check(probeStartup, c.StartupProbe); r != nil {
			ps.Started = r.ok
			ps.LivenessFailed = r.failed
		}
		if r := check(probeReadiness, c.ReadinessProbe); r != nil {
			ps.Ready = r.ok
		}
		if r := check(probeLiveness, c.LivenessProbe); r != nil {
			ps.LivenessFailed = ps.LivenessFailed || !r.ok
		}
		if id == "" {
			continue // no probe ran: the defaults apply to any instance
		}
		ps.ContainerID = id
		out[c.Name] = ps
	}
	return out
}

// scheduleProbes starts probing each running container that has probes
// and is not probed yet; records of instances gone are dropped.
func (a *Agent) scheduleProbes(pod *corev1.Pod, obs Observed) {
	running := map[string]string{}
	for _, c := range obs.Containers {
		if c.State == ContainerRunning {
			running[c.Name] = c.ID
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.pods[pod.UID]
	if e == nil {
		return
	}
	for key, r := range e.probes {
		name, _, _ := strings.Cut(key, "/")
		if running[name] != r.containerID {
			delete(e.probes, key)
		}
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		id := running[c.Name]
		if id == "" {
			continue
		}
		for t, p := range map[string]*corev1.Probe{probeStartup: c.StartupProbe, probeReadiness: c.ReadinessProbe, probeLiveness: c.LivenessProbe} {
			if p == nil {
				continue
			}
			key := c.Name + "/" + t
			if e.probes[key] != nil {
				continue
			}
			if e.probes == nil {
				e.probes = map[string]*probeRecord{}
			}
			e.probes[key] = &probeRecord{containerID: id, ok: t == probeLiveness}
			a.pool.addAfter(item{a: a, kind: itemProbe, key: string(pod.UID) + "/" + key}, time.Duration(p.InitialDelaySeconds)*time.Second)
		}
	}
}

// runProbe runs one probe, updates its record, resyncs the pod when the
// conclusion changed and schedules the next run after periodSeconds.
func (a *Agent) runProbe(ctx context.Context, key string) {
	uid, rest, _ := strings.Cut(key, "/")
	name, typ, _ := strings.Cut(rest, "/")
	a.mu.Lock()
	e := a.pods[types.UID(uid)]
	var pod *corev1.Pod
	var r *probeRecord
	if e != nil && e.pod != nil {
		pod, r = e.pod, e.probes[name+"/"+typ]
	}
	var startup *probeRecord
	if e != nil {
		startup = e.probes[name+"/"+probeStartup]
	}
	a.mu.Unlock()
	if r == nil || pod == nil || pod.DeletionTimestamp != nil {
		return
	}
	c := specContainer(pod.Spec.Containers, name)
	if c == nil {
		c = specContainer(pod.Spec.InitContainers, name)
	}
	if c == nil {
		return
	}
	p := map[string]*corev1.Probe{probeStartup: c.StartupProbe, probeReadiness: c.ReadinessProbe, probeLiveness: c.LivenessProbe}[typ]
	if p == nil {
		return
	}
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	next := item{a: a, kind: itemProbe, key: key}
	a.mu.Lock()
	startedOK := startup == nil || startup.ok
	a.mu.Unlock()
	if typ != probeStartup && !startedOK {
		// Liveness and readiness wait for the startup probe.
		a.pool.addAfter(next, period)
		return
	}
	if typ == probeStartup && startedOK && startup != nil {
		return // a startup probe stops once it succeeded
	}
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	pctx, cancel := context.WithTimeout(ctx, timeout)
	res, err := a.cfg.Prober.Probe(pctx, pod, c, p, r.containerID)
	cancel()
	success := err == nil && res == ProbeSuccess
	if !success {
		detail := ""
		if err != nil {
			detail = err.Error()
		}
		a.containerEvent(pod, name, corev1.EventTypeWarning, EventUnhealthy, fmt.Sprintf("%s probe failed: %s", probeTitle(typ), detail))
	}
	a.mu.Lock()
	before, failedBefore := r.ok, r.failed
	if success {
		r.successes++
		r.failures = 0
		if r.successes >= max(p.SuccessThreshold, 1) {
			r.ok, r.failed = true, false
		}
	} else {
		r.failures++
		r.successes = 0
		if r.failures >= max(p.FailureThreshold, 1) {
			r.ok, r.failed = false, true
		}
	}
	changed := before != r.ok || failedBefore != r.failed
	current := e.probes[name+"/"+typ] == r
	a.mu.Unlock()
	if !current {
		return
	}
	if changed {
		a.pool.add(item{a: a, kind: itemPod, key: uid})
	}
	a.pool.addAfter(next, period)
}
