package integration

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/server/servertest"
)

// The tests here check the watch and list paths at size: tens of thousands
// of objects written by many clients at once. They take tens of seconds, so
// -short skips them.

// sizedObjects is how many ConfigMaps the tests at size write.
const sizedObjects = 20000

// writeConcurrently creates n ConfigMaps cm-0..cm-(n-1) in ns from 50
// clients at once, each labelled shard=i%10. If change is set, it runs on
// each object right after its create, from the same client.
func writeConcurrently(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, n int, change func(i int, cm *corev1.ConfigMap) error) {
	t.Helper()
	var next int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := int(next)
				next++
				stop := firstErr != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				cm := configMap(fmt.Sprintf("cm-%05d", i), map[string]string{"shard": strconv.Itoa(i % 10)})
				got, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
				if err == nil && change != nil {
					err = change(i, got)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("object %d: %w", i, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// sizedWatcher keeps what one watch received.
type sizedWatcher struct {
	name   string
	w      watch.Interface
	done   chan struct{}
	events []watch.Event
	err    error
}

// collect reads events until the watch ends or brings the marker object
// written last.
func (s *sizedWatcher) collect(marker string) {
	defer close(s.done)
	for ev := range s.w.ResultChan() {
		if ev.Type == watch.Error {
			s.err = fmt.Errorf("error event: %v", ev.Object)
			return
		}
		if ev.Type == watch.Bookmark {
			continue
		}
		s.events = append(s.events, ev)
		if ev.Object.(metav1.Object).GetName() == marker {
			return
		}
	}
	s.err = fmt.Errorf("watch ended after %d events", len(s.events))
}

type sizedEvent struct {
	typ  watch.EventType
	name string
	rv   int64
}

func flatten(t *testing.T, evs []watch.Event) []sizedEvent {
	t.Helper()
	out := make([]sizedEvent, len(evs))
	for i, ev := range evs {
		m := ev.Object.(metav1.Object)
		rv, err := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
		if err != nil {
			t.Fatalf("event %d: resourceVersion %q", i, m.GetResourceVersion())
		}
		out[i] = sizedEvent{ev.Type, m.GetName(), rv}
	}
	return out
}

// TestWatchAtSize writes 20,000 ConfigMaps from 50 clients, changing and
// deleting some, while watches in protobuf and JSON, with and without a
// label selector, follow the namespace. Every watch must receive every
// change it selects once, in the order of the revisions, with each object's
// own changes in the order they were made. A watch started afterwards from
// an old revision (older than the cache's window, so served from etcd) must
// see the same events after it.
func TestWatchAtSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 objects")
	}
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	const namespace = "sized-watch"
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, ns(namespace), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pb := ts.ClientFor(t, protobuf)
	js := ts.ClientFor(t, func(rc *rest.Config) { rc.ContentType = "application/json" })

	var mu sync.Mutex
	// The marker is written after everything else: the watches stop at it.
	const marker = "zz-end"
	start := func(name string, c kubernetes.Interface, opts metav1.ListOptions) *sizedWatcher {
		w, err := c.CoreV1().ConfigMaps(namespace).Watch(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		s := &sizedWatcher{name: name, w: w, done: make(chan struct{})}
		go s.collect(marker)
		return s
	}
	var watchers []*sizedWatcher
	for i := range 6 {
		watchers = append(watchers, start(fmt.Sprintf("protobuf-%d", i), pb, metav1.ListOptions{}))
	}
	for i := range 3 {
		watchers = append(watchers, start(fmt.Sprintf("json-%d", i), js, metav1.ListOptions{}))
	}
	watchers = append(watchers, start("protobuf-shard-3", pb, metav1.ListOptions{LabelSelector: "shard=3"}),
		start("json-shard-3", js, metav1.ListOptions{LabelSelector: "shard=3"}))

	// Every 10th object is changed once, every 7th then deleted. The
	// create of object 10,000 marks the revision the late watch resumes
	// from.
	var midRV string
	writeConcurrently(t, ctx, pb, namespace, sizedObjects, func(i int, cm *corev1.ConfigMap) error {
		if i == sizedObjects/2 {
			mu.Lock()
			midRV = cm.ResourceVersion
			mu.Unlock()
		}
		if i%10 == 0 {
			cm.Data["changed"] = "yes"
			if _, err := pb.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		if i%7 == 0 {
			return pb.CoreV1().ConfigMaps(namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		}
		return nil
	})
	// One last write whose revision ends every watch.
	if _, err := pb.CoreV1().ConfigMaps(namespace).Create(ctx, configMap(marker, map[string]string{"shard": "3"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	late := start("from-old-revision", pb, metav1.ListOptions{ResourceVersion: midRV})

	// What each object went through, in order.
	want := map[string][]watch.EventType{}
	for i := range sizedObjects {
		evs := []watch.EventType{watch.Added}
		if i%10 == 0 {
			evs = append(evs, watch.Modified)
		}
		if i%7 == 0 {
			evs = append(evs, watch.Deleted)
		}
		want[fmt.Sprintf("cm-%05d", i)] = evs
	}
	want[marker] = []watch.EventType{watch.Added}
	total := 0
	for _, evs := range want {
		total += len(evs)
	}
	shard3 := func(name string) bool {
		i, err := strconv.Atoi(name[len("cm-"):])
		return err != nil || i%10 == 3 // zz-end is in shard 3
	}

	var full []sizedEvent
	for _, s := range append(watchers, late) {
		select {
		case <-s.done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s: received %d events, not the last one", s.name, len(s.events))
		}
		if s.err != nil {
			t.Fatalf("%s: %v", s.name, s.err)
		}
		got := flatten(t, s.events)
		for i := 1; i < len(got); i++ {
			if got[i].rv <= got[i-1].rv {
				t.Fatalf("%s: event %d (%s %s at %d) after one at %d", s.name, i, got[i].typ, got[i].name, got[i].rv, got[i-1].rv)
			}
		}
		perObject := map[string][]watch.EventType{}
		for _, e := range got {
			perObject[e.name] = append(perObject[e.name], e.typ)
		}
		switch s.name {
		case "from-old-revision":
			continue // checked against a full watch below
		case "protobuf-shard-3", "json-shard-3":
			for name, evs := range want {
				if !shard3(name) {
					evs = nil
				}
				if !slices.Equal(perObject[name], evs) {
					t.Fatalf("%s: %s went through %v, want %v", s.name, name, perObject[name], evs)
				}
			}
		default:
			if len(got) != total {
				t.Errorf("%s: %d events, want %d", s.name, len(got), total)
			}
			for name, evs := range want {
				if !slices.Equal(perObject[name], evs) {
					t.Fatalf("%s: %s went through %v, want %v", s.name, name, perObject[name], evs)
				}
			}
			if full == nil {
				full = got
			} else if !slices.Equal(full, got) {
				t.Fatalf("%s saw a different sequence from %s", s.name, watchers[0].name)
			}
		}
	}
	mid, _ := strconv.ParseInt(midRV, 10, 64)
	var after []sizedEvent
	for _, e := range full {
		if e.rv > mid {
			after = append(after, e)
		}
	}
	if got := flatten(t, late.events); !slices.Equal(got, after) {
		t.Fatalf("watch from revision %d: %d events, want the %d after it that the live watches saw", mid, len(got), len(after))
	}
}

// TestListAtSize lists 20,000 ConfigMaps whole and in pages of 500 while
// another client keeps creating and deleting ConfigMaps. The whole list must
// hold each object once, in name order. The paged list must be the snapshot
// at its first page's revision: every object that existed then, once, in
// order, and none created after.
func TestListAtSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 20,000 objects")
	}
	ts := servertest.Start(t, nil)
	ctx := context.Background()
	const namespace = "sized-list"
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, ns(namespace), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pb := ts.ClientFor(t, protobuf)
	writeConcurrently(t, ctx, pb, namespace, sizedObjects, nil)
	cms := pb.CoreV1().ConfigMaps(namespace)

	// Churn: new objects keep coming and old ones keep going while the
	// lists run.
	churnCtx, stopChurn := context.WithCancel(ctx)
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		for ; churnCtx.Err() == nil; n++ {
			if _, err := cms.Create(churnCtx, configMap(fmt.Sprintf("new-%05d", n), nil), metav1.CreateOptions{}); err != nil {
				return
			}
			if err := cms.Delete(churnCtx, fmt.Sprintf("cm-%05d", n), metav1.DeleteOptions{}); err != nil {
				return
			}
		}
	}()
	defer stopChurn()

	inOrder := func(what string, items []corev1.ConfigMap, listRV string) {
		t.Helper()
		rv, _ := strconv.ParseInt(listRV, 10, 64)
		for i, cm := range items {
			if i > 0 && cm.Name <= items[i-1].Name {
				t.Fatalf("%s: %s after %s", what, cm.Name, items[i-1].Name)
			}
			if r, _ := strconv.ParseInt(cm.ResourceVersion, 10, 64); r > rv {
				t.Fatalf("%s at revision %d holds %s at %d", what, rv, cm.Name, r)
			}
		}
	}
	// check: a list holds one revision's objects, the old ones the churn
	// has not deleted yet and its new ones.
	check := func(what string, items []corev1.ConfigMap) {
		t.Helper()
		var created, deleted, fresh int
		for _, cm := range items {
			switch {
			case len(cm.Name) > 4 && cm.Name[:4] == "new-":
				fresh++
			case len(cm.Name) > 3 && cm.Name[:3] == "cm-":
				created++
			}
		}
		// The churn deletes cm-i right after it creates new-i: a
		// snapshot holds new-0..new-(k-1) and either all of cm-k.. or
		// all but cm-k (between the two calls).
		deleted = sizedObjects - created
		if deleted != fresh && deleted != fresh-1 {
			t.Fatalf("%s: %d new objects but %d old ones gone: not one revision's state", what, fresh, deleted)
		}
	}

	for round := range 3 {
		whole, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inOrder(fmt.Sprintf("whole list %d", round), whole.Items, whole.ResourceVersion)
		check(fmt.Sprintf("whole list %d", round), whole.Items)

		var paged []corev1.ConfigMap
		var firstRV string
		opts := metav1.ListOptions{Limit: 500}
		for pages := 0; ; pages++ {
			page, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatalf("page %d: %v", pages, err)
			}
			if firstRV == "" {
				firstRV = page.ResourceVersion
			} else if page.ResourceVersion != firstRV {
				t.Fatalf("page %d at revision %s, the first at %s", pages, page.ResourceVersion, firstRV)
			}
			paged = append(paged, page.Items...)
			if page.Continue == "" {
				break
			}
			opts.Continue = page.Continue
		}
		inOrder(fmt.Sprintf("paged list %d", round), paged, firstRV)
		check(fmt.Sprintf("paged list %d", round), paged)
		// The snapshot at firstRV, read whole, is the same list.
		exact, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: firstRV, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if len(exact.Items) != len(paged) {
			t.Fatalf("paged list %d: %d objects, the list at its revision %s: %d", round, len(paged), firstRV, len(exact.Items))
		}
		for i := range paged {
			if paged[i].Name != exact.Items[i].Name || paged[i].ResourceVersion != exact.Items[i].ResourceVersion {
				t.Fatalf("paged list %d: item %d is %s@%s, at its revision %s@%s", round, i, paged[i].Name, paged[i].ResourceVersion, exact.Items[i].Name, exact.Items[i].ResourceVersion)
			}
		}
	}
	stopChurn()
	if n := <-churned; n == 0 {
		t.Fatal("no object was created while the lists ran")
	}
}
