package storageversionmigrator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	svmv1 "k8s.io/api/storagemigration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	svmlisters "k8s.io/client-go/listers/storagemigration/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"

	"skiff/internal/controller"
	"skiff/internal/controller/reconcile"
)

// Upstream's names, reasons and messages.
const (
	// FieldManager is the manager of the migrator's no-op patches.
	FieldManager = "storage-version-migrator-controller"

	reasonRunning   = "MigrationRunning"
	reasonSucceeded = "StorageVersionMigrationSucceeded"
	reasonFailed    = "StorageVersionMigrationFailed"
	reasonCompleted = "MigrationCompleted"
)

const (
	// discoveryGrace is how long after its creation a migration waits for
	// its resource to be served before it fails.
	discoveryGrace = time.Minute
	// rediscoverEvery is how often the resource is looked for meanwhile.
	rediscoverEvery = 5 * time.Second
	// pageSize is the page of the migration's lists.
	pageSize = 500
)

// verbsRequired are the verbs a resource must serve to be migrated.
var verbsRequired = []string{"update", "patch", "list"}

// Controller runs StorageVersionMigrations.
type Controller struct {
	client    kubernetes.Interface
	discovery discovery.DiscoveryInterface
	dynamic   dynamic.Interface
	metadata  metadata.Interface
	svms      svmlisters.StorageVersionMigrationLister
	clock     clock.PassiveClock
	loop      *reconcile.Loop
	logger    *slog.Logger
}

var _ controller.Controller = (*Controller)(nil)

// New is the controller.Constructor of the storage version migrator.
func New(cc controller.Context) (controller.Controller, error) {
	inf := cc.Informers.Storagemigration().V1().StorageVersionMigrations()
	c := &Controller{
		client:    cc.Client,
		discovery: cc.Client.Discovery(),
		dynamic:   cc.Dynamic,
		metadata:  cc.Metadata,
		svms:      inf.Lister(),
		clock:     cc.Clock,
		logger:    cc.Logger,
	}
	c.loop = reconcile.NewLoop("storage_version_migrator", cc.Clock, cc.Logger, c.sync)
	if _, err := inf.Informer().AddEventHandler(reconcile.Handler(c.enqueue)); err != nil {
		return nil, fmt.Errorf("storage version migrator: add handler: %w", err)
	}
	c.loop.WaitFor(inf.Informer().HasSynced)
	return c, nil
}

// Run runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// enqueue queues obj and every other migration of its resource: one
// finishing or going away lets the next one start.
func (c *Controller) enqueue(obj any) {
	svm, ok := obj.(*svmv1.StorageVersionMigration)
	if !ok {
		return
	}
	c.loop.Enqueue(svm)
	all, err := c.svms.List(labels.Everything())
	if err != nil {
		return
	}
	for _, o := range all {
		if o.Spec.Resource == svm.Spec.Resource && o.Name != svm.Name {
			c.loop.Enqueue(o)
		}
	}
}

// step is what a migration needs next.
type step int

const (
	stepNone       step = iota // finished, or waiting for another migration of its resource
	stepFinish                 // Succeeded or Failed while Running is still True
	stepStart                  // set Running
	stepCheckpoint             // record status.resourceVersion
	stepMigrate                // rewrite the objects
)

func isTrue(svm *svmv1.StorageVersionMigration, t svmv1.MigrationConditionType) bool {
	return meta.IsStatusConditionTrue(svm.Status.Conditions, string(t))
}

func terminal(svm *svmv1.StorageVersionMigration) bool {
	return isTrue(svm, svmv1.MigrationSucceeded) || isTrue(svm, svmv1.MigrationFailed)
}

// before orders migrations of one resource: the oldest first, by name
// among equals.
func before(a, b *svmv1.StorageVersionMigration) bool {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c < 0
	}
	return a.Name < b.Name
}

// nextStep is the pure decision: what svm needs next, given every
// migration (svm among them). Of the migrations of one resource neither
// running nor finished, the oldest starts once none of them runs.
func nextStep(svm *svmv1.StorageVersionMigration, all []*svmv1.StorageVersionMigration) step {
	running := isTrue(svm, svmv1.MigrationRunning)
	switch {
	case terminal(svm) && running:
		return stepFinish
	case terminal(svm):
		return stepNone
	case running && svm.Status.ResourceVersion == "":
		return stepCheckpoint
	case running:
		return stepMigrate
	}
	for _, o := range all {
		if o.Spec.Resource != svm.Spec.Resource || o.Name == svm.Name || terminal(o) {
			continue
		}
		if isTrue(o, svmv1.MigrationRunning) || before(o, svm) {
			return stepNone
		}
	}
	return stepStart
}

func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	svm, err := c.svms.Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	all, err := c.svms.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	switch nextStep(svm, all) {
	case stepFinish:
		return reconcile.Result{}, c.finish(ctx, svm)
	case stepStart:
		return reconcile.Result{}, c.start(ctx, svm)
	case stepCheckpoint:
		return c.checkpoint(ctx, svm)
	case stepMigrate:
		return c.migrate(ctx, svm)
	}
	return reconcile.Result{}, nil
}

func (c *Controller) condition(t svmv1.MigrationConditionType, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: string(t), Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(c.clock.Now().Truncate(time.Second))}
}

// writeStatus applies change to a fresh read of svm and writes the status
// if change says it changed anything, retrying on conflict. A migration
// replaced by another of the same name is left alone.
func (c *Controller) writeStatus(ctx context.Context, svm *svmv1.StorageVersionMigration, change func(*svmv1.StorageVersionMigration) bool) error {
	api := c.client.StoragemigrationV1().StorageVersionMigrations()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		fresh, err := api.Get(ctx, svm.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if fresh.UID != svm.UID || !change(fresh) {
			return nil
		}
		_, err = api.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// fail marks svm Failed, unless it has finished already.
func (c *Controller) fail(ctx context.Context, svm *svmv1.StorageVersionMigration, message string) error {
	c.logger.Info("storage version migration failed", "migration", svm.Name, "resource", svm.Spec.Resource.String(), "message", message)
	return c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
		if terminal(s) {
			return false
		}
		return meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationFailed, metav1.ConditionTrue, reasonFailed, message))
	})
}

// runningMessage is upstream's Running message.
func runningMessage(pending, total int, transient error) string {
	msg := "The migration is running"
	if total > 0 {
		if pending > 0 {
			msg += fmt.Sprintf(", %d/%d objects not yet migrated", pending, total)
		} else {
			msg += fmt.Sprintf(", %d objects verified migrated", total)
		}
	}
	if transient != nil {
		msg += fmt.Sprintf("; transient error: %s", transient)
	}
	return msg
}

func (c *Controller) start(ctx context.Context, svm *svmv1.StorageVersionMigration) error {
	if err := c.startCRD(ctx, svm); err != nil {
		return err
	}
	return c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
		if terminal(s) {
			return false
		}
		return meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationRunning, metav1.ConditionTrue, reasonRunning, runningMessage(0, 0, nil)))
	})
}

func (c *Controller) finish(ctx context.Context, svm *svmv1.StorageVersionMigration) error {
	if err := c.finishCRD(ctx, svm, isTrue(svm, svmv1.MigrationSucceeded)); err != nil {
		return err
	}
	return c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
		if !terminal(s) || !isTrue(s, svmv1.MigrationRunning) {
			return false
		}
		cond := c.condition(svmv1.MigrationRunning, metav1.ConditionFalse, reasonCompleted, "Migration completed")
		cond.ObservedGeneration = s.Generation
		return meta.SetStatusCondition(&s.Status.Conditions, cond)
	})
}

// target is a served resource, as discovery describes it.
type target struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
	verbs      []string
}

// resolve finds gr in discovery, in its group's preferred version first;
// nil means it is not served.
func (c *Controller) resolve(gr metav1.GroupResource) (*target, error) {
	groups, err := c.discovery.ServerGroups()
	if err != nil {
		return nil, fmt.Errorf("discover groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != gr.Group {
			continue
		}
		versions := []string{g.PreferredVersion.Version}
		for _, v := range g.Versions {
			if v.Version != g.PreferredVersion.Version {
				versions = append(versions, v.Version)
			}
		}
		for _, v := range versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v}
			list, err := c.discovery.ServerResourcesForGroupVersion(gv.String())
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("discover %s: %w", gv, err)
			}
			for _, r := range list.APIResources {
				if r.Name == gr.Resource {
					return &target{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced, verbs: r.Verbs}, nil
				}
			}
		}
	}
	return nil, nil
}

// resolveOrWait resolves svm's resource; while it is not served it asks to
// look again until the grace after creation has passed, then fails svm.
// A nil target with no error means the sync is over.
func (c *Controller) resolveOrWait(ctx context.Context, svm *svmv1.StorageVersionMigration, failure string) (*target, reconcile.Result, error) {
	t, err := c.resolve(svm.Spec.Resource)
	if err != nil || t != nil {
		return t, reconcile.Result{}, err
	}
	if left := svm.CreationTimestamp.Add(discoveryGrace).Sub(c.clock.Now()); left > 0 {
		return nil, reconcile.Result{RequeueAfter: min(left, rediscoverEvery)}, nil
	}
	return nil, reconcile.Result{}, c.fail(ctx, svm, failure)
}

func (c *Controller) checkpoint(ctx context.Context, svm *svmv1.StorageVersionMigration) (reconcile.Result, error) {
	t, res, err := c.resolveOrWait(ctx, svm, "resource does not exist in discovery")
	if t == nil {
		return res, err
	}
	for _, v := range verbsRequired {
		if !slices.Contains(t.verbs, v) {
			return reconcile.Result{}, c.fail(ctx, svm, fmt.Sprintf("resource %q does not support discovery operations: %v", t.gvr.String(), verbsRequired))
		}
	}
	// A list without a resourceVersion is a consistent read: its
	// resourceVersion is the store's current one.
	list, err := c.metadata.Resource(t.gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("latest resourceVersion of %s: %w", t.gvr, err)
	}
	rv := list.ResourceVersion
	if _, err := resourceversion.CompareResourceVersion(rv, rv); err != nil {
		return reconcile.Result{}, c.fail(ctx, svm, fmt.Sprintf("latest resourceVersion for %s is not valid: %v", t.gvr, err))
	}
	return reconcile.Result{}, c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
		if terminal(s) || s.Status.ResourceVersion != "" {
			return false
		}
		s.Status.ResourceVersion = rv
		return true
	})
}

// candidates lists the objects of t stored at or before the checkpoint
// rv, and how many objects there are in all.
func (c *Controller) candidates(ctx context.Context, t *target, rv string) ([]metav1.PartialObjectMetadata, int, error) {
	var out []metav1.PartialObjectMetadata
	total := 0
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.metadata.Resource(t.gvr).List(ctx, opts)
		if err != nil {
			return nil, 0, err
		}
		for _, item := range list.Items {
			total++
			cmp, err := resourceversion.CompareResourceVersion(item.ResourceVersion, rv)
			if err != nil {
				return nil, 0, err
			}
			// Written after the checkpoint: already stored anew.
			if cmp <= 0 {
				out = append(out, item)
			}
		}
		if list.Continue == "" {
			return out, total, nil
		}
		opts.Continue = list.Continue
	}
}

// noopPatch is the migrator's patch: the kind and the resourceVersion as
// a precondition, nothing else.
type noopPatch struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
}

// retriable reports the errors worth trying again, as upstream.
func retriable(err error) bool {
	return utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || utilnet.IsProbableEOF(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsInternalError(err) || apierrors.IsTimeout(err)
}

func (c *Controller) migrate(ctx context.Context, svm *svmv1.StorageVersionMigration) (reconcile.Result, error) {
	t, res, err := c.resolveOrWait(ctx, svm, "migration encountered unhandled error: unable to obtain GVR from discovery")
	if t == nil {
		return res, err
	}
	objs, total, err := c.candidates(ctx, t, svm.Status.ResourceVersion)
	if err != nil {
		if retriable(err) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || ctx.Err() != nil {
			return reconcile.Result{}, fmt.Errorf("list %s: %w", t.gvr, err)
		}
		return reconcile.Result{}, c.fail(ctx, svm, fmt.Sprintf("migration encountered unhandled error: %v", err))
	}
	pending := len(objs)
	for _, o := range objs {
		var p noopPatch
		p.APIVersion, p.Kind = t.gvr.GroupVersion().String(), t.kind
		p.Metadata.ResourceVersion = o.ResourceVersion
		data, err := json.Marshal(p)
		if err != nil {
			return reconcile.Result{}, err
		}
		client := c.dynamic.Resource(t.gvr).Namespace(o.Namespace)
		_, err = client.Patch(ctx, o.Name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: FieldManager})
		switch {
		case err == nil, apierrors.IsConflict(err), apierrors.IsNotFound(err):
			// Rewritten now, or written or removed since the list.
			pending--
		case retriable(err) || ctx.Err() != nil:
			_ = c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
				return !terminal(s) && meta.SetStatusCondition(&s.Status.Conditions,
					c.condition(svmv1.MigrationRunning, metav1.ConditionTrue, reasonRunning, runningMessage(pending, total, err)))
			})
			return reconcile.Result{}, fmt.Errorf("migrate %s %s/%s: %w", t.gvr, o.Namespace, o.Name, err)
		default:
			msg := fmt.Sprintf("%d/%d not yet migrated. migration encountered unhandled error: %s", pending, total, err)
			return reconcile.Result{}, c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
				if terminal(s) {
					return false
				}
				meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationRunning, metav1.ConditionTrue, reasonRunning, runningMessage(pending, total, nil)))
				meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationFailed, metav1.ConditionTrue, reasonFailed, msg))
				return true
			})
		}
	}
	c.logger.Info("storage version migration succeeded", "migration", svm.Name, "resource", t.gvr.String(), "objects", total, "rewritten", len(objs))
	return reconcile.Result{}, c.writeStatus(ctx, svm, func(s *svmv1.StorageVersionMigration) bool {
		if terminal(s) {
			return false
		}
		meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationRunning, metav1.ConditionTrue, reasonRunning, runningMessage(0, total, nil)))
		meta.SetStatusCondition(&s.Status.Conditions, c.condition(svmv1.MigrationSucceeded, metav1.ConditionTrue, reasonSucceeded, "Migration completed"))
		return true
	})
}

// crdName is the name of the CRD that would serve gr; "" for a group no
// CRD can have (the core group and other names without a dot).
func crdName(gr metav1.GroupResource) string {
	if !strings.Contains(gr.Group, ".") {
		return ""
	}
	return gr.Resource + "." + gr.Group
}
