package csi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	csipb "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/agent"
)

// DefaultScanInterval is how often Run looks for registration sockets.
const DefaultScanInterval = time.Second

// DefaultAttachTimeout bounds how long Mount waits for a VolumeAttachment
// before failing (the pod's next sync waits again).
const DefaultAttachTimeout = 10 * time.Second

// Config configures a Manager.
type Config struct {
	// NodeName is the node's name (required).
	NodeName string
	// Client talks to the API server as the node (required).
	Client kubernetes.Interface
	// RootDir is the agent's root folder (required).
	RootDir string
	// ScanInterval defaults to DefaultScanInterval.
	ScanInterval time.Duration
	// AttachTimeout defaults to DefaultAttachTimeout.
	AttachTimeout time.Duration
	// Logger is discarded when nil.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("new csi manager: NodeName is required")
	case c.Client == nil:
		return errors.New("new csi manager: Client is required")
	case c.RootDir == "":
		return errors.New("new csi manager: RootDir is required")
	}
	return nil
}

// Manager registers the node's CSI drivers and mounts their volumes.
type Manager struct {
	cfg    Config
	layout Layout
	log    *slog.Logger

	mu sync.Mutex
	// drivers are the registered drivers by name.
	drivers map[string]*driver
	// sockets maps each registration socket to the driver it registered.
	sockets map[string]string
	// volumes serialises the mounts and tear-downs of the node.
	volumes sync.Mutex
}

var _ agent.CSIVolumes = (*Manager)(nil)

// driver is one registered CSI driver.
type driver struct {
	name string
	conn *grpc.ClientConn
	node csipb.NodeClient
	// stage is STAGE_UNSTAGE_VOLUME, mountGroup VOLUME_MOUNT_GROUP,
	// multiWriter SINGLE_NODE_MULTI_WRITER.
	stage, mountGroup, multiWriter bool
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ScanInterval == 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	if cfg.AttachTimeout == 0 {
		cfg.AttachTimeout = DefaultAttachTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:     cfg,
		layout:  Layout{Root: cfg.RootDir},
		log:     cfg.Logger.With("component", "csi"),
		drivers: map[string]*driver{},
		sockets: map[string]string{},
	}, nil
}

// Layout returns the manager's paths.
func (m *Manager) Layout() Layout { return m.layout }

// Run creates the node's CSINode, then registers and deregisters drivers
// as their sockets come and go in the registry folder, until ctx is done.
func (m *Manager) Run(ctx context.Context) error {
	if err := os.MkdirAll(m.layout.RegistryDir(), 0o750); err != nil {
		return fmt.Errorf("csi: %w", err)
	}
	t := time.NewTicker(m.cfg.ScanInterval)
	defer t.Stop()
	haveCSINode := false
	for {
		if !haveCSINode {
			if err := m.ensureCSINode(ctx); err != nil {
				m.log.Warn("create csinode", "err", err)
			} else {
				haveCSINode = true
			}
		}
		if haveCSINode {
			m.scan(ctx)
		}
		select {
		case <-ctx.Done():
			m.closeAll()
			return nil
		case <-t.C:
		}
	}
}

func (m *Manager) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.drivers {
		_ = d.conn.Close()
	}
	m.drivers = map[string]*driver{}
	m.sockets = map[string]string{}
}

// driver returns the registered driver name.
func (m *Manager) driver(name string) (*driver, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.drivers[name]
	if !ok {
		return nil, fmt.Errorf("driver name %s not found in the list of registered CSI drivers", name)
	}
	return d, nil
}
