package containerd

import (
	"strings"
	"testing"
)

func TestRenderConfig(t *testing.T) {
	c := Config{Dir: "/var/lib/skiff/containerd"}
	c.setDefaults()
	data, err := renderConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`address = "/var/lib/skiff/containerd/containerd.sock"`,
		`restrict_oom_score_adj = true`,
		`SystemdCgroup = false`,
		`Root = "/var/lib/skiff/containerd/runc"`,
		`netns_mounts_under_state_dir = true`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/var/lib/skiff/containerd/cni"`,
		`sandbox_image = "localhost/skiff/pause:1"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %s:\n%s", want, data)
		}
	}
}
