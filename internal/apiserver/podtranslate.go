package apiserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Exec and attach over WebSocket: kubectl speaks the channel protocol
// (v5.channel.k8s.io, or v4) to the API server, and the node only SPDY,
// so the API server ends the WebSocket here and runs the session to the
// node as an SPDY client, copying the streams between them and writing
// the outcome as a Status on the error channel, as upstream's translator
// does.

// Channel numbers of the channel protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// wsStreamProtocols are the WebSocket subprotocols translated, binary
// and base64-encoded: v4 and v5 end with a Status on the error channel;
// the older ones write only a failure there, as text.
var wsStreamProtocols = map[string]bool{
	"v5.channel.k8s.io": true, "v4.channel.k8s.io": true,
	"v3.channel.k8s.io": true, "v2.channel.k8s.io": true, "channel.k8s.io": true,
	"v4.base64.channel.k8s.io": false, "v3.base64.channel.k8s.io": false, "v2.base64.channel.k8s.io": false, "base64.channel.k8s.io": false,
}

// statusProtocols end a session with a Status on the error channel.
var statusProtocols = map[string]bool{"v5.channel.k8s.io": true, "v4.channel.k8s.io": true, "v4.base64.channel.k8s.io": true}

// translateStream serves an exec or attach WebSocket request by running it
// against the node's SPDY endpoint at target.
func (s *Server) translateStream(w http.ResponseWriter, r *http.Request, target *url.URL) {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "1" || v == "true" }
	stdin, stdout, stderr, tty := on("stdin"), on("stdout"), on("stderr"), on("tty")
	rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{TLS: s.cfg.KubeletTLS.Clone(), PingPeriod: 5 * time.Second})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("stream translate: %w", err))
		return
	}
	executor, err := remotecommand.NewSPDYExecutorForTransports(rt, rt, http.MethodPost, target)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("stream translate: %w", err))
		return
	}
	kind := func(on bool, k wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return k
		}
		return wsstream.IgnoreChannel
	}
	channels := []wsstream.ChannelType{
		kind(stdin, wsstream.ReadChannel),
		kind(stdout, wsstream.WriteChannel),
		kind(stderr && !tty, wsstream.WriteChannel),
		wsstream.WriteChannel,
		kind(tty, wsstream.ReadChannel),
	}
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for p, binary := range wsStreamProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: binary, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(4 * time.Hour)
	proto, streams, err := conn.Open(hijackable{w}, r)
	if err != nil {
		// Open has answered the client already.
		s.log.Debug("websocket stream open", "err", err)
		return
	}
	defer conn.Close()
	opts := remotecommand.StreamOptions{Tty: tty}
	if stdin {
		opts.Stdin = streams[chanStdin]
	}
	if stdout {
		opts.Stdout = streams[chanStdout]
	}
	if stderr && !tty {
		opts.Stderr = streams[chanStderr]
	}
	if tty {
		opts.TerminalSizeQueue = &resizeQueue{dec: json.NewDecoder(streams[chanResize])}
	}
	err = executor.StreamWithContext(r.Context(), opts)
	switch {
	case statusProtocols[proto]:
		_, _ = streams[chanError].Write(streamStatus(err))
	case err != nil:
		_, _ = streams[chanError].Write([]byte(err.Error()))
	}
}

// streamStatus is the error channel's final message for err.
func streamStatus(err error) []byte {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	if err != nil {
		st.Status = metav1.StatusFailure
		st.Message = err.Error()
		var exit utilexec.ExitError
		if errors.As(err, &exit) && exit.Exited() {
			st.Reason = "NonZeroExitCode"
			st.Message = fmt.Sprintf("command terminated with non-zero exit code: %v", err)
			st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(exit.ExitStatus())}}}
		} else {
			st.Reason = metav1.StatusReasonInternalError
			st.Code = http.StatusInternalServerError
		}
	}
	b, _ := json.Marshal(st)
	return b
}

// resizeQueue reads terminal sizes from the resize channel.
type resizeQueue struct{ dec *json.Decoder }

// Next blocks for the next size; nil ends the session's resizing.
func (q *resizeQueue) Next() *remotecommand.TerminalSize {
	var size remotecommand.TerminalSize
	if err := q.dec.Decode(&size); err != nil {
		return nil
	}
	return &size
}

// hijackable gives the WebSocket library, which type-asserts
// http.Hijacker, the hijack of a wrapped ResponseWriter (the metrics
// recorder exposes it only through Unwrap).
type hijackable struct{ http.ResponseWriter }

// Hijack takes over the connection.
func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// logProtocols are the WebSocket subprotocols a log is streamed in: the
// log's bytes as binary messages, or base64-encoded text ones.
var logProtocols = map[string]wsstream.ReaderProtocolConfig{
	"":                     {Binary: true},
	"binary.k8s.io":        {Binary: true},
	"base64.binary.k8s.io": {Binary: false},
}

// logWebSocket serves pods/log over WebSocket, as upstream: it reads the
// log from the node and sends it in messages until the log ends or the
// client goes.
func (s *Server) logWebSocket(w http.ResponseWriter, r *http.Request, target *url.URL) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target.String(), nil)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: s.cfg.KubeletTLS.Clone(), DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("logs from node: %w", err)))
		return
	}
	if resp.StatusCode >= 400 {
		s.writeError(w, r, nodeError(resp))
		return
	}
	defer resp.Body.Close()
	reader := wsstream.NewReader(resp.Body, true, logProtocols)
	if err := reader.Copy(hijackable{w}, r); err != nil {
		s.log.Debug("websocket log", "err", err)
	}
}
