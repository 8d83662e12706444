// Package agent is skiff's node agent (the kubelet): it registers its Node,
// heartbeats through a Lease in kube-node-lease, watches the pods bound to
// its node and runs them through a Runtime, which it defines here and which
// agent/cri (containerd) and agent/sim (simulated nodes) implement.
//
// The main loop is a work queue (Pool) shared by any number of agents in
// one process, so that a process holding thousands of simulated nodes has
// a few goroutines, not one per node or pod. Work items are:
//
//	lease   renew the node Lease; requeued every LeaseRenewInterval
//	node    write the Node status when it changed, or every StatusInterval
//	pod     sync one pod: observe its runtime state, compute the actions
//	        (computeActions, pure), apply them, compute the PodStatus
//	        (computeStatus, pure) and write it when it changed
//	probe   run one probe of one container and requeue it after its period
//	static  read the static pod manifests (every ManifestScanInterval), then
//	        create or delete mirror pods; or sync the mirror pods alone
//	housekeeping  sweep orphaned pods, then collect garbage; at start and
//	        every HousekeepingInterval
//
// A pod's lifecycle, as the pod worker drives it:
//
//	bound -> sandbox -> init containers, in order (sidecars stay running)
//	      -> containers -> restart per restartPolicy, with back-off
//	      -> all done (Never/OnFailure): sandbox stopped, Succeeded/Failed
//	deletionTimestamp set -> containers killed with the grace period ->
//	      final status written -> runtime objects removed -> pod deleted
//	      from the API with grace period 0
//
// Before its actions, a pod sync gets the ConfigMaps and Secrets the pod
// refers to and, when Config.RootDir is set, materialises its volumes under
// <RootDir>/pods/<uid>/volumes/<plugin>/<name> (configMap, secret,
// downwardAPI and projected ones rewritten atomically on every sync, so
// that updates reach running containers within a resync). Container env is
// resolved then (resolveEnv, pure); what cannot be resolved shows as
// CreateContainerConfigError. The pod's directory is removed with the pod.
//
// Image volumes are mounted by the agent, through Config.ImageMounter
// (containerd 1.6's CRI cannot): when a container that mounts one starts,
// its image is made present per the volume's pull policy, with the pod's
// imagePullSecrets (events about the pod, failures as the container's
// ErrImagePull or ImagePullBackOff), then mounted read-only on
// volumes/kubernetes.io~image/<name>; a subPath follows the image's
// symlinks inside the image only. A mount that fails, or a subPath the
// image lacks, is CreateContainerError. The mounts go with the pod's
// directory, and image garbage collection keeps the images of the node's
// pods' image volumes.
//
// CSI volumes (an inline csi source, or a claim bound to a PV with
// spec.csi) are mounted through Config.CSI (agent/csi implements it; the
// node wires it): Mount waits for the VolumeAttachment, stages and
// publishes into volumes/kubernetes.io~csi/<name>/mount; a failure keeps
// the pod ContainerCreating with upstream's MountVolume.SetUp message. The
// agent unpublishes them (TearDown) before it deletes a pod from the API,
// so that the attach/detach controller detaches only unmounted volumes,
// and again, from the disk, for orphaned pod folders.
//
// Before a sandbox, the agent creates the pod's cgroup when
// Config.CgroupRoot is set (CgroupRoot[/burstable|/besteffort]/pod<uid>,
// cgroupfs, limits from podCgroup) and removes it once the pod is gone.
// Containers get their effective security context (containerSecurity,
// verifyRunAsNonRoot) and resources (containerResources) computed purely;
// postStart hooks run after a start (a failure kills the container),
// preStop hooks before a stop, within the grace period. With
// Config.Events the agent records upstream's kubelet events (Pulling,
// Pulled, Created, Started, Killing, BackOff, Unhealthy, ...) through a
// client-go EventBroadcaster, whose correlator aggregates repeats.
//
// In-place resize (resize.go, resizer.go): a pod's containers run with
// the resources the node allocated them, kept in a checkpoint below
// Config.RootDir across restarts. A spec changed through pods/resize is
// admitted against the node's allocatable beside the other pods'
// allocations (decideResize, pure) or left PodResizePending (Deferred,
// retried); once allocated, the pod worker resizes the pod cgroup and
// calls the runtime's UpdateContainerResources, or restarts containers
// whose resizePolicy asks for it (computeActions), with
// PodResizeInProgress until what runs matches the allocation. The status
// reports each container's allocatedResources and resources.
//
// Static pods come from the files of Config.PodManifestPath
// (staticPodFromManifest, planStatic; pure): each is named
// <name>-<node>, gets a UID hashed from the node, the file and the pod, and
// runs as an entry of the agent's pods like any other, its status kept on
// the entry. A mirror pod in the API (annotation kubernetes.io/config.mirror
// = that hash, owned by the Node) shows it: mirror pods from the watch are
// never run; a deleted, stale or orphaned one is deleted and created again
// (planMirrors), and the status is written to it. A removed or changed file
// terminates the pod like a deletion; its replacement starts once it is
// gone.
//
// Housekeeping finds orphans (orphans, pure): pods with a sandbox,
// container or volumes folder on the node that are neither bound to it in
// the API (a quorum LIST, so no cache needs to have synced) nor known to
// the agent, as an agent that was down while they were deleted leaves them;
// each is handed to a pod worker, which tears down what it does not know.
// Then garbage collection, as upstream's kubelet: dead containers beyond
// the newest per container and pod, old empty dead sandboxes
// (containerGarbage), and, for runtimes that are an ImageManager, unused
// images least recently used first when the image filesystem is above
// ImageGCHighPercent, down to ImageGCLowPercent (imageGarbage).
//
// Server is the kubelet API the API server proxies to: container logs,
// exec, attach, port-forward, /pods, and the resource usage that a
// StatsCollector reads from the pod and container cgroups (stats.go): the
// stats Summary on /stats/summary and upstream's resource metrics on
// /metrics/resource (resourcemetrics.go), with cpu rates over readings kept
// every StatsConfig.Interval, and every pod's, sandbox's and container's
// cgroup with cAdvisor's names and labels on /metrics/cadvisor
// (cadvisor.go).
//
// The caller builds the agent with New and runs it with Run. An agent
// either watches its own pods (the default) or is fed by the caller through
// PodUpdated, PodDeleted and NodeUpdated (Config.FeedPods), which is how
// agent/sim shares one watch among all simulated nodes.
package agent
