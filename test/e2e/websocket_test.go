package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/websocket"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// websocketSession dials path on the cluster's API server with the admin
// credentials over WebSocket, asking for protocol, and returns every
// message until the server closes.
func websocketSession(t *testing.T, c *cluster, path, protocol string) [][]byte {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.dataDir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.Host + path)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "wss"
	wcfg, err := websocket.NewConfig(u.String(), "http://localhost")
	if err != nil {
		t.Fatal(err)
	}
	wcfg.TlsConfig, wcfg.Protocol, wcfg.Header = tlsCfg, []string{protocol}, http.Header{}
	if cfg.BearerToken != "" {
		wcfg.Header.Set("Authorization", "Bearer "+cfg.BearerToken)
	}
	ws, err := websocket.DialConfig(wcfg)
	if err != nil {
		t.Fatalf("websocket %s (%s): %v", path, protocol, err)
	}
	defer ws.Close()
	var msgs [][]byte
	for {
		var msg []byte
		if err := websocket.Message.Receive(ws, &msg); err != nil {
			if err != io.EOF {
				t.Fatalf("websocket %s: %v", path, err)
			}
			return msgs
		}
		msgs = append(msgs, msg)
	}
}

// testWebSockets checks the older WebSocket protocols that upstream's
// clients and conformance suite still speak: exec over channel.k8s.io
// (stdout on channel 1, nothing on the error channel when the command
// succeeds), and logs over binary.k8s.io.
func testWebSockets(t *testing.T, c *cluster, pod string) {
	msgs := websocketSession(t, c, fmt.Sprintf("/api/v1/namespaces/default/pods/%s/exec?command=echo&command=remote+execution+test&container=main&stdout=1&stderr=1", pod), "channel.k8s.io")
	var stdout bytes.Buffer
	for _, m := range msgs {
		switch {
		case len(m) == 0 || len(m) == 1:
		case m[0] == 1:
			stdout.Write(m[1:])
		default:
			t.Errorf("exec message on channel %d: %q", m[0], m[1:])
		}
	}
	if stdout.String() != "remote execution test\n" {
		t.Errorf("exec stdout over channel.k8s.io = %q", stdout.String())
	}
	msgs = websocketSession(t, c, fmt.Sprintf("/api/v1/namespaces/default/pods/%s/log?container=main", pod), "binary.k8s.io")
	if logs := string(bytes.Join(msgs, nil)); !strings.HasPrefix(logs, "one\ntwo\nthree\n") {
		t.Errorf("logs over binary.k8s.io = %q", logs)
	}
}
