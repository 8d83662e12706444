package dashboard

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWithCredentials(t *testing.T) {
	cert := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	tests := []struct {
		name     string
		header   http.Header
		tls      *tls.ConnectionState
		want     credential
		wantAuth string
	}{
		{"nothing", nil, nil, credNone, ""},
		{"TLS without a certificate", nil, &tls.ConnectionState{}, credNone, ""},
		{"header", http.Header{"Authorization": {"Bearer a"}}, nil, credHeader, "Bearer a"},
		{"header over cookie", http.Header{"Authorization": {"Bearer a"}, "Cookie": {CookieName + "=b"}}, nil, credHeader, "Bearer a"},
		{"cookie", http.Header{"Cookie": {CookieName + "=b"}}, nil, credCookie, "Bearer b"},
		{"empty cookie", http.Header{"Cookie": {CookieName + "="}}, nil, credNone, ""},
		{"other cookie", http.Header{"Cookie": {"other=b"}}, nil, credNone, ""},
		{"certificate", nil, cert, credCert, ""},
		{"cookie and certificate", http.Header{"Cookie": {CookieName + "=b"}}, cert, credCookie, "Bearer b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://h/dashboard/", nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			r.TLS = tt.tls
			out, got := withCredentials(r)
			if got != tt.want {
				t.Errorf("credential = %d, want %d", got, tt.want)
			}
			if a := out.Header.Get("Authorization"); a != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", a, tt.wantAuth)
			}
			if out.Header.Get("Cookie") != "" {
				t.Errorf("the cookie goes on to the API server")
			}
		})
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		origin string
		want   bool
	}{
		{"", false},
		{"null", false},
		{"https://127.0.0.1:6443", true},
		{"http://127.0.0.1:6443", false},
		{"https://127.0.0.1:30080", false},
		{"https://evil.example", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "https://127.0.0.1:6443/dashboard/login", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := sameOrigin(r); got != tt.want {
			t.Errorf("sameOrigin(Origin %q) = %v, want %v", tt.origin, got, tt.want)
		}
	}
}
