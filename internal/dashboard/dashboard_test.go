package dashboard_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/audit"
	"skiff/internal/dashboard"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// response is what a test checks of an answer.
type response struct {
	code   int
	body   string
	header http.Header
}

func do(t *testing.T, c *http.Client, method, u string, header http.Header, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b), header: resp.Header}
}

// TestAuthGate checks who the dashboard lets in: nobody without
// credentials, a browser with the cookie its login form sets, the admin's
// client certificate; and that what the page does is done as its user,
// with the CSRF header required of every change.
func TestAuthGate(t *testing.T) {
	s := servertest.Start(t, nil)
	ctx := context.Background()
	host := s.Config.Host
	origin := host // https://127.0.0.1:port

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Config.CAData) {
		t.Fatal("no cluster CA")
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, CheckRedirect: noRedirect}
	t.Cleanup(anon.CloseIdleConnections)

	// A viewer's token.
	if _, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// (The aggregated "view" role is filled by a controller this server
	// does not run: a role of its own.)
	if _, err := s.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "configmaps"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "viewer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The authorizer learns of the binding through its watch.
	servertest.Wait(t, "the viewer may list namespaces", func(ctx context.Context) (bool, error) {
		r, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:default:viewer",
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Resource: "namespaces"},
		}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed, err
	})
	tr, err := s.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "viewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := tr.Status.Token

	// No credentials: 401 everywhere but the login form.
	for _, p := range []string{"/dashboard/", "/dashboard/pods", "/dashboard/static/app.js", "/dashboard/api/api/v1/namespaces", "/dashboard/yaml?path=/api/v1/namespaces/default"} {
		if r := do(t, anon, "GET", host+p, nil, ""); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, want 401", p, r.code)
		}
	}
	if r := do(t, anon, "GET", host+"/dashboard/", nil, ""); !strings.Contains(r.body, `action="/dashboard/login"`) {
		t.Errorf("the 401 page has no login form:\n%s", r.body)
	}
	if r := do(t, anon, "GET", host+"/dashboard", nil, ""); r.code != http.StatusFound || r.header.Get("Location") != "/dashboard/" {
		t.Errorf("GET /dashboard: %d to %q, want a redirect to /dashboard/", r.code, r.header.Get("Location"))
	}

	form := func(tok string) string { return url.Values{"token": {tok}}.Encode() }
	formHeader := func(origin string) http.Header {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return h
	}
	tests := []struct {
		name   string
		token  string
		origin string
		want   int
	}{
		{"bad token", "not-a-token", origin, http.StatusUnauthorized},
		{"no origin", token, "", http.StatusForbidden},
		{"other origin", token, "https://127.0.0.1:1", http.StatusForbidden},
		{"good token", token, origin, http.StatusSeeOther},
	}
	var cookie *http.Cookie
	for _, tt := range tests {
		r := do(t, anon, "POST", host+"/dashboard/login", formHeader(tt.origin), form(tt.token))
		if r.code != tt.want {
			t.Errorf("login, %s: %d, want %d", tt.name, r.code, tt.want)
		}
		cookies := (&http.Response{Header: r.header}).Cookies()
		if tt.want != http.StatusSeeOther {
			if len(cookies) != 0 {
				t.Errorf("login, %s: set cookies %v", tt.name, cookies)
			}
			continue
		}
		if len(cookies) != 1 || cookies[0].Name != dashboard.CookieName {
			t.Fatalf("login: cookies %v", cookies)
		}
		cookie = cookies[0]
		if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/dashboard/" {
			t.Errorf("login cookie %+v, want HttpOnly, Secure, SameSite=Strict on /dashboard/", cookie)
		}
	}
	withCookie := func(h http.Header) http.Header {
		if h == nil {
			h = http.Header{}
		}
		h.Set("Cookie", cookie.Name+"="+cookie.Value)
		return h
	}

	// With the cookie: pages, and the API as the viewer.
	user := "system:serviceaccount:default:viewer"
	if r := do(t, anon, "GET", host+"/dashboard/", withCookie(nil), ""); r.code != http.StatusOK || !strings.Contains(r.body, user) {
		t.Errorf("GET /dashboard/ with the cookie: %d\n%s", r.code, r.body)
	}
	if r := do(t, anon, "GET", host+"/dashboard/api/api/v1/namespaces", withCookie(nil), ""); r.code != http.StatusOK || !strings.Contains(r.body, `"NamespaceList"`) {
		t.Errorf("GET namespaces with the cookie: %d\n%s", r.code, r.body)
	}
	if r := do(t, anon, "GET", host+"/dashboard/yaml?path=/api/v1/namespaces/default", withCookie(nil), ""); r.code != http.StatusOK ||
		!strings.Contains(r.body, "name: default") || strings.Contains(r.body, "managedFields:") {
		t.Errorf("YAML of namespace default: %d\n%s", r.code, r.body)
	}
	cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`
	jsonHeader := func(h http.Header) http.Header { h.Set("Content-Type", "application/json"); return h }
	if r := do(t, anon, "POST", host+"/dashboard/api/api/v1/namespaces/default/configmaps", jsonHeader(withCookie(nil)), cm); r.code != http.StatusForbidden ||
		!strings.Contains(r.body, dashboard.CSRFHeader) {
		t.Errorf("a change without %s: %d %s, want 403", dashboard.CSRFHeader, r.code, r.body)
	}
	h := jsonHeader(withCookie(http.Header{dashboard.CSRFHeader: {"1"}}))
	if r := do(t, anon, "POST", host+"/dashboard/api/api/v1/namespaces/default/configmaps", h, cm); r.code != http.StatusForbidden ||
		!strings.Contains(r.body, `User \"`+user+`\" cannot create resource \"configmaps\"`) {
		t.Errorf("a viewer's create through the dashboard: %d %s, want RBAC's 403 for %s", r.code, r.body, user)
	}
	// A WebSocket (a shell) from another origin of the same site would
	// carry the cookie: refused.
	ws := withCookie(http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Protocol": {"v5.channel.k8s.io"}, "Origin": {"https://127.0.0.1:1"}})
	if r := do(t, anon, "GET", host+"/dashboard/api/api/v1/namespaces/default/pods/p/exec?command=sh&stdout=true", ws, ""); r.code != http.StatusForbidden ||
		!strings.Contains(r.body, "cross-origin") {
		t.Errorf("a cross-origin WebSocket: %d %s, want 403", r.code, r.body)
	}
	if r := do(t, anon, "GET", host+"/dashboard/healthz", withCookie(nil), ""); r.code != http.StatusNotFound {
		t.Errorf("GET /dashboard/healthz: %d, want 404", r.code)
	}
	// A token that is no longer good is refused, and its cookie cleared.
	bad := http.Header{"Cookie": {dashboard.CookieName + "=forged"}}
	if r := do(t, anon, "GET", host+"/dashboard/", bad, ""); r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("a forged cookie: %d, Set-Cookie %q", r.code, r.header.Get("Set-Cookie"))
	}

	// The admin's client certificate is let in as the admin.
	adminTLS, err := rest.TLSConfigFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Client{Transport: &http.Transport{TLSClientConfig: adminTLS}}
	t.Cleanup(admin.CloseIdleConnections)
	if r := do(t, admin, "GET", host+"/dashboard/workloads", nil, ""); r.code != http.StatusOK || !strings.Contains(r.body, `id="deployments"`) {
		t.Errorf("GET /dashboard/workloads with the admin certificate: %d\n%s", r.code, r.body)
	}

	// Logout clears the cookie.
	r := do(t, anon, "POST", host+"/dashboard/logout", withCookie(http.Header{"Origin": {origin}}), "")
	if r.code != http.StatusSeeOther || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d, Set-Cookie %q", r.code, r.header.Get("Set-Cookie"))
	}
}

// TestDisabled checks that --disable dashboard leaves no dashboard: the
// path is the API's, refused without credentials and unknown with them.
func TestDisabled(t *testing.T) {
	s := servertest.Start(t, func(cfg *server.Config) { cfg.Disable = append(cfg.Disable, "dashboard") })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.Config.CAData)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(anon.CloseIdleConnections)
	if r := do(t, anon, "GET", s.Config.Host+"/dashboard/", nil, ""); r.code != http.StatusUnauthorized || strings.Contains(r.body, "login") {
		t.Errorf("GET /dashboard/ without credentials, disabled: %d %s", r.code, r.body)
	}
	adminTLS, err := rest.TLSConfigFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Client{Transport: &http.Transport{TLSClientConfig: adminTLS}}
	t.Cleanup(admin.CloseIdleConnections)
	if r := do(t, admin, "GET", s.Config.Host+"/dashboard/", nil, ""); r.code != http.StatusNotFound {
		t.Errorf("GET /dashboard/ as the admin, disabled: %d, want 404", r.code)
	}
}

// TestAudited checks that what the dashboard does is in the audit log as
// the user's request, once.
func TestAudited(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	s := servertest.Start(t, func(c *server.Config) {
		c.AuditPolicyFile = policy
		c.AuditLog = audit.LogConfig{Path: logPath}
	})
	ctx := context.Background()
	if _, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := s.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.Config.CAData)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(c.CloseIdleConnections)
	r := do(t, c, "GET", s.Config.Host+"/dashboard/api/api/v1/namespaces/default/configmaps",
		http.Header{"Cookie": {dashboard.CookieName + "=" + tr.Status.Token}}, "")
	id := r.header.Get("Audit-Id")
	if r.code != http.StatusForbidden || id == "" {
		t.Fatalf("list configmaps as robot: %d, Audit-Id %q", r.code, id)
	}
	var events []audit.Event
	servertest.Wait(t, "the audit event", func(context.Context) (bool, error) {
		events = nil
		data, err := os.ReadFile(logPath)
		if err != nil {
			return false, nil
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var ev audit.Event
			if json.Unmarshal([]byte(line), &ev) == nil && strings.Contains(ev.RequestURI, "/configmaps") && ev.Stage == audit.StageResponseComplete {
				events = append(events, ev)
			}
		}
		return len(events) > 0, nil
	})
	if len(events) != 1 {
		t.Fatalf("%d audit events for the request, want 1: %+v", len(events), events)
	}
	ev := events[0]
	if string(ev.AuditID) != id || ev.RequestURI != "/api/v1/namespaces/default/configmaps" || ev.User.Username != "system:serviceaccount:default:robot" {
		t.Errorf("audit event %s %s as %s, want %s /api/v1/namespaces/default/configmaps as robot", ev.AuditID, ev.RequestURI, ev.User.Username, id)
	}
}
