package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the configuration of a Server.
type Config struct {
	// HTTPAddr and HTTPSAddr are the listen addresses (":80", ":443").
	// "-" turns one off.
	HTTPAddr, HTTPSAddr string
	// Transport carries requests to the backends (a tuned
	// http.Transport when nil).
	Transport http.RoundTripper
	// Logger receives errors; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":80"
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = ":443"
	}
	if c.Transport == nil {
		c.Transport = &http.Transport{
			Proxy:                 nil, // backends are pod IPs: never through an HTTP proxy
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the ingress data plane: HTTP and HTTPS listeners that route
// each request by the current Table. SetTable swaps the table; the
// listeners and the connections on them stay.
type Server struct {
	cfg      Config
	table    atomic.Pointer[Table]
	proxy    *httputil.ReverseProxy
	fallback tls.Certificate
	lns      []listener
}

type listener struct {
	ln    net.Listener
	https bool
}

// New builds a Server with an empty table (every request gets 404 until
// SetTable).
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	s := &Server{cfg: cfg}
	s.table.Store(Build(State{}))
	fallback, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	s.fallback = fallback
	s.proxy = &httputil.ReverseProxy{
		Rewrite:   s.rewrite,
		Transport: cfg.Transport,
		// FlushInterval stays 0: ReverseProxy already flushes each
		// write of a streamed answer (no Content-Length, or server-sent
		// events), and buffers the others.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				cfg.Logger.Warn("ingress backend failed", "host", r.Host, "path", r.URL.Path, "err", err)
			}
			http.Error(w, "502 bad gateway", http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// SetTable makes t the routing table of every request from now on.
// Requests already routed finish with the backend they got.
func (s *Server) SetTable(t *Table) { s.table.Store(t) }

// Listen opens the listeners, so that a busy port fails the caller.
func (s *Server) Listen() error {
	for _, l := range []struct {
		addr  string
		https bool
	}{{s.cfg.HTTPAddr, false}, {s.cfg.HTTPSAddr, true}} {
		if l.addr == "-" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("ingress: listen: %w", err)
		}
		s.lns = append(s.lns, listener{ln, l.https})
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, l := range s.lns {
		_ = l.ln.Close()
	}
	s.lns = nil
}

// Addrs are the listeners' addresses, HTTP first (after Listen).
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, l := range s.lns {
		out = append(out, l.ln.Addr())
	}
	return out
}

// Run serves until ctx is done (calling Listen first if the caller did
// not), then shuts down gracefully: in-flight requests get a few seconds.
func (s *Server) Run(ctx context.Context) error {
	if s.lns == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	var servers []*http.Server
	errc := make(chan error, len(s.lns))
	var wg sync.WaitGroup
	for _, l := range s.lns {
		hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug)}
		if l.https {
			hs.TLSConfig = &tls.Config{
				MinVersion:     tls.VersionTLS12,
				NextProtos:     []string{"h2", "http/1.1"},
				GetCertificate: s.certificate,
			}
		}
		servers = append(servers, hs)
		wg.Go(func() {
			var err error
			if l.https {
				err = hs.ServeTLS(l.ln, "", "")
			} else {
				err = hs.Serve(l.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	}
	wg.Wait()
	s.lns = nil
	return err
}

// certificate picks the certificate of the TLS host the client names,
// and a self-signed one when no Ingress has one for it.
func (s *Server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.table.Load().Certificate(hello.ServerName); c != nil {
		return c, nil
	}
	return &s.fallback, nil
}

// backendKey carries the chosen endpoint from ServeHTTP to rewrite.
type backendKey struct{}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	b, ok := s.table.Load().Route(host, r.URL.Path)
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	addr := b.Pick()
	if addr == "" {
		http.Error(w, "503 service unavailable: no ready endpoints for "+b.Name, http.StatusServiceUnavailable)
		return
	}
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, addr)))
}

// rewrite points the outgoing request at the chosen endpoint, keeps the
// client's Host and sets X-Forwarded-For, -Host, -Proto and -Port.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	addr, _ := pr.In.Context().Value(backendKey{}).(string)
	pr.SetURL(&url.URL{Scheme: "http", Host: addr})
	pr.Out.Host = pr.In.Host
	// The client's own X-Forwarded-* are not trusted: Rewrite has
	// dropped them, and these name the client as the ingress saw it.
	pr.SetXForwarded()
	port := ""
	if la, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	if port != "" {
		pr.Out.Header.Set("X-Forwarded-Port", port)
	}
}

// selfSigned makes the certificate served to a client whose server name
// no Ingress has a certificate for.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "skiff ingress default certificate"},
		DNSNames:     []string{"ingress.local"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
