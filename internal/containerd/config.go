package containerd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// Config configures the supervised containerd.
type Config struct {
	// Dir holds containerd's root, state, socket and configuration
	// (<data-dir>/containerd). Required.
	Dir string
	// Binary is the containerd executable (default "containerd" on PATH).
	Binary string
	// CtrBinary is containerd's CLI, used to import images (default "ctr").
	CtrBinary string
	// CNIBinDir holds the CNI plugins (default /usr/lib/cni).
	CNIBinDir string
	// CNIConfDir holds the node's CNI configuration (default Dir/cni).
	CNIConfDir string
	// SandboxImage is the pause image every pod sandbox runs.
	SandboxImage string
	// StreamAddress is where the CRI streaming server (exec, attach,
	// port-forward) listens (default 127.0.0.1).
	StreamAddress string
	// NetNS, when set, is a network namespace path containerd runs in
	// (for several nodes on one machine); it is entered with nsenter.
	NetNS string
}

func (c *Config) setDefaults() {
	if c.Binary == "" {
		c.Binary = "containerd"
	}
	if c.CtrBinary == "" {
		c.CtrBinary = "ctr"
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = "/usr/lib/cni"
	}
	if c.CNIConfDir == "" {
		c.CNIConfDir = filepath.Join(c.Dir, "cni")
	}
	if c.SandboxImage == "" {
		c.SandboxImage = DefaultSandboxImage
	}
	if c.StreamAddress == "" {
		c.StreamAddress = "127.0.0.1"
	}
}

// DefaultSandboxImage names the pause image skiff builds and imports.
const DefaultSandboxImage = "localhost/skiff/pause:1"

// Socket is the CRI (and containerd) gRPC socket.
func (c *Config) Socket() string { return filepath.Join(c.Dir, "containerd.sock") }

func (c *Config) configFile() string { return filepath.Join(c.Dir, "config.toml") }

// The settings that matter on these hosts (see the node runtime notes):
// restrict_oom_score_adj because root lacks CAP_SYS_RESOURCE, cgroupfs since
// there is no systemd, no AppArmor, and every path under Dir so that several
// instances can run side by side.
var configTemplate = template.Must(template.New("config").Parse(`version = 2
root = "{{.Dir}}/root"
state = "{{.Dir}}/state"
oom_score = 0

[grpc]
  address = "{{.Dir}}/containerd.sock"

[ttrpc]
  address = "{{.Dir}}/containerd.sock.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.SandboxImage}}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "{{.StreamAddress}}"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{.Dir}}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.CNIConfDir}}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{{.Dir}}/certs.d"
`))

// renderConfig returns containerd's config.toml for c.
func renderConfig(c Config) ([]byte, error) {
	var buf bytes.Buffer
	if err := configTemplate.Execute(&buf, c); err != nil {
		return nil, fmt.Errorf("render containerd config: %w", err)
	}
	return buf.Bytes(), nil
}

// writeConfig writes the config and creates the folders it names.
func writeConfig(c Config) error {
	for _, d := range []string{c.Dir, c.CNIConfDir, filepath.Join(c.Dir, "certs.d")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	data, err := renderConfig(c)
	if err != nil {
		return err
	}
	tmp := c.configFile() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.configFile())
}
