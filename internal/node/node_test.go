package node

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// fakeCredentials hands out a client configuration per user.
type fakeCredentials struct{ users []string }

func (f *fakeCredentials) RESTConfig(user string) (*rest.Config, error) {
	f.users = append(f.users, user)
	return &rest.Config{Host: "https://127.0.0.1:6443", UserAgent: user}, nil
}

func (f *fakeCredentials) KubeletServing(string, []string) (string, string, *x509.CertPool, error) {
	return "", "", x509.NewCertPool(), nil
}

func TestNew(t *testing.T) {
	valid := func() Config {
		return Config{NodeName: "n1", NodeIP: net.IPv4(192, 0, 2, 1), ServiceCIDR: "10.43.0.0/16", Credentials: &fakeCredentials{}}
	}
	tests := []struct {
		name      string
		change    func(*Config)
		wantErr   string
		wantUsers []string
	}{
		{name: "every component", change: func(*Config) {},
			wantUsers: []string{"system:node:n1", ProxyUser, DNSUser, IngressUser}},
		{name: "a joined node runs no DNS", change: func(c *Config) { c.Disable = []string{"dns"} },
			wantUsers: []string{"system:node:n1", ProxyUser, IngressUser}},
		{name: "another ingress controller", change: func(c *Config) { c.Disable = []string{"ingress"} },
			wantUsers: []string{"system:node:n1", ProxyUser, DNSUser}},
		{name: "unknown component", change: func(c *Config) { c.Disable = []string{"kubelet"} }, wantErr: `disable "kubelet"`},
		{name: "no credentials", change: func(c *Config) { c.Credentials = nil }, wantErr: "no credentials"},
		{name: "no node IP", change: func(c *Config) { c.NodeIP = nil }, wantErr: "no node IP"},
		{name: "bad service CIDR", change: func(c *Config) { c.ServiceCIDR = "10.43.0.0" }, wantErr: "service CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.change(&cfg)
			_, err := New(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(): %v", err)
			}
			got := cfg.Credentials.(*fakeCredentials).users
			if strings.Join(got, ",") != strings.Join(tt.wantUsers, ",") {
				t.Errorf("credentials asked for %v, want %v", got, tt.wantUsers)
			}
		})
	}
}

func TestJoinedCredentials(t *testing.T) {
	c := &joinedCredentials{server: "https://10.0.0.1:6443", nodeUser: AgentUser("n1"),
		nodeCert: "node.crt", proxyCert: "proxy.crt", ingressCert: "ingress.crt"}
	for user, cert := range map[string]string{AgentUser("n1"): "node.crt", ProxyUser: "proxy.crt", IngressUser: "ingress.crt"} {
		rc, err := c.RESTConfig(user)
		if err != nil || rc.CertFile != cert || rc.Host != "https://10.0.0.1:6443" {
			t.Errorf("RESTConfig(%s) = %+v, %v; want the %s certificate", user, rc, err, cert)
		}
	}
	if _, err := c.RESTConfig(DNSUser); err == nil {
		t.Errorf("RESTConfig(%s) succeeded; a joined node holds no such credentials", DNSUser)
	}
}

func TestFullImageName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox:1.36":                         "docker.io/library/busybox:1.36",
		"team/app:1":                           "docker.io/team/app:1",
		"skiff.test/e2e-test-images/agnhost:2": "skiff.test/e2e-test-images/agnhost:2",
		"localhost/skiff/pause:1":              "localhost/skiff/pause:1",
		"127.0.0.1:5000/app:1":                 "127.0.0.1:5000/app:1",
	} {
		if got := fullImageName(in); got != want {
			t.Errorf("fullImageName(%q) = %q, want %q", in, got, want)
		}
	}
}
