package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// nextEvents reads n events from w.
func nextEvents(t *testing.T, w watch.Interface, n int) []watch.Event {
	t.Helper()
	var out []watch.Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d of %d events", len(out), n)
		}
	}
	return out
}

func describe(evs []watch.Event) []string {
	var out []string
	for _, ev := range evs {
		m, _ := ev.Object.(metav1.Object)
		out = append(out, fmt.Sprintf("%s %s", ev.Type, m.GetName()))
	}
	return out
}

func TestWatch(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.Client
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns("w"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first, err := c.CoreV1().ConfigMaps("w").Create(ctx, configMap("a", map[string]string{"x": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("from a resourceVersion", func(t *testing.T) {
		w, err := c.CoreV1().ConfigMaps("w").Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		b, _ := c.CoreV1().ConfigMaps("w").Create(ctx, configMap("b", nil), metav1.CreateOptions{})
		b.Data["k"] = "changed"
		if _, err := c.CoreV1().ConfigMaps("w").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CoreV1().ConfigMaps("w").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		got := describe(nextEvents(t, w, 3))
		if diff := cmp.Diff([]string{"ADDED b", "MODIFIED b", "DELETED b"}, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("label selector transitions", func(t *testing.T) {
		w, err := c.CoreV1().ConfigMaps("w").Watch(ctx, metav1.ListOptions{LabelSelector: "x=1", ResourceVersion: first.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		cm, _ := c.CoreV1().ConfigMaps("w").Get(ctx, "a", metav1.GetOptions{})
		cm.Labels["x"] = "2"
		if _, err := c.CoreV1().ConfigMaps("w").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := describe(nextEvents(t, w, 1))
		if diff := cmp.Diff([]string{"DELETED a"}, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("informer lists and watches", func(t *testing.T) {
		f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace("w"))
		inf := f.Core().V1().ConfigMaps().Informer()
		var mu sync.Mutex
		seen := map[string]string{}
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o interface{}) { mu.Lock(); seen[o.(*corev1.ConfigMap).Name] = "add"; mu.Unlock() },
			UpdateFunc: func(_, o interface{}) { mu.Lock(); seen[o.(*corev1.ConfigMap).Name] = "update"; mu.Unlock() },
			DeleteFunc: func(o interface{}) {
				if cm, ok := o.(*corev1.ConfigMap); ok {
					mu.Lock()
					seen[cm.Name] = "delete"
					mu.Unlock()
				}
			},
		})
		stop := make(chan struct{})
		defer close(stop)
		f.Start(stop)
		if !cache.WaitForCacheSync(stop, inf.HasSynced) {
			t.Fatal("informer did not sync")
		}
		if _, err := c.CoreV1().ConfigMaps("w").Create(ctx, configMap("inf", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "informer add", func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return seen["inf"] == "add" && seen["a"] != "", nil
		})
		if err := c.CoreV1().ConfigMaps("w").Delete(ctx, "inf", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		servertest.Wait(t, "informer delete", func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return seen["inf"] == "delete", nil
		})
	})
}

// TestWatchAcrossRestart stops the server and starts it again on the same
// data dir: a watch resumed from the last resourceVersion seen gets every
// later change exactly once.
func TestWatchAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ts := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c := ts.Client
	ctx := context.Background()
	// A resourceVersion from before the restart that the new server's
	// cache does not reach back to: resuming from it is served from etcd.
	l, err := c.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	early := l.ResourceVersion
	cm, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap("before", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := cm.ResourceVersion
	ts.Close()

	ts2 := servertest.Start(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c2 := ts2.Client
	got, err := c2.CoreV1().ConfigMaps("default").Get(ctx, "before", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object lost across restart: %v", err)
	}
	if got.ResourceVersion != last {
		t.Errorf("resourceVersion %s after restart, want %s", got.ResourceVersion, last)
	}
	for i := 0; i < 3; i++ {
		if _, err := c2.CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("after-%d", i), nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c2.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: last})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := describe(nextEvents(t, w, 3))
	if diff := cmp.Diff([]string{"ADDED after-0", "ADDED after-1", "ADDED after-2"}, evs); diff != "" {
		t.Errorf("resumed events (-want +got):\n%s", diff)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Bookmark {
			t.Errorf("unexpected extra event %s", ev.Type)
		}
	case <-time.After(300 * time.Millisecond):
	}
	// From further back, before the restart: etcd's history serves it.
	wEarly, err := c2.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: early})
	if err != nil {
		t.Fatal(err)
	}
	defer wEarly.Stop()
	evs = describe(nextEvents(t, wEarly, 4))
	if diff := cmp.Diff([]string{"ADDED before", "ADDED after-0", "ADDED after-1", "ADDED after-2"}, evs); diff != "" {
		t.Errorf("events from before the restart (-want +got):\n%s", diff)
	}
	select {
	case ev := <-wEarly.ResultChan():
		if ev.Type != watch.Bookmark {
			t.Errorf("unexpected extra event %s", ev.Type)
		}
	case <-time.After(300 * time.Millisecond):
	}

	// Once etcd has compacted that history, the early resume is 410 Gone.
	rev, err := ts2.Store().CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts2.Store().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	w2, err := c2.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: early})
	if err != nil {
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from compacted revision: %v, want 410", err)
		}
		return
	}
	defer w2.Stop()
	evs2 := nextEvents(t, w2, 1)
	if evs2[0].Type != watch.Error {
		t.Fatalf("event %s, want ERROR", evs2[0].Type)
	}
	if st := apierrors.FromObject(evs2[0].Object); !apierrors.IsResourceExpired(st) && !apierrors.IsGone(st) {
		t.Errorf("error event %v, want 410", st)
	}
}
