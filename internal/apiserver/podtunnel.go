package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Port-forward over WebSocket: kubectl tunnels SPDY inside WebSocket
// binary messages (subprotocol "SPDY/3.1+portforward.k8s.io"). The SPDY
// frames need no translation, so the API server opens a plain SPDY
// upgrade to the node and copies bytes between the two connections.

// spdyTunnelPrefix marks the tunnelled WebSocket subprotocols.
const spdyTunnelPrefix = "SPDY/3.1+"

// tunnelPortForward serves a WebSocket port-forward request with the
// node's SPDY endpoint at target.
func (s *Server) tunnelPortForward(w http.ResponseWriter, r *http.Request, target *url.URL) {
	var protocols []string
	for _, p := range websocket.Subprotocols(r) {
		if strings.HasPrefix(p, spdyTunnelPrefix) {
			protocols = append(protocols, strings.TrimPrefix(p, spdyTunnelPrefix))
		}
	}
	if len(protocols) == 0 {
		// A plain error fails the client's handshake; it retries over SPDY.
		s.writeError(w, r, apierrors.NewBadRequest("port-forward over websocket needs a SPDY/3.1+ tunnelling subprotocol"))
		return
	}
	backend, br, protocol, err := dialSPDYUpgrade(r.Context(), target, s.cfg.KubeletTLS, protocols)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("port-forward: %w", err)))
		return
	}
	defer backend.Close()
	up := websocket.Upgrader{
		Subprotocols: []string{spdyTunnelPrefix + protocol},
		// The caller is authenticated and authorized already; browsers'
		// origins do not apply to API clients.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(hijackable{w}, r, nil)
	if err != nil {
		// Upgrade has answered the client.
		return
	}
	defer ws.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer backend.Close()
		for {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if mt != websocket.BinaryMessage {
				continue
			}
			if _, err := backend.Write(data); err != nil {
				return
			}
		}
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if werr := ws.WriteMessage(websocket.BinaryMessage, buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	ws.Close()
	wg.Wait()
}

// dialSPDYUpgrade opens a connection to target and upgrades it to SPDY
// with one of protocols; it returns the connection, a reader for what
// follows the 101 answer, and the protocol the node chose.
func dialSPDYUpgrade(ctx context.Context, target *url.URL, tlsCfg *tls.Config, protocols []string) (net.Conn, *bufio.Reader, string, error) {
	cfg := tlsCfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	conn, err := d.DialContext(ctx, "tcp", target.Host)
	if err != nil {
		return nil, nil, "", fmt.Errorf("dial node: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), nil)
	if err != nil {
		conn.Close()
		return nil, nil, "", err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, nil, "", fmt.Errorf("upgrade request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, nil, "", fmt.Errorf("upgrade response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		return nil, nil, "", fmt.Errorf("node refused the upgrade: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return conn, br, resp.Header.Get("X-Stream-Protocol-Version"), nil
}
