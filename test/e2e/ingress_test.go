package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ingressBackends are three web Deployments (alpha, beta, fallback),
// each answering its name at /, /api/ and /new/, and the headers it got
// from the ingress at /cgi-bin/h, with a Service on port 80 each.
func ingressBackends() string {
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: ConfigMap
metadata:
  name: cgi
data:
  h: |
    #!/bin/sh
    echo "Content-Type: text/plain"
    echo
    echo "xff=$HTTP_X_FORWARDED_FOR proto=$HTTP_X_FORWARDED_PROTO host=$HTTP_X_FORWARDED_HOST port=$HTTP_X_FORWARDED_PORT"
`)
	for _, name := range []string{"alpha", "beta", "fallback"} {
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: httpd
        image: %[2]s
        command: ["sh", "-c", "mkdir -p /w/api /w/new && for d in /w /w/api /w/new; do echo %[1]s > $d/index.html; done && exec httpd -f -p 8080 -h /w"]
        ports:
        - {name: http, containerPort: 8080}
        volumeMounts:
        - {name: cgi, mountPath: /w/cgi-bin}
      volumes:
      - name: cgi
        configMap: {name: cgi, defaultMode: 0755}
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - {name: http, port: 80, targetPort: http}
`, name, testImage)
	}
	return b.String()
}

// ingresses route alpha.test (with /api to beta), *.wild.test and the
// TLS host secure.test; anything else goes to the default backend.
const ingresses = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: one
spec:
  defaultBackend:
    service: {name: fallback, port: {number: 80}}
  rules:
  - host: alpha.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: beta, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: two
spec:
  tls:
  - hosts: [secure.test]
    secretName: secure-tls
  rules:
  - host: secure.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
  - host: "*.wild.test"
    http:
      paths:
      - {path: /, pathType: ImplementationSpecific, backend: {service: {name: alpha, port: {number: 80}}}}
`

// TestIngress runs the built-in ingress controller of a node on free
// ports and sends it requests as a client of the node would: host and
// path rules of two Ingresses, a wildcard host, the default backend,
// TLS with the Ingress's certificate over HTTP/2, X-Forwarded-* headers,
// the Ingress's status, and a rule change under a stream of requests,
// none of which may fail.
func TestIngress(t *testing.T) {
	httpPort, httpsPort := freeTCPPort(t), freeTCPPort(t)
	c := startNode(t, "--ingress-http-port", strconv.Itoa(httpPort), "--ingress-https-port", strconv.Itoa(httpsPort))
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t, "secure.test")
	for name, data := range map[string]string{"backends.yaml": ingressBackends(), "ingresses.yaml": ingresses,
		"tls.crt": string(certPEM), "tls.key": string(keyPEM)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.kubectl(t, "create", "secret", "tls", "secure-tls", "--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key"))
	c.kubectl(t, "apply", "-f", filepath.Join(dir, "backends.yaml"))
	c.kubectl(t, "apply", "-f", filepath.Join(dir, "ingresses.yaml"))
	for _, d := range []string{"alpha", "beta", "fallback"} {
		c.kubectl(t, "rollout", "status", "deployment/"+d, "--timeout=120s")
	}
	out := c.kubectl(t, "get", "ingressclass", "skiff", "-o", "jsonpath={.spec.controller} {.metadata.annotations}")
	mustContain(t, "ingressclass skiff", out, "skiff.dev/ingress", `"ingressclass.kubernetes.io/is-default-class":"true"`)

	plain := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	client := &http.Client{Timeout: 5 * time.Second}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "secure.test"}}}
	secure := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort))

	// Routes appear once the Deployments' endpoints are ready.
	tests := []struct {
		what       string
		c          *http.Client
		url, host  string
		want       string
		wantProto2 bool
	}{
		{"host rule", client, plain + "/", "alpha.test", "alpha", false},
		{"longer prefix of the same host", client, plain + "/api/", "alpha.test", "beta", false},
		{"wildcard host", client, plain + "/", "x.wild.test", "alpha", false},
		{"unknown host: default backend", client, plain + "/", "wrong.test", "fallback", false},
		{"TLS host over HTTP/2", tlsClient, secure + "/", "secure.test", "beta", true},
		{"forwarded headers", tlsClient, secure + "/cgi-bin/h", "secure.test",
			"xff=127.0.0.1 proto=https host=secure.test port=" + strconv.Itoa(httpsPort), true},
	}
	for _, tt := range tests {
		ingressWait(t, 60*time.Second, tt.what, func() (bool, string) {
			body, proto, err := ingressGet(tt.c, tt.url, tt.host)
			if err != nil {
				return false, err.Error()
			}
			return body == tt.want && (!tt.wantProto2 || proto == 2), fmt.Sprintf("HTTP/%d %q; want %q", proto, body, tt.want)
		})
	}

	// The Ingresses' status names the node's address.
	nodeIP := strings.TrimSpace(c.kubectl(t, "get", "nodes", "-o", `jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}`))
	for _, name := range []string{"one", "two"} {
		ingressWait(t, 30*time.Second, "status of ingress "+name, func() (bool, string) {
			out, err := c.kubectlErr("get", "ingress", name, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
			return err == nil && strings.TrimSpace(out) == nodeIP, out
		})
	}

	// A rule added while a client sends requests one after another: each
	// gets an answer from alpha before the change and from fallback after
	// it, never an error.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sent, failed, switched int
		firstFailure           string
	}
	done := make(chan result, 1)
	go func() {
		var r result
		var switchedAt time.Time
		for ctx.Err() == nil {
			body, _, err := ingressGet(client, plain+"/new/", "alpha.test")
			r.sent++
			switch {
			case err == nil && body == "alpha" && r.switched == 0:
			case err == nil && body == "fallback":
				if r.switched++; r.switched == 1 {
					switchedAt = time.Now()
				}
			default:
				r.failed++
				if r.firstFailure == "" {
					r.firstFailure = fmt.Sprintf("%q %v", body, err)
				}
			}
			// Keep going a while after the change took effect.
			if r.switched > 0 && time.Since(switchedAt) > 2*time.Second {
				break
			}
		}
		done <- r
	}()
	time.Sleep(time.Second) // requests before the change
	c.kubectl(t, "patch", "ingress", "one", "--type=json", "-p",
		`[{"op":"add","path":"/spec/rules/0/http/paths/-","value":{"path":"/new","pathType":"Prefix","backend":{"service":{"name":"fallback","port":{"number":80}}}}}]`)
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		cancel()
		r = <-done
	}
	t.Logf("rule change under load: %d requests, %d after the change took effect, %d failed", r.sent, r.switched, r.failed)
	if r.switched == 0 {
		t.Errorf("the new rule never took effect")
	}
	if r.failed != 0 {
		t.Errorf("%d of %d requests failed during the rule change; first: %s", r.failed, r.sent, r.firstFailure)
	}
}

// ingressGet sends GET url with Host host and returns the trimmed body
// of a 200 answer and the HTTP major version.
func ingressGet(c *http.Client, url, host string) (string, int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.ProtoMajor, err
	}
	if resp.StatusCode != http.StatusOK {
		return strings.TrimSpace(string(b)), resp.ProtoMajor, fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), resp.ProtoMajor, nil
}

// ingressWait polls cond until it holds or timeout passes.
func ingressWait(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %s", what, last, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeTCPPort is a port nothing listens on at the moment.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSignedCert returns a self-signed certificate and its key, PEM, for
// host.
func selfSignedCert(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestIngressOnJoinedAgent checks that a node that joined with `skiff
// agent` runs the ingress controller with the identity it got at join:
// a client on the server's node reaches a backend through the agent's
// port 80, and the Ingress's status lists both nodes.
func TestIngressOnJoinedAgent(t *testing.T) {
	nc := startNetCluster(t, 1)
	server, agent := nc.nodes[0], nc.nodes[1]
	dir := t.TempDir()
	for name, data := range map[string]string{"backends.yaml": ingressBackends(), "ingresses.yaml": ingresses} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nc.kubectl(t, "apply", "-f", filepath.Join(dir, "backends.yaml"))
	nc.kubectl(t, "apply", "-f", filepath.Join(dir, "ingresses.yaml"))
	for _, d := range []string{"alpha", "beta", "fallback"} {
		nc.kubectl(t, "rollout", "status", "deployment/"+d, "--timeout=180s")
	}
	for _, n := range nc.nodes {
		ingressWait(t, 60*time.Second, "alpha.test through "+n.name, func() (bool, string) {
			out, err := server.in("timeout", "5", "busybox", "wget", "-q", "-O-", "--header", "Host: alpha.test", "http://"+n.ip+"/api/")
			return err == nil && strings.TrimSpace(out) == "beta", fmt.Sprintf("%q %v", out, err)
		})
	}
	want := server.ip + " " + agent.ip
	ingressWait(t, 30*time.Second, "status of ingress one", func() (bool, string) {
		out, err := nc.kubectlErr("get", "ingress", "one", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		return err == nil && strings.TrimSpace(out) == want, out
	})
}
