package apiserver

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Pod streaming subresources (log, exec, attach, portforward) are served
// by the node the pod runs on: the API server finds the node's kubelet
// endpoint (InternalIP and status.daemonEndpoints.kubeletEndpoint.port),
// and reverse-proxies the request there over mutual TLS, upgrades
// included. containerd's streaming server speaks only SPDY: kubectl's
// WebSocket exec and attach (v5.channel.k8s.io) are translated here
// (podtranslate.go), and its WebSocket port-forward, SPDY tunnelled in
// WebSocket messages, is unwrapped (podtunnel.go). SPDY requests pass
// through as they are.

var podsGR = schema.GroupResource{Resource: "pods"}

// servePodStream serves pods/log, exec, attach and portforward.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, info requestInfo) {
	switch {
	case info.subresource == "log" && info.verb == "get":
	case info.subresource != "log" && (info.verb == "get" || info.verb == "create"):
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + info.subresource}, info.verb))
		return
	}
	if info.subresource != "log" {
		if err := s.admitConnect(r.Context(), info, r.URL.Query()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if s.cfg.KubeletTLS == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("no client credentials configured for the node agents"))
		return
	}
	obj, ok := s.Object("", "v1", "pods", info.namespace, info.name)
	pod, isPod := obj.(*corev1.Pod)
	if !ok || !isPod {
		s.writeError(w, r, apierrors.NewNotFound(podsGR, info.name))
		return
	}
	q := r.URL.Query()
	container := q.Get("container")
	if info.subresource != "portforward" {
		c, err := podContainer(pod, container)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		container = c
	}
	if pod.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	host, err := s.kubeletHost(pod.Spec.NodeName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	target := &url.URL{Scheme: "https", Host: host}
	switch info.subresource {
	case "log":
		target.Path = "/containerLogs/" + pod.Namespace + "/" + pod.Name + "/" + container
		out := url.Values{}
		for _, k := range []string{"follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes"} {
			if v := q.Get(k); v != "" {
				out.Set(k, v)
			}
		}
		target.RawQuery = out.Encode()
	case "portforward":
		target.Path = "/portforward/" + pod.Namespace + "/" + pod.Name
		target.RawQuery = r.URL.RawQuery
	default:
		target.Path = "/" + info.subresource + "/" + pod.Namespace + "/" + pod.Name + "/" + container
		out := url.Values{}
		for k, vs := range q {
			if k != "container" {
				out[k] = vs
			}
		}
		target.RawQuery = out.Encode()
	}
	if isWebSocketUpgrade(r) {
		switch info.subresource {
		case "portforward":
			s.tunnelPortForward(w, r, target)
			return
		case "exec", "attach":
			s.translateStream(w, r, target)
			return
		case "log":
			s.logWebSocket(w, r, target)
			return
		}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			// The node authenticates the API server by its certificate;
			// the caller's credentials stay here.
			pr.Out.Header.Del("Authorization")
		},
		// One connection per request: nothing would reap idle ones of a
		// transport made here.
		Transport:     &http.Transport{TLSClientConfig: s.cfg.KubeletTLS.Clone(), DisableKeepAlives: true},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("proxy to node %s: %w", pod.Spec.NodeName, err)))
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 400 && info.subresource == "log" {
				// The node's plain-text error becomes a Status, as
				// kubectl prints it.
				return nodeError(resp)
			}
			return nil
		},
	}
	rp.ServeHTTP(w, r)
}

// nodeError turns a node's error answer into an API error.
func nodeError(resp *http.Response) error {
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	msg := strings.TrimSpace(string(buf[:n]))
	if resp.StatusCode == http.StatusNotFound {
		return apierrors.NewNotFound(podsGR, msg)
	}
	return apierrors.NewBadRequest(msg)
}

// podContainer picks the container a log, exec or attach is for: the
// named one, or the only one (or the default-container annotation's).
func podContainer(pod *corev1.Pod, name string) (string, error) {
	all := make([]string, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	var initNames []string
	for _, c := range pod.Spec.InitContainers {
		initNames = append(initNames, c.Name)
	}
	if name == "" {
		if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
			name = d
		} else if len(all) == 1 {
			return all[0], nil
		} else {
			msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, all)
			if len(initNames) > 0 {
				msg += fmt.Sprintf(" or one of the init containers: %v", initNames)
			}
			return "", apierrors.NewBadRequest(msg)
		}
	}
	for _, c := range append(all, initNames...) {
		if c == name {
			return name, nil
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// kubeletHost is host:port of a node's agent API.
func (s *Server) kubeletHost(nodeName string) (string, error) {
	obj, ok := s.Object("", "v1", "nodes", "", nodeName)
	var node *corev1.Node
	if ok {
		node, ok = obj.(*corev1.Node)
	}
	if !ok {
		return "", apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, nodeName)
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = 10250
	}
	addr := ""
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && addr == "" {
				addr = a.Address
			}
		}
	}
	if addr == "" {
		return "", apierrors.NewBadRequest(fmt.Sprintf("node %s has no address", nodeName))
	}
	return net.JoinHostPort(addr, strconv.Itoa(port)), nil
}

// isWebSocketUpgrade reports whether r asks to switch to WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
