package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"skiff/internal/pki"
)

// Paths of the join protocol, served next to the Kubernetes API. /cacerts
// is public (the node checks it against the hash in its token); /join
// needs the token's secret as a bearer token.
const (
	joinCAPath = "/skiff/v1/cacerts"
	joinPath   = "/skiff/v1/join"
)

// joinRequest is what a node sends: its name and addresses, and one
// certificate request per credential it needs.
type joinRequest struct {
	NodeName string   `json:"nodeName"`
	NodeIPs  []string `json:"nodeIPs,omitempty"`
	// NodeCSR becomes the node's client certificate (system:node:<name>
	// in system:nodes), ProxyCSR the service proxy's (system:kube-proxy),
	// ServingCSR the serving certificate of the node's kubelet API.
	NodeCSR    string `json:"nodeCSR"`
	ProxyCSR   string `json:"proxyCSR"`
	ServingCSR string `json:"servingCSR"`
}

// joinResponse carries the signed certificates and the cluster's settings.
type joinResponse struct {
	CA          string `json:"ca"`
	NodeCert    string `json:"nodeCert"`
	ProxyCert   string `json:"proxyCert"`
	ServingCert string `json:"servingCert"`
	// ClusterDNS, ClusterDomain and ServiceCIDR are the server's, so that
	// nodes need no flags for them.
	ClusterDNS    string `json:"clusterDNS"`
	ClusterDomain string `json:"clusterDomain"`
	ServiceCIDR   string `json:"serviceCIDR"`
}

// joinHandlers serves the join protocol for the cluster CA in dataDir/tls.
func joinHandlers(cfg Config, ca *pki.CA, token pki.JoinToken) map[string]http.Handler {
	caPEM := ca.CertPEM()
	return map[string]http.Handler{
		joinCAPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(caPEM)
		}),
		joinPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !token.MatchesSecret(secret) {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			var req joinRequest
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
				http.Error(w, "bad join request: "+err.Error(), http.StatusBadRequest)
				return
			}
			resp, err := signJoin(cfg, ca, req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			resp.CA = string(caPEM)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
			cfg.Logger.Info("node joined", "node", req.NodeName, "from", r.RemoteAddr)
		}),
	}
}

// signJoin checks a join request and signs its certificates.
func signJoin(cfg Config, ca *pki.CA, req joinRequest) (joinResponse, error) {
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return joinResponse{}, fmt.Errorf("nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	sans := pki.SANs{DNSNames: []string{req.NodeName, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return joinResponse{}, fmt.Errorf("nodeIPs: %q is not an IP address", s)
		}
		sans.IPs = append(sans.IPs, ip)
	}
	var out joinResponse
	var err error
	sign := func(dst *string, f func() ([]byte, error)) {
		if err != nil {
			return
		}
		var b []byte
		b, err = f()
		*dst = string(b)
	}
	sign(&out.NodeCert, func() ([]byte, error) {
		return ca.ClientCertFromCSR([]byte(req.NodeCSR), "system:node:"+req.NodeName, []string{"system:nodes"})
	})
	sign(&out.ProxyCert, func() ([]byte, error) {
		return ca.ClientCertFromCSR([]byte(req.ProxyCSR), "system:kube-proxy", nil)
	})
	sign(&out.ServingCert, func() ([]byte, error) {
		return ca.ServingCertFromCSR([]byte(req.ServingCSR), req.NodeName, sans)
	})
	if err != nil {
		return joinResponse{}, err
	}
	out.ClusterDNS, out.ClusterDomain, out.ServiceCIDR = cfg.ClusterDNS, cfg.ClusterDomain, cfg.ServiceCIDR
	return out, nil
}

// fetchClusterCA reads the server's CA certificate without trusting the
// server yet, and keeps it only if it has the hash the token names.
func fetchClusterCA(ctx context.Context, serverURL string, token pki.JoinToken) ([]byte, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The answer is checked against the token's hash below.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(serverURL, "/")+joinCAPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", joinCAPath, resp.Status)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the server sent no CA certificate")
	}
	if got := pki.CertHash(block.Bytes); got != token.CAHash {
		return nil, fmt.Errorf("the server's CA has hash %s, the join token names %s: wrong server or token", got, token.CAHash)
	}
	return body, nil
}

// requestJoin sends req to the server, trusting only caPEM.
func requestJoin(ctx context.Context, serverURL string, token pki.JoinToken, caPEM []byte, req joinRequest) (joinResponse, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	body, err := json.Marshal(req)
	if err != nil {
		return joinResponse{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL, "/")+joinPath, bytes.NewReader(body))
	if err != nil {
		return joinResponse{}, err
	}
	hreq.Header.Set("Authorization", "Bearer "+token.Secret)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return joinResponse{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return joinResponse{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return joinResponse{}, fmt.Errorf("join refused: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var out joinResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return joinResponse{}, fmt.Errorf("join answer: %w", err)
	}
	return out, nil
}

// setUpJoin makes (or keeps) the cluster's join token, writes it to
// <data-dir>/node-token for `skiff agent --token`, and returns the join
// protocol's handlers.
func setUpJoin(cfg Config) (map[string]http.Handler, error) {
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir)
	if err != nil {
		return nil, err
	}
	token, err := ca.LoadOrCreateJoinToken(tlsDir)
	if err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "node-token"), []byte(token.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("join token: %w", err)
	}
	return joinHandlers(cfg, ca, token), nil
}
