package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/utils/clock"

	"skiff/internal/etcd"
	"skiff/internal/network"
)

// ResetConfig is what `skiff server --cluster-reset` does to the embedded
// etcd of the server configured by Server.
type ResetConfig struct {
	Server Config
	// RestorePath, when set, is a snapshot to restore: the member's data
	// is moved aside to <data-dir>/etcd-old-<unix seconds> and replaced
	// by the snapshot's, after its hash is checked.
	RestorePath string
}

// ResetCluster makes the embedded etcd a cluster of one member, from a
// snapshot if RestorePath is set, or else from its own data (when the
// other members are lost for good and the quorum with them). It starts
// the member once, so that the reset is written, and stops it; the server
// is then started again without --cluster-reset. It returns where the
// old data went (empty when nothing was moved).
func ResetCluster(ctx context.Context, rc ResetConfig) (string, error) {
	cfg := rc.Server
	cfg.setDefaults()
	if len(cfg.EtcdServers) > 0 {
		return "", errors.New("--cluster-reset resets the embedded etcd; this server uses an external one (--etcd-servers)")
	}
	if cfg.AdvertiseAddress == nil {
		cfg.AdvertiseAddress = network.FirstHostIP()
	}
	ec, err := embeddedEtcd(cfg)
	if err != nil {
		return "", err
	}
	if ec.TLS, err = setUpEtcdPKI(newServerCerts(clock.RealClock{}), cfg.DataDir, ec.ClientURL, ec.PeerURL); err != nil {
		return "", err
	}
	dir := ec.DataDir
	var old string
	if rc.RestorePath != "" {
		if _, err := etcd.ReadSnapshotStatus(rc.RestorePath); err != nil {
			return "", err
		}
		if _, err := os.Stat(dir); err == nil {
			old = filepath.Join(cfg.DataDir, "etcd-old-"+strconv.FormatInt(time.Now().Unix(), 10))
			if err := os.Rename(dir, old); err != nil {
				return "", err
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		err := etcd.RestoreSnapshot(etcd.RestoreConfig{SnapshotPath: rc.RestorePath, DataDir: dir, Name: ec.Name, PeerURL: ec.PeerURL, Logger: cfg.Logger})
		if err != nil {
			if rmErr := os.RemoveAll(dir); rmErr == nil && old != "" {
				if os.Rename(old, dir) == nil {
					old = ""
				}
			}
			return "", err
		}
	} else if _, err := os.Stat(filepath.Join(dir, "member")); err != nil {
		return "", fmt.Errorf("--cluster-reset: no etcd data in %s to reset", dir)
	}
	ec.ForceNewCluster = true
	e, err := etcd.Start(ctx, ec)
	if err != nil {
		return old, fmt.Errorf("etcd: %w", err)
	}
	e.Close()
	return old, nil
}
