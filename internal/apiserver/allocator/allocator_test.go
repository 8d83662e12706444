package allocator

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/storage"
)

// memStore keeps reservation keys in a map.
type memStore struct {
	mu   sync.Mutex
	keys map[string]string
}

func (m *memStore) Get(_ context.Context, key string) (storage.KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.keys[key]
	if !ok {
		return storage.KV{}, storage.ErrNotFound
	}
	return storage.KV{Key: key, Value: []byte(v)}, nil
}

func (m *memStore) Create(_ context.Context, key string, value []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[key]; ok {
		return 0, storage.ErrExists
	}
	m.keys[key] = string(value)
	return 1, nil
}

func (m *memStore) Delete(_ context.Context, key string, _ int64) (storage.KV, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[key]; !ok {
		return storage.KV{}, 0, storage.ErrNotFound
	}
	delete(m.keys, key)
	return storage.KV{Key: key}, 1, nil
}

func newAllocator(t *testing.T, cidr string, reserved ...string) (*Allocator, *memStore) {
	t.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{keys: map[string]string{}}
	for _, k := range reserved {
		st.keys[k] = "other/svc"
	}
	a, err := New(Config{Store: st, ServiceCIDR: n, NodePortMin: 30000, NodePortMax: 30002})
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

func service(typ corev1.ServiceType, clusterIP string, nodePorts ...int32) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP}}
	for _, p := range nodePorts {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: 80, NodePort: p})
	}
	return svc
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name     string
		svc      *corev1.Service
		reserved []string
		dryRun   bool
		// wantKeys are the reservations after the create; wantInvalid
		// says it answers 422 and takes nothing.
		wantKeys    []string
		wantInvalid bool
	}{
		{name: "chosen ClusterIP", svc: service(corev1.ServiceTypeClusterIP, "10.0.0.5"),
			wantKeys: []string{clusterIPPrefix + "10.0.0.5"}},
		{name: "ClusterIP taken", svc: service(corev1.ServiceTypeClusterIP, "10.0.0.5"),
			reserved: []string{clusterIPPrefix + "10.0.0.5"}, wantKeys: []string{clusterIPPrefix + "10.0.0.5"}, wantInvalid: true},
		{name: "ClusterIP out of range", svc: service(corev1.ServiceTypeClusterIP, "10.1.0.5"), wantInvalid: true},
		{name: "broadcast address", svc: service(corev1.ServiceTypeClusterIP, "10.0.0.7"), wantInvalid: true},
		{name: "headless", svc: service(corev1.ServiceTypeClusterIP, corev1.ClusterIPNone)},
		{name: "external name", svc: service(corev1.ServiceTypeExternalName, "")},
		{name: "chosen NodePort", svc: service(corev1.ServiceTypeNodePort, "10.0.0.5", 30001),
			wantKeys: []string{clusterIPPrefix + "10.0.0.5", nodePortPrefix + "30001"}},
		{name: "NodePort out of range, ClusterIP released", svc: service(corev1.ServiceTypeNodePort, "10.0.0.5", 80), wantInvalid: true},
		{name: "NodePort taken", svc: service(corev1.ServiceTypeNodePort, "10.0.0.5", 30001),
			reserved: []string{nodePortPrefix + "30001"}, wantKeys: []string{nodePortPrefix + "30001"}, wantInvalid: true},
		{name: "dry run takes nothing", svc: service(corev1.ServiceTypeNodePort, "10.0.0.5", 30001), dryRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, st := newAllocator(t, "10.0.0.0/29", tt.reserved...)
			_, err := a.Create(context.Background(), tt.svc, tt.dryRun)
			if got := apierrors.IsInvalid(err); got != tt.wantInvalid {
				t.Fatalf("Create() = %v, want invalid %v", err, tt.wantInvalid)
			}
			var keys []string
			for k := range st.keys {
				keys = append(keys, k)
			}
			if diff := cmp.Diff(tt.wantKeys, keys, cmpSorted); diff != "" {
				t.Errorf("reservations (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpSorted = cmp.Transformer("sorted", func(in []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range in {
		out[s] = true
	}
	return out
})

// TestRangeFull fills a /29 (six usable addresses) and the three NodePorts,
// then releases one Service and allocates again.
func TestRangeFull(t *testing.T) {
	ctx := context.Background()
	a, st := newAllocator(t, "10.0.0.0/29")
	var svcs []*corev1.Service
	for range 3 {
		svc := service(corev1.ServiceTypeNodePort, "", 0)
		if _, err := a.Create(ctx, svc, false); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	if _, err := a.Create(ctx, service(corev1.ServiceTypeNodePort, "", 0), false); !apierrors.IsInternalError(err) {
		t.Fatalf("Create() past the NodePort range = %v, want an internal error", err)
	}
	if len(st.keys) != 6 {
		t.Fatalf("%d reservations after a failed create, want 6: %v", len(st.keys), st.keys)
	}
	a.Release(ctx, svcs[0])
	svc := service(corev1.ServiceTypeNodePort, "", 0)
	if _, err := a.Create(ctx, svc, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(svcs[0].Spec.Ports[0].NodePort, svc.Spec.Ports[0].NodePort); diff != "" {
		t.Errorf("NodePort after release (-want +got):\n%s", diff)
	}
}

// TestUpdate turns a NodePort Service into a ClusterIP one and back.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	a, st := newAllocator(t, "10.0.0.0/29")
	old := service(corev1.ServiceTypeNodePort, "10.0.0.5", 30002)
	if _, err := a.Create(ctx, old, false); err != nil {
		t.Fatal(err)
	}
	svc := old.DeepCopy()
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	if err := a.Update(ctx, svc, old, false); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].NodePort != 0 {
		t.Errorf("NodePort kept: %d", svc.Spec.Ports[0].NodePort)
	}
	if _, ok := st.keys[nodePortPrefix+"30002"]; ok {
		t.Errorf("NodePort 30002 still reserved")
	}
	back := svc.DeepCopy()
	back.Spec.Type = corev1.ServiceTypeNodePort
	if err := a.Update(ctx, back, svc, false); err != nil {
		t.Fatal(err)
	}
	if p := back.Spec.Ports[0].NodePort; p < 30000 || p > 30002 {
		t.Errorf("NodePort %d, want one in 30000-30002", p)
	}
}
