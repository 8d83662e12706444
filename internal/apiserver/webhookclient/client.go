// Package webhookclient reaches the HTTPS webhooks the API server calls
// (admission webhooks, CRD conversion webhooks): it resolves a webhook's
// url or Service reference to the address to POST to and the TLS server
// name to expect, keeps one HTTP client per caBundle and server name so
// that connections are reused, and posts a JSON review.
//
// The caller builds and checks the review; this package only moves bytes.
package webhookclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxResponseBytes bounds what a webhook may answer.
const MaxResponseBytes = 32 << 20

// ServiceRef is a webhook behind a Service (port 443 when Port is nil).
type ServiceRef struct {
	Namespace, Name string
	Path            *string
	Port            *int32
}

// Endpoint is where a webhook listens: URL or Service, and the CA bundle
// that signs its certificate (the system roots when empty).
type Endpoint struct {
	URL      *string
	Service  *ServiceRef
	CABundle []byte
}

// ServiceLookup returns a Service by namespace and name.
type ServiceLookup func(namespace, name string) (*corev1.Service, bool)

// Resolve returns the URL to POST to and the TLS server name to expect.
// A service reference goes to the Service's ClusterIP; the URL carries the
// timeout, as upstream's calls do.
func Resolve(e Endpoint, lookup ServiceLookup, timeout time.Duration) (string, string, error) {
	var u *url.URL
	serverName := ""
	switch {
	case e.URL != nil:
		parsed, err := url.Parse(*e.URL)
		if err != nil {
			return "", "", fmt.Errorf("invalid url: %w", err)
		}
		u = parsed
	case e.Service != nil:
		ref := e.Service
		svc, ok := lookup(ref.Namespace, ref.Name)
		if !ok || svc == nil {
			return "", "", fmt.Errorf("service %q not found", ref.Namespace+"/"+ref.Name)
		}
		if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
			return "", "", fmt.Errorf("service %q has no ClusterIP", ref.Namespace+"/"+ref.Name)
		}
		port := int32(443)
		if ref.Port != nil {
			port = *ref.Port
		}
		u = &url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))}
		if ref.Path != nil {
			u.Path = *ref.Path
		}
		serverName = ref.Name + "." + ref.Namespace + ".svc"
	default:
		return "", "", errors.New("webhook has neither url nor service")
	}
	q := u.Query()
	q.Set("timeout", strconv.Itoa(int((timeout+time.Second-1)/time.Second))+"s")
	u.RawQuery = q.Encode()
	return u.String(), serverName, nil
}

// Pool keeps one HTTP client per CA bundle and server name.
type Pool struct {
	cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	mu   sync.Mutex
	by   map[string]*http.Client
}

// NewPool returns an empty Pool whose clients present no certificate.
func NewPool() *Pool {
	return &Pool{by: map[string]*http.Client{}}
}

// NewClientCertPool returns an empty Pool whose clients present the
// certificate cert returns at each handshake (the front-proxy client
// certificate, for extension API servers; renewed while they run).
func NewClientCertPool(cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *Pool {
	return &Pool{cert: cert, by: map[string]*http.Client{}}
}

// Client returns the client that trusts ca (the system roots when empty)
// and expects serverName (the URL's host when empty).
func (p *Pool) Client(serverName string, ca []byte) (*http.Client, error) {
	return p.client(serverName, ca, false)
}

// InsecureClient returns a client that does not verify the server.
func (p *Pool) InsecureClient() *http.Client {
	cl, _ := p.client("", nil, true)
	return cl
}

func (p *Pool) client(serverName string, ca []byte, insecure bool) (*http.Client, error) {
	key := serverName + "\x00" + string(ca)
	if insecure {
		key = "\x00insecure"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cl, ok := p.by[key]; ok {
		return cl, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: insecure}
	if p.cert != nil {
		cfg.GetClientCertificate = p.cert
	}
	if len(ca) > 0 && !insecure {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("unable to load root certificates: no certificates found in caBundle")
		}
		cfg.RootCAs = pool
	}
	cl := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
	if len(p.by) >= 256 {
		for k, old := range p.by {
			old.CloseIdleConnections()
			delete(p.by, k)
		}
	}
	p.by[key] = cl
	return cl, nil
}

// Post sends body as JSON to e within timeout and returns the answer of a
// 2xx response. Errors read as upstream's ("failed to call webhook: ...").
func (p *Pool) Post(ctx context.Context, e Endpoint, lookup ServiceLookup, timeout time.Duration, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target, serverName, err := Resolve(e, lookup, timeout)
	if err != nil {
		return nil, err
	}
	client, err := p.Client(serverName, e.CABundle)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("failed to call webhook: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("failed to call webhook: %s", httpFailure(resp.StatusCode, data))
	}
	return data, nil
}

func httpFailure(code int, body []byte) string {
	st := &metav1.Status{}
	if json.Unmarshal(body, st) == nil && st.Message != "" {
		return st.Message
	}
	return fmt.Sprintf("the server responded with HTTP status %d", code)
}
