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

// wsStreamProtocols are the WebSocket subprotocols translated.
var wsStreamProtocols = []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}

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
	for _, p := range wsStreamProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(4 * time.Hour)
	_, streams, err := conn.Open(hijackable{w}, r)
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
	_, _ = streams[chanError].Write(streamStatus(err))
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
