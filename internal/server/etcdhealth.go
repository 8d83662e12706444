package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Defaults of the embedded etcd's upkeep.
const (
	// DefaultEtcdMaintenanceInterval is how often the database's size and
	// alarms are looked at.
	DefaultEtcdMaintenanceInterval = 30 * time.Second
	// defragFreeRatio and defragMinFree: the database is defragmented
	// when at least this share of it, and this many bytes, are free pages.
	defragFreeRatio = 0.5
	defragMinFree   = 32 << 20
	// healthCacheFor is how long an etcd health answer is reused, so that
	// frequent probes of /readyz cost etcd one read a second at most.
	healthCacheFor = time.Second
	healthTimeout  = 2 * time.Second
)

// etcdUpkeep checks the embedded etcd's health for /readyz, and keeps it
// writable: it defragments a database that is mostly free pages, and
// recovers from the NOSPACE alarm (the database at its quota, every
// write refused) by compacting, defragmenting and disarming it.
type etcdUpkeep struct {
	client   *clientv3.Client
	endpoint string
	// defrag defragments the member.
	defrag func() error
	log    *slog.Logger
	// event, once set, records what was done on this server's Node.
	event func(ctx context.Context, eventType, reason, msg string)

	mu       sync.Mutex
	checked  time.Time
	checkErr error

	size, inUse, quota prometheus.Gauge
	alarms             *prometheus.GaugeVec
	defrags            *prometheus.CounterVec
	recoveries         prometheus.Counter
}

func newEtcdUpkeep(client *clientv3.Client, endpoint string, defrag func() error, quota int64, log *slog.Logger) *etcdUpkeep {
	u := &etcdUpkeep{
		client: client, endpoint: endpoint, defrag: defrag, log: log,
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "skiff_etcd_db_total_size_in_bytes",
			Help: "Size of the embedded etcd's database file, free pages included."}),
		inUse: prometheus.NewGauge(prometheus.GaugeOpts{Name: "skiff_etcd_db_total_size_in_use_in_bytes",
			Help: "Bytes of the embedded etcd's database in use."}),
		quota: prometheus.NewGauge(prometheus.GaugeOpts{Name: "skiff_etcd_quota_backend_bytes",
			Help: "Size at which the embedded etcd raises the NOSPACE alarm and refuses writes."}),
		alarms: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "skiff_etcd_alarms",
			Help: "Alarms raised on the embedded etcd, by type (1: raised)."}, []string{"alarm"}),
		defrags: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skiff_etcd_defragmentations_total",
			Help: "Defragmentations of the embedded etcd, by cause (start, fragmentation, nospace)."}, []string{"cause"}),
		recoveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_etcd_nospace_recoveries_total",
			Help: "Times the embedded etcd's NOSPACE alarm was cleared by compacting and defragmenting."}),
	}
	if quota <= 0 {
		quota = 2 << 30 // etcd's default
	}
	u.quota.Set(float64(quota))
	for _, a := range []string{"NOSPACE", "CORRUPT"} {
		u.alarms.WithLabelValues(a).Set(0)
	}
	return u
}

// Collectors are the metrics to register.
func (u *etcdUpkeep) Collectors() []prometheus.Collector {
	return []prometheus.Collector{u.size, u.inUse, u.quota, u.alarms, u.defrags, u.recoveries}
}

// Check is the etcd health check: a linearizable read, which needs the
// member to have a leader (and so a quorum).
func (u *etcdUpkeep) Check(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) < healthCacheFor {
		return u.checkErr
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	_, err := u.client.Get(ctx, "health")
	u.checked, u.checkErr = time.Now(), err
	return err
}

// Run looks at the database every interval until ctx is done.
func (u *etcdUpkeep) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := u.maintain(ctx, "fragmentation"); err != nil && ctx.Err() == nil {
			u.log.Warn("etcd upkeep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintain reads the database's size and alarms, recovers from NOSPACE,
// and defragments a database that is mostly free pages (cause says why
// in the metric).
func (u *etcdUpkeep) maintain(ctx context.Context, cause string) error {
	st, err := u.client.Status(ctx, u.endpoint)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	u.size.Set(float64(st.DbSize))
	u.inUse.Set(float64(st.DbSizeInUse))
	alarms, err := u.client.AlarmList(ctx)
	if err != nil {
		return fmt.Errorf("alarms: %w", err)
	}
	raised := map[string]bool{}
	for _, a := range alarms.Alarms {
		raised[a.Alarm.String()] = true
	}
	for _, a := range []string{"NOSPACE", "CORRUPT"} {
		v := 0.0
		if raised[a] {
			v = 1
		}
		u.alarms.WithLabelValues(a).Set(v)
	}
	if raised["NOSPACE"] {
		return u.recoverSpace(ctx, st, alarms.Alarms)
	}
	free := st.DbSize - st.DbSizeInUse
	if free < defragMinFree || float64(free) < defragFreeRatio*float64(st.DbSize) {
		return nil
	}
	after, err := u.defragment(ctx, cause)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Defragmented the etcd database: %s free of %s; now %s", mib(free), mib(st.DbSize), mib(after))
	u.log.Info(msg)
	u.record(ctx, corev1.EventTypeNormal, "EtcdDefragmented", msg)
	return nil
}

// recoverSpace compacts away every old revision, defragments, and
// disarms the NOSPACE alarm, as etcd's documentation prescribes.
func (u *etcdUpkeep) recoverSpace(ctx context.Context, st *clientv3.StatusResponse, alarms []*etcdserverpb.AlarmMember) error {
	rev := st.Header.Revision
	if _, err := u.client.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("compact: %w", err)
	}
	after, err := u.defragment(ctx, "nospace")
	if err != nil {
		return err
	}
	for _, a := range alarms {
		if a.Alarm != etcdserverpb.AlarmType_NOSPACE {
			continue
		}
		if _, err := u.client.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			return fmt.Errorf("disarm: %w", err)
		}
	}
	u.alarms.WithLabelValues("NOSPACE").Set(0)
	u.recoveries.Inc()
	msg := fmt.Sprintf("The etcd database reached its quota and refused writes: compacted at revision %d, defragmented from %s to %s, and cleared the NOSPACE alarm", rev, mib(st.DbSize), mib(after))
	u.log.Warn(msg)
	u.record(ctx, corev1.EventTypeWarning, "EtcdNoSpace", msg)
	return nil
}

// defragment defragments the member and returns the database's new size.
func (u *etcdUpkeep) defragment(ctx context.Context, cause string) (int64, error) {
	if err := u.defrag(); err != nil {
		return 0, fmt.Errorf("defragment: %w", err)
	}
	u.defrags.WithLabelValues(cause).Inc()
	st, err := u.client.Status(ctx, u.endpoint)
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	u.size.Set(float64(st.DbSize))
	u.inUse.Set(float64(st.DbSizeInUse))
	return st.DbSize, nil
}

func (u *etcdUpkeep) record(ctx context.Context, eventType, reason, msg string) {
	if u.event != nil {
		u.event(ctx, eventType, reason, msg)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// nodeEventer posts events about this server's etcd on its Node, where
// `kubectl describe node` shows them.
func nodeEventer(client kubernetes.Interface, nodeName string, log *slog.Logger) func(context.Context, string, string, string) {
	return func(ctx context.Context, eventType, reason, msg string) {
		now := metav1.Now()
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", nodeName, now.UnixNano()), Namespace: metav1.NamespaceDefault},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: nodeName, APIVersion: "v1"},
			Reason:         reason, Message: msg, Type: eventType,
			Source:         corev1.EventSource{Component: "skiff-etcd", Host: nodeName},
			FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}
		if _, err := client.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			log.Warn("etcd event not recorded", "reason", reason, "err", err)
		}
	}
}
