package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// CNIConfig describes the node's pod network.
type CNIConfig struct {
	// PodCIDR is the node's pod subnet, e.g. 10.42.0.0/24. Required.
	PodCIDR string
	// Bridge names the node's bridge (default skiff0).
	Bridge string
	// IPAMDir is where host-local keeps its leases (default: the CNI default).
	IPAMDir string
	// MTU of the pod interfaces; zero leaves the plugin's default.
	MTU int
	// Masquerade makes the bridge plugin masquerade traffic leaving the
	// pod subnet. With several nodes the service proxy masquerades instead,
	// so that pod-to-pod traffic between nodes keeps its source address.
	Masquerade bool
}

// ConflistName is the file name containerd reads the network from.
const ConflistName = "10-skiff.conflist"

// Conflist renders the CNI network configuration list for cfg.
func Conflist(cfg CNIConfig) ([]byte, error) {
	_, subnet, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cfg.PodCIDR, err)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "skiff0"
	}
	defaultRoute := "0.0.0.0/0"
	if subnet.IP.To4() == nil {
		defaultRoute = "::/0"
	}
	ipam := map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": subnet.String()}}},
		"routes": []map[string]string{{"dst": defaultRoute}},
	}
	if cfg.IPAMDir != "" {
		ipam["dataDir"] = cfg.IPAMDir
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      cfg.Bridge,
		"isGateway":   true,
		"ipMasq":      cfg.Masquerade,
		"hairpinMode": true,
		"ipam":        ipam,
	}
	if cfg.MTU > 0 {
		bridge["mtu"] = cfg.MTU
	}
	list := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "skiff",
		"plugins": []any{
			bridge,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// WriteConflist writes the configuration into dir (atomically), replacing
// any other configuration there so that containerd uses this one.
func WriteConflist(dir string, cfg CNIConfig) error {
	if dir == "" {
		return errors.New("cni: conf dir is required")
	}
	data, err := Conflist(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, ConflistName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
