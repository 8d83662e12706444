package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff/internal/etcd"
)

// Defaults of the embedded etcd's snapshots, as k3s': twice a day, the
// last five kept.
const (
	DefaultSnapshotSchedule  = "0 */12 * * *"
	DefaultSnapshotRetention = 5
	// scheduledSnapshotName prefixes the scheduled snapshots' names;
	// onDemandSnapshotName those saved by hand without --name.
	scheduledSnapshotName = "etcd-snapshot"
	onDemandSnapshotName  = "on-demand"
)

// EtcdSnapshotsPath lists (GET), saves (POST) and deletes (DELETE, with
// name parameters) the embedded etcd's snapshots of a running server;
// EtcdSnapshotsPrunePath (POST) deletes all but the newest of a name.
// Only admins reach them (no role grants these paths).
const (
	EtcdSnapshotsPath      = "/skiff/v1/etcd-snapshots"
	EtcdSnapshotsPrunePath = "/skiff/v1/etcd-snapshots/prune"
)

// SnapshotDir is where a server keeps its etcd snapshots by default.
func SnapshotDir(dataDir string) string { return filepath.Join(dataDir, "db", "snapshots") }

// Snapshot is one snapshot file of the server's etcd.
type Snapshot struct {
	Name     string    `json:"name"`
	Location string    `json:"location"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
}

// snapshotName is a valid name prefix: what a file name may hold.
var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// snapshots saves, lists and prunes the snapshots of one server's etcd in
// dir. Each file is named <name>-<node>-<unix seconds>, as k3s names them.
type snapshots struct {
	dir  string
	node string
	save func(ctx context.Context, path string) (etcd.SnapshotStatus, error)
	now  func() time.Time
	mu   sync.Mutex // one save or prune at a time
}

// Save takes a snapshot named name (default on-demand) and returns it.
func (s *snapshots) Save(ctx context.Context, name string) (Snapshot, error) {
	name = cmp.Or(name, onDemandSnapshotName)
	if !snapshotName.MatchString(name) {
		return Snapshot{}, apierrors.NewBadRequest(fmt.Sprintf("snapshot name %q: only letters, digits, '.', '_' and '-', starting with a letter or digit", name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return Snapshot{}, err
	}
	now := s.now()
	file := fmt.Sprintf("%s-%s-%d", name, s.node, now.Unix())
	path := filepath.Join(s.dir, file)
	if _, err := os.Stat(path); err == nil {
		return Snapshot{}, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "etcd-snapshots"}, file)
	}
	if _, err := s.save(ctx, path); err != nil {
		return Snapshot{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Name: file, Location: "file://" + path, Size: fi.Size(), Created: now.UTC().Truncate(time.Second)}, nil
}

// List returns the snapshots, oldest first.
func (s *snapshots) List() ([]Snapshot, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".part") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		created := fi.ModTime()
		if i := strings.LastIndexByte(e.Name(), '-'); i > 0 {
			if sec, err := strconv.ParseInt(e.Name()[i+1:], 10, 64); err == nil {
				created = time.Unix(sec, 0)
			}
		}
		out = append(out, Snapshot{Name: e.Name(), Location: "file://" + filepath.Join(s.dir, e.Name()), Size: fi.Size(), Created: created.UTC()})
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Delete removes the named snapshots; a name that is not there is an
// error, after the others are gone.
func (s *snapshots) Delete(names []string) error {
	var errs []error
	for _, n := range names {
		if !snapshotName.MatchString(n) {
			errs = append(errs, apierrors.NewBadRequest(fmt.Sprintf("snapshot name %q is not valid", n)))
			continue
		}
		err := os.Remove(filepath.Join(s.dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			err = apierrors.NewNotFound(schema.GroupResource{Resource: "etcd-snapshots"}, n)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Prune deletes all but the newest retention snapshots of this node
// whose name starts with name, and returns the ones it deleted.
func (s *snapshots) Prune(name string, retention int) ([]string, error) {
	if retention < 1 {
		return nil, apierrors.NewBadRequest("snapshot retention must be at least 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	prefix := cmp.Or(name, onDemandSnapshotName) + "-" + s.node + "-"
	var mine []Snapshot
	for _, sn := range all {
		if strings.HasPrefix(sn.Name, prefix) {
			if _, err := strconv.ParseInt(strings.TrimPrefix(sn.Name, prefix), 10, 64); err == nil {
				mine = append(mine, sn)
			}
		}
	}
	var pruned []string
	for len(mine) > retention {
		if err := os.Remove(filepath.Join(s.dir, mine[0].Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pruned, err
		}
		pruned = append(pruned, mine[0].Name)
		mine = mine[1:]
	}
	return pruned, nil
}

// Schedule saves a snapshot at every time of spec (a cron schedule) and
// keeps the newest retention scheduled ones, until ctx is done.
func (s *snapshots) Schedule(ctx context.Context, spec string, retention int, log func(msg string, args ...any)) error {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("--etcd-snapshot-schedule-cron %q: %w", spec, err)
	}
	go func() {
		for {
			next := sched.Next(s.now())
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			sn, err := s.Save(ctx, scheduledSnapshotName)
			if err != nil {
				log("scheduled etcd snapshot failed", "err", err)
				continue
			}
			pruned, err := s.Prune(scheduledSnapshotName, retention)
			log("saved etcd snapshot", "name", sn.Name, "size", sn.Size, "pruned", pruned, "err", err)
		}
	}()
	return nil
}

// ServeHTTP serves EtcdSnapshotsPath and EtcdSnapshotsPrunePath.
func (s *snapshots) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out any
	var err error
	switch {
	case r.URL.Path == EtcdSnapshotsPrunePath && r.Method == http.MethodPost:
		retention := DefaultSnapshotRetention
		if v := q.Get("retention"); v != "" {
			if retention, err = strconv.Atoi(v); err != nil {
				err = apierrors.NewBadRequest(fmt.Sprintf("retention %q is not a number", v))
			}
		}
		if err == nil {
			var pruned []string
			pruned, err = s.Prune(q.Get("name"), retention)
			out = map[string][]string{"pruned": pruned}
		}
	case r.URL.Path != EtcdSnapshotsPath:
		err = apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path)
	case r.Method == http.MethodGet:
		var list []Snapshot
		list, err = s.List()
		out = map[string][]Snapshot{"snapshots": list}
	case r.Method == http.MethodPost:
		out, err = s.Save(r.Context(), q.Get("name"))
	case r.Method == http.MethodDelete:
		if len(q["name"]) == 0 {
			err = apierrors.NewBadRequest("name the snapshots to delete")
		} else {
			err = s.Delete(q["name"])
			out = map[string][]string{"deleted": q["name"]}
		}
	default:
		err = apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "etcd-snapshots"}, r.Method)
	}
	writeResult(w, out, err)
}

// snapshotsUnavailable answers the snapshot paths of a server whose etcd
// is not its own.
func snapshotsUnavailable(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, apierrors.NewBadRequest("etcd snapshots are taken of the embedded etcd; this server uses an external one (--etcd-servers)"))
}

// SaveEtcdSnapshot asks the server behind client to snapshot its etcd.
func SaveEtcdSnapshot(ctx context.Context, client kubernetes.Interface, name string) (Snapshot, error) {
	var out Snapshot
	req := client.CoreV1().RESTClient().Post().AbsPath(EtcdSnapshotsPath)
	if name != "" {
		req = req.Param("name", name)
	}
	return out, snapshotCall(ctx, req, &out)
}

// ListEtcdSnapshots lists the snapshots of the server behind client.
func ListEtcdSnapshots(ctx context.Context, client kubernetes.Interface) ([]Snapshot, error) {
	var out struct {
		Snapshots []Snapshot `json:"snapshots"`
	}
	err := snapshotCall(ctx, client.CoreV1().RESTClient().Get().AbsPath(EtcdSnapshotsPath), &out)
	return out.Snapshots, err
}

// DeleteEtcdSnapshots deletes the named snapshots.
func DeleteEtcdSnapshots(ctx context.Context, client kubernetes.Interface, names []string) error {
	req := client.CoreV1().RESTClient().Delete().AbsPath(EtcdSnapshotsPath)
	for _, n := range names {
		req = req.Param("name", n)
	}
	return snapshotCall(ctx, req, nil)
}

// PruneEtcdSnapshots keeps the newest retention snapshots of name (default
// on-demand) and returns the names it deleted.
func PruneEtcdSnapshots(ctx context.Context, client kubernetes.Interface, name string, retention int) ([]string, error) {
	var out struct {
		Pruned []string `json:"pruned"`
	}
	req := client.CoreV1().RESTClient().Post().AbsPath(EtcdSnapshotsPrunePath).Param("retention", strconv.Itoa(retention))
	if name != "" {
		req = req.Param("name", name)
	}
	return out.Pruned, snapshotCall(ctx, req, &out)
}

// snapshotCall sends req and decodes its answer into out; a refusal is
// the server's Status.
func snapshotCall(ctx context.Context, req *rest.Request, out any) error {
	res := req.Do(ctx)
	err := res.Error()
	body, _ := res.Raw()
	if apierrors.IsNotFound(err) && !isSnapshotNotFound(err) {
		return errors.New("etcd snapshots: the server does not support them")
	}
	if err != nil {
		return fmt.Errorf("etcd snapshots: %w", err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// isSnapshotNotFound tells a missing snapshot from a server that has no
// snapshot paths at all.
func isSnapshotNotFound(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Kind == "etcd-snapshots"
}
