package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// PostJSON posts in as JSON to path on the server, trusting only caPEM,
// with the bearer token or client certificates given, and decodes the
// answer into out. An answer other than 200 is a RefusedError.
func PostJSON(ctx context.Context, serverURL, path, bearer string, caPEM []byte, certs []tls.Certificate, in, out any) error {
	return postJSON(ctx, joinTarget{url: serverURL}, path, bearer, caPEM, certs, in, out)
}

func postJSON(ctx context.Context, target joinTarget, path, bearer string, caPEM []byte, certs []tls.Certificate, in, out any) error {
	serverURL := target.url
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: target.dial,
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12,
			ServerName: target.serverName},
	}}
	defer client.CloseIdleConnections()
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(serverURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if bearer != "" {
		hreq.Header.Set("Authorization", "Bearer "+bearer)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &RefusedError{Code: resp.StatusCode, Msg: fmt.Sprintf("refused: %s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("answer of %s: %w", path, err)
	}
	return nil
}
