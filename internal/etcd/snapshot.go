package etcd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// SnapshotStatus describes a snapshot file: the revision it was taken at,
// how many keys it holds, and its size.
type SnapshotStatus struct {
	Revision int64
	Keys     int
	Size     int64
}

// SaveSnapshot streams a point-in-time copy of the database of the member
// client talks to into path. The stream ends with etcd's SHA-256 of the
// database, kept in the file, so that a restore can tell a whole snapshot
// from a damaged one. The file appears under its name only once complete.
func SaveSnapshot(ctx context.Context, client *clientv3.Client, path string) (SnapshotStatus, error) {
	resp, err := client.SnapshotWithVersion(ctx)
	if err != nil {
		return SnapshotStatus{}, fmt.Errorf("snapshot: %w", err)
	}
	defer resp.Snapshot.Close()
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return SnapshotStatus{}, err
	}
	_, err = io.Copy(f, resp.Snapshot)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(part, path)
	}
	if err != nil {
		_ = os.Remove(part)
		return SnapshotStatus{}, fmt.Errorf("snapshot: %w", err)
	}
	return ReadSnapshotStatus(path)
}

// VerifySnapshot checks the SHA-256 that etcd appends to a snapshot
// against the database before it. A file without one (a database copied
// from a data dir) or with a wrong one is refused: opening a damaged
// database can crash its reader.
func VerifySnapshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// etcd pads the database to 512-byte sectors before the hash.
	n := fi.Size() - sha256.Size
	if n <= 0 || n%512 != 0 {
		return fmt.Errorf("snapshot %s: no integrity hash: not a snapshot saved from etcd, or cut short", path)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("snapshot %s: integrity hash mismatch: the file is damaged", path)
	}
	return nil
}

// ReadSnapshotStatus checks a snapshot file's hash and reads its revision
// and key count.
func ReadSnapshotStatus(path string) (SnapshotStatus, error) {
	if err := VerifySnapshot(path); err != nil {
		return SnapshotStatus{}, err
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		return SnapshotStatus{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return SnapshotStatus{Revision: st.Revision, Keys: st.TotalKey, Size: st.TotalSize}, nil
}

// RestoreConfig is a snapshot to restore into a new member data directory.
type RestoreConfig struct {
	// SnapshotPath is the snapshot file; its SHA-256 is checked first.
	SnapshotPath string
	// DataDir is the member's data directory to create; it must not hold
	// data.
	DataDir string
	// Name and PeerURL are the member's, as it will be started; the
	// restored cluster has this one member.
	Name, PeerURL string
	// Logger receives etcd's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// revisionBump is added to the restored database's revision, which is
// marked compacted. Resource versions then only grow across a restore, and
// a client still watching from before it is told to list again rather
// than waiting for revisions it has already seen.
const revisionBump = 1_000_000_000

// RestoreSnapshot makes a single-member data directory from a snapshot.
func RestoreSnapshot(cfg RestoreConfig) error {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.PeerURL == "" || hasPortZero(cfg.PeerURL) {
		// The URL is recorded in the membership only; a single member is
		// not reached through it.
		cfg.PeerURL = "https://127.0.0.1:2380"
	}
	lg := zap.NewNop()
	if cfg.Logger != nil {
		lg = zap.New(&slogCore{h: cfg.Logger.Handler(), min: zapcore.WarnLevel, quiet: new(atomic.Bool)})
	}
	if err := os.MkdirAll(filepath.Dir(cfg.DataDir), 0o700); err != nil {
		return err
	}
	err := snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        cfg.SnapshotPath,
		Name:                cfg.Name,
		OutputDataDir:       cfg.DataDir,
		PeerURLs:            []string{cfg.PeerURL},
		InitialCluster:      cfg.Name + "=" + cfg.PeerURL,
		InitialClusterToken: DefaultClusterToken,
		RevisionBump:        revisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", cfg.SnapshotPath, err)
	}
	return nil
}
