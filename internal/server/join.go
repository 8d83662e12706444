package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"skiff/internal/node"
	"skiff/internal/pki"
)

// joinHandlers serves the join protocol for the cluster CA in dataDir/tls.
func joinHandlers(cfg Config, ca *pki.CA, token pki.JoinToken) map[string]http.Handler {
	caPEM := ca.CertPEM()
	return map[string]http.Handler{
		node.JoinCAPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(caPEM)
		}),
		node.JoinPath: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !token.MatchesSecret(secret) {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			var req node.JoinRequest
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
func signJoin(cfg Config, ca *pki.CA, req node.JoinRequest) (node.JoinResponse, error) {
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return node.JoinResponse{}, fmt.Errorf("nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	sans := pki.SANs{DNSNames: []string{req.NodeName, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	for _, s := range req.NodeIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return node.JoinResponse{}, fmt.Errorf("nodeIPs: %q is not an IP address", s)
		}
		sans.IPs = append(sans.IPs, ip)
	}
	var out node.JoinResponse
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
		return node.JoinResponse{}, err
	}
	out.ClusterDNS, out.ClusterDomain, out.ServiceCIDR = cfg.ClusterDNS, cfg.ClusterDomain, cfg.ServiceCIDR
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
