package etcdtest

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestTransportCacheGoroutines: the goroutines client-go's transport
// cache left behind in a real run (a certificate-file watcher, its queue
// and poller, twice) are all recognised, and no other goroutine is.
func TestTransportCacheGoroutines(t *testing.T) {
	data, err := os.ReadFile("testdata/transport-cache-goroutines.txt")
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Split(string(bytes.TrimSpace(data)), "\n\n")
	other := "goroutine 5 [select]:\nskiff/internal/agent.(*Agent).Run(0x1)\n\t/x/agent.go:1 +0x1\ncreated by skiff/internal/agent.New in goroutine 127\n\t/x/agent.go:2 +0x2"
	all = append(all, other)
	got := transportCacheGoroutines(all)
	for _, g := range all[:len(all)-1] {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		if !got[id] {
			t.Errorf("goroutine %s not recognised:\n%s", id, g)
		}
	}
	if got["5"] {
		t.Error("a goroutine of skiff's own taken for the transport cache's")
	}
	if len(all) < 10 {
		t.Errorf("fixture holds %d goroutines", len(all)-1)
	}
}
