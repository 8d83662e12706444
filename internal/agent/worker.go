package agent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// maxSteps bounds the observe-compute-apply rounds of one pod sync; the
// rest happens on the next sync.
const maxSteps = 8

// retryAfter is when a failed pod sync is tried again.
const retryAfter = time.Second

// podEntry is what the agent remembers of one pod.
type podEntry struct {
	// pod is the latest version from the API; nil once gone.
	pod *corev1.Pod
	// gone means the pod was deleted from the API.
	gone bool
	// deleted means the agent deleted the pod from the API itself.
	deleted bool
	// written is the last status written, to write only changes.
	written *corev1.PodStatus
	// probes holds probe state by "container/type".
	probes map[string]*probeRecord
	// waiting holds why containers could not be created, by name.
	waiting map[string]corev1.ContainerStateWaiting
	// admitted means the pod passed the node's admission (admit.go).
	admitted bool
	// resize holds the pod's resize conditions (resize.go), taken from
	// its status the first time (resizeLoaded).
	resize       resizeConditions
	resizeLoaded bool
	// refused counts the pod's syncs in a row that the API refused the
	// objects it needs (see forbiddenRetry).
	refused uint
}

// podSetup is what a pod sync prepared before starting containers: the
// API objects its env and volumes refer to, and its volumes' host paths.
type podSetup struct {
	objects podObjects
	volumes map[string]string
	podIPs  []string
	// configErrs counts containers that could not be configured.
	configErrs int
	// resizeErr is why an in-place resize failed in this sync.
	resizeErr error
}

// configErrRetry is when a container that could not be configured is
// tried again.
const configErrRetry = 5 * time.Second

// forbiddenRetry is when a pod whose objects the API refused is first
// tried again, doubling up to configErrRetry: the Node authorizer relates
// a node to its pods' objects a moment after the pod is bound, so a node
// that sees its pod first may be refused once.
const forbiddenRetry = 500 * time.Millisecond

// syncPod brings one pod's runtime state towards its spec, then writes its
// status when it changed.
func (a *Agent) syncPod(ctx context.Context, uid types.UID) {
	a.mu.Lock()
	e := a.pods[uid]
	var pod *corev1.Pod
	deleted := false
	if e != nil {
		pod, deleted = e.pod, e.deleted
	}
	a.mu.Unlock()
	if deleted {
		return
	}
	if pod != nil && !pod.Spec.HostNetwork && !a.networkReady() {
		// No sandbox before the pod network exists; retry shortly.
		a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, time.Second)
		return
	}
	var obs Observed
	var err error
	var ps podSetup
	active := pod != nil && pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
	if active && !a.admit(ctx, e, pod) {
		return
	}
	if active {
		// From here on the pod's containers have the resources the node
		// allocated them, which a resize may have just changed.
		pod = a.admitResize(e, pod)
	} else {
		pod = a.allocatedPod(pod)
	}
	if active {
		ps, err = a.preparePod(ctx, pod)
		if err != nil {
			// Upstream keeps the pod ContainerCreating until its volumes
			// mount; the status below says so.
			a.log.Warn("prepare pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			a.podEvent(pod, corev1.EventTypeWarning, EventFailedMount, err.Error())
			retry := configErrRetry
			if apierrors.IsForbidden(err) {
				a.mu.Lock()
				retry = min(forbiddenRetry<<min(e.refused, 4), configErrRetry)
				e.refused++
				a.mu.Unlock()
			}
			a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, retry)
			if obs, err = a.observe(ctx, uid); err == nil {
				_ = a.writeStatus(ctx, e, pod, obs)
			}
			if a.cfg.ResyncInterval > 0 {
				a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, a.cfg.ResyncInterval)
			}
			return
		}
		a.mu.Lock()
		e.refused = 0
		a.mu.Unlock()
	}
	for range maxSteps {
		if obs, err = a.observe(ctx, uid); err != nil {
			break
		}
		obs.NoResize = ps.resizeErr != nil
		plan := computeActions(pod, obs, a.cfg.Clock.Now())
		if plan.RequeueAfter > 0 {
			a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, plan.RequeueAfter)
		}
		for _, name := range plan.BackOff {
			a.containerEvent(pod, name, corev1.EventTypeWarning, EventBackOff, fmt.Sprintf("Back-off restarting failed container %s in pod %s", name, podRef(pod)))
		}
		if len(plan.Actions) == 0 {
			break
		}
		if pod != nil {
			ps.podIPs = podIPsOf(pod, obs, a.cfg.NodeIPs)
		}
		ps.configErrs = 0
		if err = a.apply(ctx, pod, &ps, plan.Actions); err != nil {
			break
		}
		if ps.resizeErr != nil {
			a.resizeFailed(pod, ps.resizeErr)
			a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, configErrRetry)
		}
		if ps.configErrs > 0 {
			a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, configErrRetry)
			obs, err = a.observe(ctx, uid)
			break
		}
		if pod != nil && a.deletedByUs(uid) {
			return
		}
	}
	if err != nil {
		a.log.Warn("sync pod", "uid", uid, "err", err)
		a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, retryAfter)
	}
	if pod == nil {
		if len(obs.Sandboxes) == 0 && len(obs.Containers) == 0 && err == nil {
			a.mu.Lock()
			if cur := a.pods[uid]; cur != nil && cur.pod == nil {
				delete(a.pods, uid)
			}
			a.mu.Unlock()
			a.cleanupPod(ctx, uid)
		}
		return
	}
	if err == nil {
		a.scheduleProbes(pod, obs)
		if active {
			a.noteResizeProgress(e, pod, obs)
		}
		if err := a.writeStatus(ctx, e, pod, obs); err != nil {
			a.log.Warn("write pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, retryAfter)
		}
	}
	if a.cfg.ResyncInterval > 0 {
		a.pool.addAfter(item{a: a, kind: itemPod, key: string(uid)}, a.cfg.ResyncInterval)
	}
}

// observe lists the pod's sandboxes and containers and its probe results.
func (a *Agent) observe(ctx context.Context, uid types.UID) (Observed, error) {
	var obs Observed
	var err error
	if obs.Sandboxes, err = a.cfg.Runtime.ListPodSandboxes(ctx, uid); err != nil {
		return obs, fmt.Errorf("list sandboxes: %w", err)
	}
	if obs.Containers, err = a.cfg.Runtime.ListContainers(ctx, uid); err != nil {
		return obs, fmt.Errorf("list containers: %w", err)
	}
	obs.Probes = a.probeStates(uid)
	obs.Actuated = a.alloc.actuated(uid)
	a.mu.Lock()
	if e := a.pods[uid]; e != nil && len(e.waiting) > 0 {
		obs.Waiting = make(map[string]corev1.ContainerStateWaiting, len(e.waiting))
		for k, v := range e.waiting {
			obs.Waiting[k] = v
		}
	}
	a.mu.Unlock()
	return obs, nil
}

// apply carries out actions in order; it stops at the first error.
func (a *Agent) apply(ctx context.Context, pod *corev1.Pod, ps *podSetup, acts []Action) error {
	rt := a.cfg.Runtime
	resized := false
	for _, act := range acts {
		var err error
		switch act.Kind {
		case ResizeContainer, ResizeRestart:
			// The plan's resize actions are one pod resize.
			if resized {
				continue
			}
			resized = true
			if rerr := a.resizePod(ctx, pod, ps, acts); rerr != nil {
				// Shown in the PodResizeInProgress condition; the rest of
				// the sync goes on.
				a.log.Warn("resize pod", "pod", podRef(pod), "err", rerr)
				ps.resizeErr = rerr
			}
		case CreateSandbox:
			err = a.createSandbox(ctx, pod, act.Attempt)
		case StartContainer:
			err = a.startContainer(ctx, pod, ps, act)
			var ce *configError
			var pe *imagePullError
			var cre *createError
			if errors.As(err, &cre) {
				// Upstream's CreateContainerError: tried again, and the
				// pod's other containers still start.
				a.setWaiting(pod.UID, act.Container, &corev1.ContainerStateWaiting{Reason: ReasonCreateContainerError, Message: cre.Error()})
				a.containerEvent(pod, act.Container, corev1.EventTypeWarning, EventFailed, "Error: "+cre.Error())
				ps.configErrs++
				err = nil
			} else if errors.As(err, &ce) {
				// Other containers still start, as upstream.
				a.setWaiting(pod.UID, act.Container, &corev1.ContainerStateWaiting{Reason: ReasonCreateContainerConfigError, Message: ce.Error()})
				a.containerEvent(pod, act.Container, corev1.EventTypeWarning, EventFailed, "Error: "+ce.Error())
				ps.configErrs++
				err = nil
			} else if errors.As(err, &pe) {
				w := a.pullWaiting(pod.UID, act.Container, pe)
				a.setWaiting(pod.UID, act.Container, w)
				a.containerEvent(pod, act.Container, corev1.EventTypeWarning, EventFailed, "Error: "+w.Reason)
				if pe.retryIn > 0 {
					a.pool.addAfter(item{a: a, kind: itemPod, key: string(pod.UID)}, pe.retryIn)
				}
				ps.configErrs++
				err = nil
			} else if err == nil {
				a.setWaiting(pod.UID, act.Container, nil)
			} else {
				a.containerEvent(pod, act.Container, corev1.EventTypeWarning, EventFailed, "Error: "+err.Error())
			}
		case KillContainer:
			a.killingEvent(pod, act)
			err = a.killContainer(ctx, pod, act)
		case StopSandbox:
			err = rt.StopPodSandbox(ctx, act.SandboxID)
		case RemoveContainer:
			err = rt.RemoveContainer(ctx, act.ContainerID)
		case RemoveSandbox:
			if pod != nil && pod.DeletionTimestamp != nil {
				// The pod's last status, terminal, while its exited
				// containers can still be seen: once they are removed it
				// would read as if they had never started.
				a.writeFinalStatus(ctx, pod)
			}
			err = rt.RemovePodSandbox(ctx, act.SandboxID)
		case DeletePod:
			err = a.deletePod(ctx, pod)
		}
		if err != nil {
			return fmt.Errorf("%s %s%s: %w", act.Kind, act.Container, act.SandboxID, err)
		}
	}
	return nil
}

// deletePod writes the pod's final status, then deletes it from the API
// with grace period 0: the agent's last word on a pod being deleted.
func (a *Agent) deletePod(ctx context.Context, pod *corev1.Pod) error {
	if a.isStatic(pod.UID) {
		return a.deleteStaticPod(ctx, pod)
	}
	e := a.writeFinalStatus(ctx, pod)
	// CSI volumes are unpublished while the pod object still exists: its
	// deletion is what lets the attach/detach controller detach them.
	if err := a.teardownCSI(ctx, pod.UID); err != nil {
		return err
	}
	err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	a.mu.Lock()
	if e != nil {
		e.deleted = true
		e.probes = nil
	}
	a.mu.Unlock()
	// Nothing of the pod runs any more (its sandboxes were removed before
	// this action): remove what the agent made for it now, since the
	// watch's delete may already have come and gone.
	a.cleanupPod(ctx, pod.UID)
	return nil
}

// writeFinalStatus writes a pod's status before the pod goes, unless a
// terminal one (Succeeded or Failed, which the pod's controllers wait for)
// was written already; it returns the pod's entry.
func (a *Agent) writeFinalStatus(ctx context.Context, pod *corev1.Pod) *podEntry {
	a.mu.Lock()
	e := a.pods[pod.UID]
	done := e != nil && e.written != nil && (e.written.Phase == corev1.PodSucceeded || e.written.Phase == corev1.PodFailed)
	a.mu.Unlock()
	if e == nil || done {
		return e
	}
	if obs, err := a.observe(ctx, pod.UID); err == nil {
		if err := a.writeStatus(ctx, e, pod, obs); err != nil && !apierrors.IsNotFound(err) {
			a.log.Warn("write final pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	}
	return e
}

// cleanupPod removes a pod's volumes and cgroup once nothing of it runs.
func (a *Agent) cleanupPod(ctx context.Context, uid types.UID) {
	if err := a.cleanupVolumes(ctx, uid); err != nil {
		a.log.Warn("clean up pod", "uid", uid, "err", err)
	}
	if err := a.removePodCgroup(uid); err != nil {
		a.log.Warn("remove pod cgroup", "uid", uid, "err", err)
	}
	if err := a.alloc.remove(uid); err != nil {
		a.log.Warn("checkpoint pod allocation", "uid", uid, "err", err)
	}
	// The pod's resources are free: deferred resizes may fit now.
	a.retryDeferred(uid)
}

// createSandbox creates the pod's cgroup, then runs its sandbox in it.
func (a *Agent) createSandbox(ctx context.Context, pod *corev1.Pod, attempt uint32) error {
	cfg := a.sandboxConfig(pod, attempt)
	hostname, err := sandboxHostname(pod, a.cfg.ClusterDomain)
	if err != nil {
		a.podEvent(pod, corev1.EventTypeWarning, EventFailedCreateSandbox, "Failed to create pod sandbox: "+err.Error())
		return err
	}
	cfg.Hostname = hostname
	if attempt > 0 {
		a.podEvent(pod, corev1.EventTypeNormal, EventSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
	}
	if a.cgroups != nil {
		pc := podCgroup(a.cfg.CgroupRoot, pod)
		if err := a.cgroups.ensure(pc); err != nil {
			a.podEvent(pod, corev1.EventTypeWarning, EventFailedCreateSandbox, "Failed to create pod sandbox: "+err.Error())
			return err
		}
		cfg.CgroupParent = pc.Path
	}
	if _, err := a.cfg.Runtime.RunPodSandbox(ctx, cfg); err != nil {
		a.podEvent(pod, corev1.EventTypeWarning, EventFailedCreateSandbox, "Failed to create pod sandbox: "+err.Error())
		return err
	}
	return nil
}

// removePodCgroup removes the cgroup of a pod that is gone.
func (a *Agent) removePodCgroup(uid types.UID) error {
	if a.cgroups == nil {
		return nil
	}
	return a.cgroups.remove(podCgroupPaths(a.cfg.CgroupRoot, uid)...)
}

// removeEmptyCgroups removes the agent's QoS cgroups and root when no pod
// cgroup is left in them, so that a stopped agent leaves nothing behind.
func (a *Agent) removeEmptyCgroups() {
	if a.cgroups == nil {
		return
	}
	root := a.cfg.CgroupRoot
	a.cgroups.removeIfEmpty(path.Join(root, cgroupBurstable), path.Join(root, cgroupBestEffort), root)
}

// killingEvent records why a container is being stopped.
func (a *Agent) killingEvent(pod *corev1.Pod, act Action) {
	msg := fmt.Sprintf("Stopping container %s", act.Container)
	if act.Reason == "Unhealthy" {
		msg = fmt.Sprintf("Container %s failed liveness probe, will be restarted", act.Container)
	}
	a.containerEvent(pod, act.Container, corev1.EventTypeNormal, EventKilling, msg)
}

func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32) SandboxConfig {
	cfg := SandboxConfig{
		PodUID: pod.UID, Name: pod.Name, Namespace: pod.Namespace, Attempt: attempt,
		HostNetwork:   pod.Spec.HostNetwork,
		Security:      sandboxSecurity(pod),
		Labels:        pod.Labels,
		Annotations:   pod.Annotations,
		RestartPolicy: pod.Spec.RestartPolicy,
	}
	cfg.DNS = podDNS(pod, a.cfg.ClusterDNS, a.cfg.ClusterDomain)
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				cfg.Ports = append(cfg.Ports, PortMapping{Protocol: p.Protocol, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP})
			}
		}
	}
	return cfg
}

// startContainer pulls the image per imagePullPolicy, then creates and
// starts the container and runs its postStart hook.
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, ps *podSetup, act Action) error {
	c := specContainer(pod.Spec.Containers, act.Container)
	if c == nil {
		c = specContainer(pod.Spec.InitContainers, act.Container)
	}
	if c == nil {
		c = ephemeralContainer(pod, act.Container)
	}
	if c == nil {
		return fmt.Errorf("no container %q in the pod spec", act.Container)
	}
	env, err := resolveEnv(pod, c, envInput{Objects: ps.objects, PodIPs: ps.podIPs, HostIPs: a.cfg.NodeIPs, Allocatable: a.cfg.Capacity})
	if err != nil {
		return err
	}
	ref, err := a.ensureImage(ctx, pod, imageRequest{
		image: c.Image, policy: c.ImagePullPolicy,
		auth:  pullAuths(pod, ps.objects.Secrets, c.Image),
		event: func(typ, reason, msg string) { a.containerEvent(pod, c.Name, typ, reason, msg) },
	})
	if err != nil {
		return err
	}
	img, err := a.imageUser(ctx, ref, c.Image)
	if err != nil {
		return err
	}
	if _, ok := a.cfg.Runtime.(ImageUserReporter); ok {
		if err := verifyRunAsNonRoot(pod, c, img); err != nil {
			return err
		}
	}
	sec, err := containerSecurity(pod, c, img, filepath.Join(a.cfg.RootDir, "seccomp"))
	if err != nil {
		return err
	}
	var memCapacity int64
	if m, ok := a.cfg.Capacity[corev1.ResourceMemory]; ok {
		memCapacity = m.Value()
	}
	if err := a.ensureImageVolumes(ctx, pod, c, ps); err != nil {
		return err
	}
	mounts, err := containerMounts(pod, c, ps.volumes, env)
	if err != nil {
		return err
	}
	if a.cfg.RootDir != "" {
		if err := imageSubPaths(pod, c, ps.volumes, mounts); err != nil {
			return err
		}
		if err := ensureSubPaths(mounts); err != nil {
			return err
		}
	}
	hosts, err := a.hostsMount(pod, c, ps.podIPs)
	if err != nil {
		return err
	}
	term, err := a.terminationMount(pod, c, act.Attempt)
	if err != nil {
		return err
	}
	hosts = append(hosts, term...)
	rt := a.cfg.Runtime
	id, err := rt.CreateContainer(ctx, act.SandboxID, ContainerConfig{
		Name: c.Name, Kind: act.ContainerKind, Attempt: act.Attempt,
		Image: c.Image, ImageRef: ref,
		Command: expandCommand(c.Command, env), Args: expandCommand(c.Args, env), Env: env, WorkingDir: c.WorkingDir,
		Mounts:    append(mounts, hosts...),
		Labels:    map[string]string{"io.kubernetes.pod.uid": string(pod.UID), "io.kubernetes.container.name": c.Name},
		Security:  sec,
		Resources: containerResources(pod, c, memCapacity),
	})
	if err != nil {
		return err
	}
	a.containerEvent(pod, c.Name, corev1.EventTypeNormal, EventCreated, "Created container: "+c.Name)
	if err := rt.StartContainer(ctx, id); err != nil {
		return err
	}
	a.containerEvent(pod, c.Name, corev1.EventTypeNormal, EventStarted, "Started container "+c.Name)
	if act.ContainerKind != Ephemeral {
		if err := a.alloc.setActuated(pod.UID, c.Name, c.Resources); err != nil {
			a.log.Warn("checkpoint pod allocation", "pod", podRef(pod), "err", err)
		}
	}
	if h := hookHandler(c, false); h != nil {
		hookPod := pod
		if pod.Status.PodIP == "" && len(ps.podIPs) > 0 {
			// The pod's status does not have its new IP yet.
			hookPod = pod.DeepCopy()
			hookPod.Status.PodIP = ps.podIPs[0]
		}
		hctx, cancel := context.WithTimeout(ctx, postStartTimeout)
		err := a.runHook(hctx, hookPod, c, h, id)
		cancel()
		if err != nil {
			// The hook's output stays out of the event, as upstream, so
			// that secrets do not leak into the API.
			a.log.Info("postStart hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
			a.containerEvent(pod, c.Name, corev1.EventTypeWarning, EventFailedPostStartHook, messagePostStartHookFailed)
			a.containerEvent(pod, c.Name, corev1.EventTypeNormal, EventKilling, reasonFailedPostStartHook)
			kill := Action{Kind: KillContainer, ContainerID: id, Container: c.Name, Grace: gracePeriod(pod)}
			if err := a.killContainer(ctx, pod, kill); err != nil {
				return fmt.Errorf("kill container %s after its postStart hook failed: %w", c.Name, err)
			}
		}
	}
	return nil
}

// Back-off between failed pulls of an image for a pod, as upstream: 10 s
// doubling to 5 min.
const (
	imageBackOffInitial = 10 * time.Second
	imageBackOffMax     = 5 * time.Minute
)

// postStartTimeout bounds a postStart hook, which holds a pod worker
// while it runs. Upstream has no bound; a hung hook here ends after it.
const postStartTimeout = 2 * time.Minute

// imageRequest is an image a pod needs: a container's, or an image
// volume's.
type imageRequest struct {
	image  string
	policy corev1.PullPolicy
	// auth are the pod's registry credentials for the image.
	auth []ImageAuth
	// event records an event about what needs the image: the container,
	// or the pod for an image volume, as upstream.
	event func(eventType, reason, msg string)
}

// ensureImage makes an image present per its pull policy, spacing failed
// pulls with a back-off, and returns its reference; it records the
// Pulling, Pulled and pull failure events.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, req imageRequest) (string, error) {
	rt := a.cfg.Runtime
	ref, err := rt.ImageStatus(ctx, req.image)
	if err != nil {
		return "", fmt.Errorf("image status: %w", err)
	}
	if ref != "" && req.policy != corev1.PullAlways {
		req.event(corev1.EventTypeNormal, EventPulled, fmt.Sprintf("Container image %q already present on machine", req.image))
		return ref, nil
	}
	if req.policy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", req.image)
		req.event(corev1.EventTypeWarning, EventErrImageNeverPull, msg)
		return "", &imagePullError{never: true, msg: msg}
	}
	key := string(pod.UID) + "_" + req.image
	now := a.cfg.Clock.Now()
	if a.imageBackOff.IsInBackOffSinceUpdate(key, now) {
		req.event(corev1.EventTypeNormal, EventBackOff, fmt.Sprintf("Back-off pulling image %q", req.image))
		return "", &imagePullError{image: req.image, backoff: true, retryIn: a.imageBackOff.Get(key)}
	}
	req.event(corev1.EventTypeNormal, EventPulling, fmt.Sprintf("Pulling image %q", req.image))
	if ref, err = rt.PullImage(ctx, req.image, req.auth); err != nil {
		req.event(corev1.EventTypeWarning, EventFailed, fmt.Sprintf("Failed to pull image %q: %v", req.image, err))
		a.imageBackOff.Next(key, now)
		return "", &imagePullError{image: req.image, msg: err.Error(), retryIn: a.imageBackOff.Get(key)}
	}
	took := a.cfg.Clock.Since(now)
	req.event(corev1.EventTypeNormal, EventPulled, fmt.Sprintf("Successfully pulled image %q in %v (%v including waiting)", req.image, took, took))
	a.imageBackOff.GC()
	return ref, nil
}

// imageUser asks the runtime who the image runs as; an image that names
// no user runs as root, as upstream assumes.
func (a *Agent) imageUser(ctx context.Context, ref, image string) (imageUser, error) {
	r, ok := a.cfg.Runtime.(ImageUserReporter)
	if !ok {
		return imageUser{}, nil
	}
	if ref == "" {
		ref = image
	}
	uid, name, err := r.ImageUser(ctx, ref)
	if err != nil {
		return imageUser{}, fmt.Errorf("image user: %w", err)
	}
	if uid == nil && name == "" {
		uid = new(int64)
	}
	return imageUser{UID: uid, Username: name}, nil
}

// writeStatus computes the pod's status and writes it when it changed.
func (a *Agent) writeStatus(ctx context.Context, e *podEntry, pod *corev1.Pod, obs Observed) error {
	if a.isStatic(pod.UID) {
		return a.writeMirrorStatus(ctx, e, pod, obs)
	}
	a.mu.Lock()
	rtName := a.runtimeName
	written := e.written
	a.mu.Unlock()
	obs, again := a.withTerminationMessages(pod, obs)
	if again {
		a.pool.addAfter(item{a: a, kind: itemPod, key: string(pod.UID)}, time.Second)
	}
	in := statusInput{RuntimeName: rtName, HostIPs: a.cfg.NodeIPs, Now: a.cfg.Clock.Now()}
	a.mu.Lock()
	in.ResizeConditions = e.resize.list()
	a.mu.Unlock()
	st := computeStatus(pod, obs, in)
	if statusEqual(&st, &pod.Status) || written != nil && statusEqual(&st, written) {
		return nil
	}
	pods := a.cfg.Client.CoreV1().Pods(pod.Namespace)
	up := pod.DeepCopy()
	up.Status = st
	_, err := pods.UpdateStatus(ctx, up, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// The cache is behind: write over the current version.
		cur, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if cur.UID != pod.UID {
			return nil
		}
		st = computeStatus(a.allocatedPod(cur), obs, in)
		cur.Status = st
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	e.written = &st
	a.mu.Unlock()
	return nil
}

// deletedByUs reports whether the agent already deleted the pod from the API.
func (a *Agent) deletedByUs(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.pods[uid]
	return e == nil || e.deleted
}

// preparePod gets the API objects the pod refers to and sets up its
// volumes (refreshing their content).
func (a *Agent) preparePod(ctx context.Context, pod *corev1.Pod) (podSetup, error) {
	var ps podSetup
	var err error
	if ps.objects, err = a.podObjectsFor(ctx, pod); err != nil {
		return ps, err
	}
	if a.cfg.RootDir == "" {
		return ps, nil
	}
	in := envInput{Objects: ps.objects, PodIPs: podIPsOf(pod, Observed{}, a.cfg.NodeIPs), HostIPs: a.cfg.NodeIPs, Allocatable: a.cfg.Capacity}
	ps.volumes, err = a.setupVolumes(ctx, pod, in)
	return ps, err
}

// podIPsOf is the pod's IPs: the node's with hostNetwork, else its latest
// sandbox's, else the ones in its status.
func podIPsOf(pod *corev1.Pod, obs Observed, nodeIPs []string) []string {
	if pod.Spec.HostNetwork {
		return nodeIPs
	}
	if sb := latestSandbox(obs.Sandboxes); sb != nil && len(sb.IPs) > 0 {
		return sb.IPs
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	return ips
}

// setWaiting records (or, with nil, clears) why a container could not be
// created.
func (a *Agent) setWaiting(uid types.UID, name string, w *corev1.ContainerStateWaiting) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.pods[uid]
	if e == nil {
		return
	}
	if w == nil {
		delete(e.waiting, name)
		return
	}
	if e.waiting == nil {
		e.waiting = map[string]corev1.ContainerStateWaiting{}
	}
	e.waiting[name] = *w
}

// Waiting reasons for images, as upstream's kubelet reports them.
const (
	ReasonErrImagePull      = "ErrImagePull"
	ReasonImagePullBackOff  = "ImagePullBackOff"
	ReasonErrImageNeverPull = "ErrImageNeverPull"
)

// imagePullError is an image that could not be pulled (or may not be,
// or not yet: backoff).
type imagePullError struct {
	image   string
	never   bool
	backoff bool
	msg     string
	// retryIn is when a pull may be tried again.
	retryIn time.Duration
}

func (e *imagePullError) Error() string {
	if e.backoff {
		return fmt.Sprintf("back-off pulling image %q", e.image)
	}
	return e.msg
}

// pullWaiting is the waiting state after a failed pull: ErrImagePull the
// first time, ImagePullBackOff while it keeps failing.
func (a *Agent) pullWaiting(uid types.UID, container string, pe *imagePullError) *corev1.ContainerStateWaiting {
	if pe.never {
		return &corev1.ContainerStateWaiting{Reason: ReasonErrImageNeverPull, Message: pe.msg}
	}
	a.mu.Lock()
	var prev corev1.ContainerStateWaiting
	if e := a.pods[uid]; e != nil {
		prev = e.waiting[container]
	}
	a.mu.Unlock()
	if !pe.backoff {
		return &corev1.ContainerStateWaiting{Reason: ReasonErrImagePull, Message: pe.msg}
	}
	switch prev.Reason {
	case ReasonImagePullBackOff:
		return &prev
	case ReasonErrImagePull:
		return &corev1.ContainerStateWaiting{Reason: ReasonImagePullBackOff, Message: fmt.Sprintf("Back-off pulling image %q: %s: %s", pe.image, ReasonErrImagePull, prev.Message)}
	}
	return &corev1.ContainerStateWaiting{Reason: ReasonImagePullBackOff, Message: fmt.Sprintf("Back-off pulling image %q", pe.image)}
}
