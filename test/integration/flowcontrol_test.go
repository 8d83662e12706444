package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// responseLog records what a client's responses said: status codes,
// Retry-After and the flow-control headers.
type responseLog struct {
	mu          sync.Mutex
	codes       map[int]int
	retryAfter  []string
	flowSchemas map[string]int
}

func (l *responseLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.codes == nil {
			l.codes, l.flowSchemas = map[int]int{}, map[string]int{}
		}
		l.codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			l.retryAfter = append(l.retryAfter, resp.Header.Get("Retry-After"))
		}
		if uid := resp.Header.Get(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID); uid != "" {
			l.flowSchemas[uid]++
		}
		return resp, nil
	})
}

func (l *responseLog) count(code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codes[code]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// actingAs returns an admin client acting as user (in
// system:authenticated), whose responses log records.
func actingAs(t *testing.T, ts *servertest.Server, user string, log *responseLog) kubernetes.Interface {
	t.Helper()
	return ts.ClientFor(t, func(rc *rest.Config) {
		rc.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
		rc.WrapTransport = log.wrap
	})
}

// TestFlowControlDefaults: the server bootstraps upstream's mandatory and
// suggested configuration and answers with the matched objects' UIDs.
func TestFlowControlDefaults(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	fsList, err := ts.Client.FlowcontrolV1().FlowSchemas().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	uids := map[string]string{}
	for _, fs := range fsList.Items {
		names = append(names, fmt.Sprintf("%s/%s/%d", fs.Name, fs.Spec.PriorityLevelConfiguration.Name, fs.Spec.MatchingPrecedence))
		uids[fs.Name] = string(fs.UID)
		if fs.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("flowschema %s: annotations %v", fs.Name, fs.Annotations)
		}
	}
	sort.Strings(names)
	want := []string{"catch-all/catch-all/10000", "endpoint-controller/workload-high/150", "exempt/exempt/1",
		"global-default/global-default/9900", "kube-controller-manager/workload-high/800", "kube-scheduler/workload-high/800",
		"kube-system-service-accounts/workload-high/900", "probes/exempt/2", "service-accounts/workload-low/9000",
		"system-leader-election/leader-election/100", "system-node-high/node-high/400", "system-nodes/system/500",
		"workload-leader-election/leader-election/200"}
	if !slices.Equal(names, want) {
		t.Errorf("flowschemas:\n got %v\nwant %v", names, want)
	}
	plList, err := ts.Client.FlowcontrolV1().PriorityLevelConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var levels []string
	for _, pl := range plList.Items {
		s := pl.Name + "/" + string(pl.Spec.Type)
		if l := pl.Spec.Limited; l != nil {
			s += fmt.Sprintf("/%d/%d", *l.NominalConcurrencyShares, *l.LendablePercent)
			if q := l.LimitResponse.Queuing; q != nil {
				s += fmt.Sprintf("/%d/%d/%d", q.Queues, q.HandSize, q.QueueLengthLimit)
			}
		}
		levels = append(levels, s)
	}
	sort.Strings(levels)
	wantLevels := []string{"catch-all/Limited/5/0", "exempt/Exempt", "global-default/Limited/20/50/128/6/50",
		"leader-election/Limited/10/0/16/4/50", "node-high/Limited/40/25/64/6/50", "system/Limited/30/33/64/6/50",
		"workload-high/Limited/40/50/128/6/50", "workload-low/Limited/100/90/128/6/50"}
	if !slices.Equal(levels, wantLevels) {
		t.Errorf("priority levels:\n got %v\nwant %v", levels, wantLevels)
	}

	// The admin (system:masters) is exempt: the headers name exempt.
	var log responseLog
	admin := ts.ClientFor(t, func(rc *rest.Config) { rc.WrapTransport = log.wrap })
	servertest.Wait(t, "exempt flowschema header", func(ctx context.Context) (bool, error) {
		if _, err := admin.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, err
		}
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.flowSchemas[uids["exempt"]] > 0, nil
	})

	// A FlowSchema naming a level that does not exist is marked dangling;
	// the defaults are not, and creating the level clears the mark.
	fs := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan"},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "no-such-level"},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "nobody"}}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
			}},
		},
	}
	if _, err := ts.Client.FlowcontrolV1().FlowSchemas().Create(ctx, fs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDangling := func(name string, status flowcontrolv1.ConditionStatus, reason string) {
		t.Helper()
		servertest.Wait(t, name+" dangling "+string(status), func(ctx context.Context) (bool, error) {
			got, err := ts.Client.FlowcontrolV1().FlowSchemas().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
					return c.Status == status && c.Reason == reason && strings.Contains(c.Message, got.Spec.PriorityLevelConfiguration.Name), nil
				}
			}
			return false, nil
		})
	}
	waitDangling("orphan", flowcontrolv1.ConditionTrue, "NotFound")
	waitDangling("exempt", flowcontrolv1.ConditionFalse, "Found")
	pl := &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "no-such-level"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type:    flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject}},
		},
	}
	if _, err := ts.Client.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, pl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDangling("orphan", flowcontrolv1.ConditionFalse, "Found")
}

// TestFlowControlFlood: one user's flood of lists is throttled with 429
// and Retry-After by its own priority level, while a node's lease renewals
// and another user's creates, at other levels, all go through.
func TestFlowControlFlood(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) {
		// 30 seats: the flood level below gets one of them.
		c.MaxRequestsInflight, c.MaxMutatingRequestsInflight = 20, 10
	})
	ctx := context.Background()
	for _, ns := range []string{"flood", "writes"} {
		if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"k": "v"}}
		if _, err := ts.Client.CoreV1().ConfigMaps("flood").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"flooder", "writer"} {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "apf-" + u},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: u}}}
		if _, err := ts.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The flooder's own level: one seat, one queue of two.
	shares, lendable := int32(5), int32(0)
	pl, err := ts.Client.FlowcontrolV1().PriorityLevelConfigurations().Create(ctx, &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "flood"},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{NominalConcurrencyShares: &shares, LendablePercent: &lendable,
				LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
					Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 4, HandSize: 1, QueueLengthLimit: 2}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ts.Client.FlowcontrolV1().FlowSchemas().Create(ctx, &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: "flood"},
		Spec: flowcontrolv1.FlowSchemaSpec{PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: pl.Name},
			MatchingPrecedence: 1000, DistinguisherMethod: &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:      []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: "flooder"}}},
				ResourceRules: []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, Namespaces: []string{"*"}}},
			}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var floodLog, writerLog responseLog
	flooder := actingAs(t, ts, "flooder", &floodLog)
	writer := actingAs(t, ts, "writer", &writerLog)
	// The new schema is live once a list is answered with its UID.
	servertest.Wait(t, "flood flowschema in effect", func(ctx context.Context) (bool, error) {
		if _, err := flooder.CoreV1().ConfigMaps("flood").List(ctx, metav1.ListOptions{}); err != nil {
			return false, nil
		}
		floodLog.mu.Lock()
		defer floodLog.mu.Unlock()
		return floodLog.flowSchemas[string(fs.UID)] > 0, nil
	})
	nodeName := "apf-node"
	node := ts.NodeClient(t, nodeName)
	leaseName := nodeName
	holder := nodeName
	if _, err := node.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leaseName}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	const floodWorkers, floodRounds = 20, 30
	var wg sync.WaitGroup
	var throttled, badThrottle atomic.Int64
	var floodErr atomic.Value
	for range floodWorkers {
		wg.Go(func() {
			for range floodRounds {
				err := flooder.CoreV1().RESTClient().Get().Namespace("flood").Resource("configmaps").MaxRetries(0).Do(ctx).Error()
				var st apierrors.APIStatus
				switch {
				case err == nil:
				case errors.As(err, &st) && st.Status().Code == http.StatusTooManyRequests:
					throttled.Add(1)
					if st.Status().Reason != metav1.StatusReasonTooManyRequests || st.Status().Message != "Too many requests, please try again later." {
						badThrottle.Add(1)
					}
				default:
					floodErr.Store(err)
				}
			}
		})
	}
	var nodeLat, writeLat []time.Duration
	var nodeErr, writeErr error
	wg.Go(func() {
		for i := range 30 {
			start := time.Now()
			// No retries: a 429 would fail the renewal.
			leases := node.CoordinationV1().RESTClient()
			l := &coordinationv1.Lease{}
			err := leases.Get().Namespace("kube-node-lease").Resource("leases").Name(leaseName).MaxRetries(0).Do(ctx).Into(l)
			if err == nil {
				now := metav1.NowMicro()
				l.Spec.RenewTime = &now
				err = leases.Put().Namespace("kube-node-lease").Resource("leases").Name(leaseName).Body(l).MaxRetries(0).Do(ctx).Into(l)
			}
			if err != nil {
				nodeErr = fmt.Errorf("renewal %d: %w", i, err)
				return
			}
			nodeLat = append(nodeLat, time.Since(start))
		}
	})
	wg.Go(func() {
		for i := range 30 {
			start := time.Now()
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w-" + strconv.Itoa(i)}}
			if _, err := writer.CoreV1().ConfigMaps("writes").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				writeErr = fmt.Errorf("create %d: %w", i, err)
				return
			}
			writeLat = append(writeLat, time.Since(start))
		}
	})
	wg.Wait()
	if err := floodErr.Load(); err != nil {
		t.Errorf("flood list failed otherwise than with 429: %v", err)
	}
	if nodeErr != nil || writeErr != nil {
		t.Fatalf("node: %v; writer: %v", nodeErr, writeErr)
	}
	if throttled.Load() == 0 {
		t.Fatalf("no 429 in %d lists of the flooder", floodWorkers*floodRounds)
	}
	if badThrottle.Load() > 0 {
		t.Errorf("%d 429 answers without upstream's reason and message", badThrottle.Load())
	}
	floodLog.mu.Lock()
	for _, ra := range floodLog.retryAfter {
		if ra != "1" {
			t.Errorf("429 with Retry-After %q", ra)
		}
	}
	floodLog.mu.Unlock()
	if n := writerLog.count(http.StatusTooManyRequests); n > 0 {
		t.Errorf("the writer was throttled %d times", n)
	}
	t.Logf("flood: %d of %d lists throttled; lease renewal p99 %v, create p99 %v",
		throttled.Load(), floodWorkers*floodRounds, p99(nodeLat), p99(writeLat))
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)*99)/100]
}

// TestRequestLimits: a request past its timeout is answered 504, a user's
// watches are bounded, and an idle keep-alive connection is closed.
func TestRequestLimits(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) {
		c.IdleTimeout = 300 * time.Millisecond
		c.MaxWatchesPerUser = 2
	})
	ctx := context.Background()

	t.Run("timeout", func(t *testing.T) {
		// A list that waits for a revision the cache never reaches runs
		// into the request's timeout parameter.
		far := strconv.FormatInt(1<<40, 10)
		err := ts.Client.CoreV1().RESTClient().Get().Namespace("default").Resource("configmaps").
			Param("resourceVersion", far).Param("resourceVersionMatch", "NotOlderThan").Param("timeout", "500ms").
			MaxRetries(0).Do(ctx).Error()
		var st apierrors.APIStatus
		if !errors.As(err, &st) {
			t.Fatalf("err = %v, want a Status", err)
		}
		s := st.Status()
		if s.Code != http.StatusGatewayTimeout || s.Reason != metav1.StatusReasonTimeout ||
			s.Message != "Timeout: request did not complete within requested timeout - context deadline exceeded" {
			t.Errorf("status = %d %s %q", s.Code, s.Reason, s.Message)
		}
	})

	t.Run("watches per user", func(t *testing.T) {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "apf-watcher"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "watcher"}}}
		if _, err := ts.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var log responseLog
		watcher := actingAs(t, ts, "watcher", &log)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		servertest.Wait(t, "first watch", func(ctx context.Context) (bool, error) {
			w, err := watcher.CoreV1().ConfigMaps("default").Watch(wctx, metav1.ListOptions{})
			if apierrors.IsForbidden(err) {
				return false, nil // the binding is not in effect yet
			}
			if err != nil {
				return false, err
			}
			t.Cleanup(w.Stop)
			return true, nil
		})
		w2, err := watcher.CoreV1().Secrets("default").Watch(wctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("second watch: %v", err)
		}
		defer w2.Stop()
		err = watcher.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Param("watch", "true").
			MaxRetries(0).Do(wctx).Error()
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("third watch: err = %v, want 429", err)
		}
	})

	t.Run("idle connection closed", func(t *testing.T) {
		tlsCfg, err := rest.TLSConfigFor(ts.Config)
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg = tlsCfg.Clone()
		tlsCfg.NextProtos = []string{"http/1.1"}
		u, err := url.Parse(ts.Config.Host)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", u.Host, tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /version HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("version: %d, close %v", resp.StatusCode, resp.Close)
		}
		// Kept alive, then closed by the server once idle: the read ends
		// with EOF rather than the guard deadline.
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = br.ReadByte()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open: %v", err)
		}
		if !errors.Is(err, io.EOF) {
			t.Logf("read after idle: %v", err)
		}
	})
}

// TestFlowControlDefaultsRestored: at start the server puts back what a
// user changed or deleted, except suggested objects whose autoupdate
// annotation is "false"; the mandatory ones are always put back.
func TestFlowControlDefaultsRestored(t *testing.T) {
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	pls := ts.Client.FlowcontrolV1().PriorityLevelConfigurations()
	fss := ts.Client.FlowcontrolV1().FlowSchemas()
	setShares := func(name string, shares int32, annotation string) {
		t.Helper()
		pl, err := pls.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pl.Spec.Limited.NominalConcurrencyShares = &shares
		if annotation != "" {
			pl.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] = annotation
		}
		if _, err := pls.Update(ctx, pl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setShares("global-default", 77, "false") // the admin's: kept
	setShares("workload-low", 77, "")        // still auto-updated: reset
	setShares("catch-all", 77, "false")      // mandatory: reset anyway
	if err := fss.Delete(ctx, "service-accounts", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ts.Close()

	again := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = ts.DataDir })
	pls = again.Client.FlowcontrolV1().PriorityLevelConfigurations()
	for name, want := range map[string]int32{"global-default": 77, "workload-low": 100, "catch-all": 5} {
		pl, err := pls.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := *pl.Spec.Limited.NominalConcurrencyShares; got != want {
			t.Errorf("%s: shares %d after restart, want %d", name, got, want)
		}
	}
	if _, err := again.Client.FlowcontrolV1().FlowSchemas().Get(ctx, "service-accounts", metav1.GetOptions{}); err != nil {
		t.Errorf("deleted suggested flowschema not recreated: %v", err)
	}
}
