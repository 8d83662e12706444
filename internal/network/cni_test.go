package network

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConflist(t *testing.T) {
	data, err := Conflist(CNIConfig{PodCIDR: "10.42.3.0/24", IPAMDir: "/var/lib/skiff/cni/ipam", Masquerade: true})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "skiff",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "skiff0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  []any{[]any{map[string]any{"subnet": "10.42.3.0/24"}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": "/var/lib/skiff/cni/ipam",
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}, "snat": true},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conflist (-want +got):\n%s", diff)
	}
	if _, err := Conflist(CNIConfig{PodCIDR: "nope"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}
