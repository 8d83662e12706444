package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/apf"
	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/watchcache"
)

// Defaults of the request limits, as upstream's kube-apiserver.
const (
	// DefaultServerConcurrency is --max-requests-inflight (400) plus
	// --max-mutating-requests-inflight (200).
	DefaultServerConcurrency = 600
	// DefaultRequestTimeout is --request-timeout.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultIdleTimeout closes keep-alive connections idle this long
	// (upstream's secure serving).
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxWatchesPerUser bounds one user's concurrent watches. A
	// controller manager's shared informers hold one watch per resource
	// (well under 100), a kubelet a few dozen; a thousand leaves room for
	// many clients behind one identity while bounding what a runaway
	// client pins (each watch costs a goroutine and its buffers).
	DefaultMaxWatchesPerUser = 1000
)

// Canonical forms of upstream's flow-control response headers, to set
// them without canonicalizing per request.
var (
	headerFlowSchemaUID    = http.CanonicalHeaderKey(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID)
	headerPriorityLevelUID = http.CanonicalHeaderKey(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID)
)

// throttled is upstream's answer to a request refused by flow
// control or a limit.
func throttled(w http.ResponseWriter) error {
	w.Header().Set("Retry-After", "1")
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests,
		Message: "Too many requests, please try again later.",
		Details: &metav1.StatusDetails{RetryAfterSeconds: 1},
	}}
}

// requestTimedOut is upstream's answer to a request that ran past its
// deadline.
func requestTimedOut() error {
	return apierrors.NewTimeoutError("request did not complete within requested timeout - "+context.DeadlineExceeded.Error(), 0)
}

// longRunning reports requests that are not bounded by the request
// timeout and hold no flow-control seat past their start, as upstream's
// long-running check: watches, and the attach, exec, log, portforward and
// proxy subresources.
func longRunning(info *requestInfo) bool {
	switch info.subresource {
	case "attach", "exec", "log", "portforward", "proxy":
		return true
	}
	return info.verb == "watch"
}

// requestTimeout is the server's timeout, or the request's timeout
// parameter when that is shorter.
func (s *Server) requestTimeout(r *http.Request) time.Duration {
	d := s.cfg.RequestTimeout
	if strings.Contains(r.URL.RawQuery, "timeout=") {
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			if t, err := time.ParseDuration(q.Get("timeout")); err == nil && t > 0 && t < d {
				d = t
			}
		}
	}
	return d
}

// deadlineContext is a request's context with its timeout, and its user
// (so that the request is copied once for both). It starts a timer only
// when someone waits on it (Done or Err): a request served from memory
// never does, and a timer per request would cost more than flow control
// itself.
type deadlineContext struct {
	context.Context
	deadline time.Time
	user     *auth.User
	once     sync.Once
	// inner, once started, is the timed context; nil after stop.
	inner  context.Context
	cancel context.CancelFunc
}

func (c *deadlineContext) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *deadlineContext) Value(key any) any {
	if _, ok := key.(userKey); ok {
		return c.user
	}
	return c.Context.Value(key)
}

func (c *deadlineContext) start() {
	c.once.Do(func() { c.inner, c.cancel = context.WithDeadline(c.Context, c.deadline) })
}

func (c *deadlineContext) Done() <-chan struct{} {
	c.start()
	if c.inner == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return c.inner.Done()
}

func (c *deadlineContext) Err() error {
	c.start()
	if c.inner == nil {
		return context.Canceled
	}
	return c.inner.Err()
}

// stop ends the context when its request is done.
func (c *deadlineContext) stop() {
	c.once.Do(func() {})
	if c.cancel != nil {
		c.cancel()
	}
}

// seatKey holds a watch's seatHold in its context.
type seatKey struct{}

// seatHold lets a watch give its seat back once it has started.
type seatHold struct {
	ticket apf.Ticket
	done   atomic.Bool
}

func (h *seatHold) release() {
	if h.done.CompareAndSwap(false, true) {
		h.ticket.Release()
	}
}

// releaseSeat gives back the flow-control seat of the request of ctx, if
// it holds one it may release early (a watch).
func releaseSeat(ctx context.Context) {
	if h, ok := ctx.Value(seatKey{}).(*seatHold); ok {
		h.release()
	}
}

// seatGrant is what a request admitted by flow control holds until it is
// served; its zero value holds nothing.
type seatGrant struct {
	ticket apf.Ticket
	// hold is a watch's seat, released when it starts or at the end.
	hold *seatHold
	// watcher is the user whose watch count the request takes.
	watcher  string
	deadline *deadlineContext
	// inflight is the in-flight limit's slot the request holds.
	inflight chan struct{}
}

// inflightLimit is upstream's max-in-flight filter: slots for reads and
// for writes, a request that finds none free refused at once.
type inflightLimit struct {
	reads, writes chan struct{}
}

// limitInflight admits the request of user into the in-flight limit, as
// flowControl does with priority and fairness off.
func (s *Server) limitInflight(w http.ResponseWriter, r *http.Request, user *auth.User, info *requestInfo, a seatGrant) (*http.Request, seatGrant, bool) {
	if slices.Contains(user.Groups, "system:masters") {
		return r, a, true
	}
	if info.verb == "watch" {
		if !s.watches.add(user.Name, s.cfg.MaxWatchesPerUser) {
			s.finish(a)
			s.writeError(w, r, throttled(w))
			return r, seatGrant{}, false
		}
		a.watcher = user.Name
		return r, a, true
	}
	slots := s.inflight.writes
	switch info.verb {
	case "get", "list":
		slots = s.inflight.reads
	case "":
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			slots = s.inflight.reads
		}
	}
	select {
	case slots <- struct{}{}:
		a.inflight = slots
		return r, a, true
	default:
		s.finish(a)
		s.writeError(w, r, throttled(w))
		return r, seatGrant{}, false
	}
}

// finish releases what the request held.
func (s *Server) finish(a seatGrant) {
	if a.hold != nil {
		a.hold.release()
	} else {
		a.ticket.Release()
	}
	if a.watcher != "" {
		s.watches.done(a.watcher)
	}
	if a.inflight != nil {
		<-a.inflight
	}
	if a.deadline != nil {
		a.deadline.stop()
	}
}

// flowControl admits the request of user and info: it sets the request's
// deadline, classifies it, sets the response headers and waits for a
// seat. It returns the request to serve, what to finish once it is
// served, and false when it answered the request itself (429, 504).
func (s *Server) flowControl(w http.ResponseWriter, r *http.Request, user *auth.User, info *requestInfo) (*http.Request, seatGrant, bool) {
	var a seatGrant
	if !longRunning(info) {
		ctx := &deadlineContext{Context: r.Context(), deadline: time.Now().Add(s.requestTimeout(r)), user: user}
		r, a.deadline = r.WithContext(ctx), ctx
	} else if info.verb != "watch" {
		// Like upstream, other long-running requests are not queued.
		return r, a, true
	}
	if s.inflight != nil {
		return s.limitInflight(w, r, user, info, a)
	}
	req := apf.Request{User: user.Name, Groups: user.Groups, IsResource: info.isResource && info.resource != "",
		Verb: info.verb, APIGroup: info.group, Resource: info.resource, Namespace: info.namespace, Path: r.URL.Path}
	if req.IsResource {
		if info.subresource != "" {
			req.Resource = info.resource + "/" + info.subresource
		}
	} else {
		req.Verb = strings.ToLower(r.Method)
	}
	cl := s.apf.Classify(&req)
	h := w.Header()
	if cl.FlowSchemaUID != nil {
		h[headerFlowSchemaUID] = cl.FlowSchemaUID
		h[headerPriorityLevelUID] = cl.PriorityLevelUID
	}
	if cl.Exempt() {
		return r, a, true
	}
	if info.verb == "watch" {
		if !s.watches.add(user.Name, s.cfg.MaxWatchesPerUser) {
			s.writeError(w, r, throttled(w))
			return r, a, false
		}
		a.watcher = user.Name
	}
	ticket, err := s.apf.Admit(r.Context(), &cl, s.seats(r, info))
	if err != nil {
		s.finish(a)
		switch {
		case errors.Is(err, apf.ErrRejected), errors.Is(err, apf.ErrTimedOut):
			s.writeError(w, r, throttled(w))
		case errors.Is(err, context.DeadlineExceeded):
			s.writeError(w, r, requestTimedOut())
		}
		// Otherwise the client went away: nobody to answer.
		return r, seatGrant{}, false
	}
	a.ticket = ticket
	if a.watcher != "" {
		a.hold = &seatHold{ticket: ticket}
		r = r.WithContext(context.WithValue(r.Context(), seatKey{}, a.hold))
	}
	return r, a, true
}

// seats estimates a request's work: a list served from the watch cache
// takes a seat per hundred objects it reads, anything else one.
func (s *Server) seats(r *http.Request, info *requestInfo) int {
	if info.verb != "list" || !info.isResource {
		return 1
	}
	res, ok := s.lookup(info.group, info.version, info.resource)
	if !ok {
		return 1
	}
	n := s.cache.Count(res.bucket, res.keyPrefix(info.namespace))
	if strings.Contains(r.URL.RawQuery, "limit=") && info.labels == nil && info.fields == nil {
		if limit, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && limit > 0 {
			n = min(n, limit)
		}
	}
	return apf.ListSeats(n)
}

// watchCounts counts each user's open watches.
type watchCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// add counts a watch of user unless user already has max (max <= 0: no
// limit).
func (c *watchCounts) add(user string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max > 0 && c.n[user] >= max {
		return false
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[user]++
	return true
}

func (c *watchCounts) done(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[user]--; c.n[user] <= 0 {
		delete(c.n, user)
	}
}

// runFlowControl keeps the flow controller configured with the stored
// FlowSchemas and PriorityLevelConfigurations, re-reading both from the
// cache whenever either changes.
func (s *Server) runFlowControl(ctx context.Context) {
	fsRes, ok1 := s.lookup(flowcontrolv1.GroupName, "v1", "flowschemas")
	plRes, ok2 := s.lookup(flowcontrolv1.GroupName, "v1", "prioritylevelconfigurations")
	if !ok1 || !ok2 {
		return
	}
	select {
	case <-s.cache.Ready():
	case <-ctx.Done():
		return
	}
	for ctx.Err() == nil {
		fw, err := s.cache.Watch(fsRes.bucket, fsRes.bucket, 0)
		if err != nil {
			s.log.Error("flow control watch failed", "err", err)
			return
		}
		pw, err := s.cache.Watch(plRes.bucket, plRes.bucket, 0)
		if err != nil {
			fw.Stop()
			s.log.Error("flow control watch failed", "err", err)
			return
		}
		s.configureFlowControl(fsRes, plRes)
		s.markDangling(ctx, fsRes, plRes)
		s.followFlowControl(ctx, fsRes, plRes, fw, pw)
		fw.Stop()
		pw.Stop()
	}
}

// followFlowControl reconfigures on every change until a watch ends or
// ctx is done.
func (s *Server) followFlowControl(ctx context.Context, fsRes, plRes *resource, fw, pw *watchcache.Watcher) {
	var batch []watchcache.Event
	for {
		var open bool
		select {
		case <-ctx.Done():
			return
		case <-fw.Notify():
			batch, open = fw.Take(batch)
		case <-pw.Notify():
			batch, open = pw.Take(batch)
		}
		if !open {
			return
		}
		if len(batch) > 0 {
			s.configureFlowControl(fsRes, plRes)
			s.markDangling(ctx, fsRes, plRes)
		}
	}
}

func (s *Server) configureFlowControl(fsRes, plRes *resource) {
	fsEntries, _, err1 := s.cache.List(fsRes.bucket, fsRes.bucket)
	plEntries, _, err2 := s.cache.List(plRes.bucket, plRes.bucket)
	if err := errors.Join(err1, err2); err != nil {
		s.log.Error("flow control configuration unreadable", "err", err)
		return
	}
	var schemas []*flowcontrolv1.FlowSchema
	for _, e := range fsEntries {
		if fs, ok := e.Object.(*flowcontrolv1.FlowSchema); ok {
			schemas = append(schemas, fs)
		}
	}
	var levels []*flowcontrolv1.PriorityLevelConfiguration
	for _, e := range plEntries {
		if pl, ok := e.Object.(*flowcontrolv1.PriorityLevelConfiguration); ok {
			levels = append(levels, pl)
		}
	}
	s.apf.Update(schemas, levels)
}

// danglingCondition is the Dangling condition upstream's flow-control
// controller keeps on a FlowSchema: True when no PriorityLevelConfiguration
// of the name it references exists.
func danglingCondition(fs *flowcontrolv1.FlowSchema, levels map[string]bool) flowcontrolv1.FlowSchemaCondition {
	name := fs.Spec.PriorityLevelConfiguration.Name
	if levels[name] {
		return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse, Reason: "Found",
			Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q and it exists", name)}
	}
	return flowcontrolv1.FlowSchemaCondition{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionTrue, Reason: "NotFound",
		Message: fmt.Sprintf("This FlowSchema references the PriorityLevelConfiguration object named %q but there is no such object", name)}
}

// markDangling writes each FlowSchema's Dangling condition where it is
// missing or out of date (kubectl's MISSINGPL column shows it).
func (s *Server) markDangling(ctx context.Context, fsRes, plRes *resource) {
	fsEntries, _, err1 := s.cache.List(fsRes.bucket, fsRes.bucket)
	plEntries, _, err2 := s.cache.List(plRes.bucket, plRes.bucket)
	if errors.Join(err1, err2) != nil {
		return
	}
	levels := make(map[string]bool, len(plEntries))
	for _, e := range plEntries {
		if pl, ok := e.Object.(*flowcontrolv1.PriorityLevelConfiguration); ok {
			levels[pl.Name] = true
		}
	}
	for _, e := range fsEntries {
		fs, ok := e.Object.(*flowcontrolv1.FlowSchema)
		if !ok || fs.DeletionTimestamp != nil {
			continue
		}
		want := danglingCondition(fs, levels)
		if current := findDangling(fs); current != nil && current.Status == want.Status && current.Reason == want.Reason && current.Message == want.Message {
			continue
		}
		uid := fs.UID
		mutate := func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*flowcontrolv1.FlowSchema)
			if c.UID != uid {
				return nil, apierrors.NewConflict(fsRes.groupResource(), c.Name, fmt.Errorf("the FlowSchema was replaced"))
			}
			want.LastTransitionTime = metav1.Now()
			if prev := findDangling(c); prev != nil {
				if prev.Status == want.Status {
					want.LastTransitionTime = prev.LastTransitionTime
				}
				*prev = want
				return c, nil
			}
			c.Status.Conditions = append(c.Status.Conditions, want)
			return c, nil
		}
		_, err := s.update(ctx, fsRes, requestInfo{name: fs.Name, resource: "flowschemas"}, "", mutate, writeOptions{fieldManager: "api-priority-and-fairness-config-consumer-v1"}, &subresourceOps{name: "status"})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			s.log.Error("flowschema status failed", "flowschema", fs.Name, "err", err)
		}
	}
}

func findDangling(fs *flowcontrolv1.FlowSchema) *flowcontrolv1.FlowSchemaCondition {
	for i := range fs.Status.Conditions {
		if fs.Status.Conditions[i].Type == flowcontrolv1.FlowSchemaConditionDangling {
			return &fs.Status.Conditions[i]
		}
	}
	return nil
}
