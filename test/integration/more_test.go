package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"skiff/internal/etcd/etcdtest"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

func TestWatchListAndBookmarks(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.Client
	ctx := context.Background()
	for _, n := range []string{"x", "y"} {
		if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap(n, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{
		SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-w.ResultChan():
			m := ev.Object.(metav1.Object)
			if ev.Type == watch.Bookmark {
				if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" || m.GetResourceVersion() == "" {
					t.Fatalf("bookmark without the initial-events-end annotation: %+v", m)
				}
				if strings.Join(got, ",") != "ADDED x,ADDED y" {
					t.Errorf("initial events %v", got)
				}
				return
			}
			got = append(got, string(ev.Type)+" "+m.GetName())
		case <-timeout:
			t.Fatalf("no end-of-initial-events bookmark; events %v", got)
		}
	}
}

func TestVersionsSharingStorage(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.Client
	ctx := context.Background()

	// An HPA written through autoscaling/v1 reads back through v2.
	hpa := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](60),
		},
	}
	if _, err := c.AutoscalingV1().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v2, err := c.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Spec.Metrics) != 1 || v2.Spec.Metrics[0].Resource == nil || v2.Spec.Metrics[0].Resource.Target.AverageUtilization == nil ||
		*v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 || v2.Spec.Metrics[0].Type != autoscalingv2.ResourceMetricSourceType {
		t.Errorf("v2 view of a v1 HPA: %+v", v2.Spec.Metrics)
	}

	// An events.k8s.io event reads back as a core event and the other way.
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e1"},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: "skiff.dev/test", ReportingInstance: "test-1",
		Action: "Testing", Reason: "Tested", Type: "Normal", Note: "hello",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
	}
	if _, err := c.EventsV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	core, err := c.CoreV1().Events("default").Get(ctx, "e1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if core.Message != "hello" || core.Reason != "Tested" || core.InvolvedObject.Name != "p" || core.ReportingController != "skiff.dev/test" {
		t.Errorf("core view of an events.k8s.io event: %+v", core)
	}
	l, err := c.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Note != "hello" {
		t.Errorf("events.k8s.io list: %+v", l.Items)
	}
}

func TestMetrics(t *testing.T) {
	ts := servertest.Start(t, nil)
	if _, err := ts.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	resp, err := rawClient(t, ts.Config, false).Get(ts.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`apiserver_request_total{code="200",component="apiserver",group="",resource="namespaces",scope="cluster",subresource="",verb="LIST",version="v1"}`,
		"apiserver_request_duration_seconds_bucket", "process_resident_memory_bytes", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	anon, err := rawClient(t, ts.Config, true).Get(ts.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode != 401 {
		t.Errorf("anonymous /metrics: %d, want 401", anon.StatusCode)
	}
}

// TestExternalEtcd runs the server on a three-member etcd cluster reached
// over the network (--etcd-servers), and keeps serving with one member down.
func TestExternalEtcd(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3, nil)
	var urls []string
	for _, m := range cluster.Members {
		urls = append(urls, m.ClientURL())
	}
	ts := servertest.Start(t, func(cfg *server.Config) { cfg.EtcdServers = urls })
	c := ts.Client
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap("ha", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.Stop(0)
	servertest.Wait(t, "writes with one etcd member down", func(context.Context) (bool, error) {
		_, err := c.CoreV1().ConfigMaps("default").Create(ctx, configMap("after-stop", nil), metav1.CreateOptions{})
		return err == nil, err
	})
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "ha", metav1.GetOptions{}); err != nil {
		t.Fatalf("read with one member down: %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	ts := servertest.Start(t, nil)
	c := ts.Client
	// client-go asks for aggregated discovery first.
	_, lists, err := c.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]metav1.APIResource{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			found[l.GroupVersion+"/"+r.Name] = r
		}
	}
	for key, want := range map[string]metav1.APIResource{
		"v1/pods":                   {Name: "pods", Namespaced: true, Kind: "Pod", ShortNames: []string{"po"}},
		"v1/pods/status":            {Name: "pods/status", Namespaced: true, Kind: "Pod"},
		"apps/v1/deployments":       {Name: "deployments", Namespaced: true, Kind: "Deployment", ShortNames: []string{"deploy"}},
		"apps/v1/deployments/scale": {Name: "deployments/scale", Namespaced: true, Kind: "Scale"},
		"v1/nodes":                  {Name: "nodes", Namespaced: false, Kind: "Node", ShortNames: []string{"no"}},
	} {
		got, ok := found[key]
		if !ok {
			t.Errorf("discovery lacks %s", key)
			continue
		}
		if got.Kind != want.Kind || got.Namespaced != want.Namespaced || strings.Join(got.ShortNames, ",") != strings.Join(want.ShortNames, ",") {
			t.Errorf("%s = %+v, want %+v", key, got, want)
		}
	}
	req, _ := http.NewRequest("GET", ts.URL()+"/apis", nil)
	req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	resp, err := rawClient(t, ts.Config, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "as=APIGroupDiscoveryList") {
		t.Errorf("aggregated discovery content type %q", ct)
	}
}
