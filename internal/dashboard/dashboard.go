package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/yaml"
)

// Path is the prefix the dashboard is served under; Root is the same
// without the slash, which redirects to it.
const (
	Path = "/dashboard/"
	Root = "/dashboard"
)

// CSRFHeader must be present on every data request that is not a GET or
// HEAD: a page of another origin cannot add it without a CORS preflight.
const CSRFHeader = "X-Skiff-Dashboard"

// CookieName is the cookie that carries the bearer token of a logged-in
// browser.
const CookieName = "skiff-dashboard-token"

// apiPrefix is where the API is forwarded: /dashboard/api/api/v1/pods is
// the API server's /api/v1/pods.
const apiPrefix = Path + "api"

//go:embed assets
var assets embed.FS

// Config configures the dashboard.
type Config struct {
	// API is the API server's handler, authentication included. Every
	// data request is handed to it with the caller's own credentials.
	API http.Handler
	// Authenticate checks a request's credentials as the API server
	// does: the user's name, false when the request carries none, or an
	// error for credentials that are not accepted.
	Authenticate func(r *http.Request) (user string, ok bool, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.API == nil {
		return errors.New("dashboard: no API handler")
	}
	if c.Authenticate == nil {
		return errors.New("dashboard: no authenticator")
	}
	return nil
}

// Dashboard serves the pages, the login and the forwarded API under Path.
type Dashboard struct {
	cfg    Config
	pages  *template.Template
	static http.Handler
}

// New returns the dashboard's handler.
func New(cfg Config) (*Dashboard, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pages, err := template.ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	return &Dashboard{cfg: cfg, pages: pages,
		static: http.StripPrefix(Path+"static/", http.FileServerFS(static))}, nil
}

// credential is what a request authenticates with.
type credential int

const (
	credNone credential = iota
	credHeader
	credCookie
	credCert
)

// withCredentials returns r as the API server should see it: with the
// cookie's token as a bearer token, and without the cookie.
func withCredentials(r *http.Request) (*http.Request, credential) {
	out := r.Clone(r.Context())
	out.Header.Del("Cookie")
	switch {
	case r.Header.Get("Authorization") != "":
		return out, credHeader
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		out.Header.Set("Authorization", "Bearer "+c.Value)
		return out, credCookie
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return out, credCert
	}
	return out, credNone
}

// sameOrigin reports whether a browser request comes from the
// dashboard's own origin.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme == "https" && u.Host == r.Host
}

func setSecurityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// (With no-referrer a browser sends "Origin: null" on form posts.)
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
}

// ServeHTTP routes one dashboard request.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == Root {
		http.Redirect(w, r, Path, http.StatusFound)
		return
	}
	if p == Path+"login" {
		d.serveLogin(w, r)
		return
	}
	if p == Path+"logout" {
		d.serveLogout(w, r)
		return
	}
	fwd, cred := withCredentials(r)
	if cred == credNone {
		d.unauthorized(w, r, "")
		return
	}
	if p == apiPrefix || strings.HasPrefix(p, apiPrefix+"/") {
		d.serveAPI(w, r, fwd)
		return
	}
	user, ok, err := d.cfg.Authenticate(fwd)
	if err != nil || !ok {
		msg := "Your credentials were not accepted; log in again."
		if cred == credCookie {
			clearCookie(w)
		}
		d.unauthorized(w, r, msg)
		return
	}
	if strings.HasPrefix(p, Path+"static/") {
		d.static.ServeHTTP(w, r)
		return
	}
	d.servePage(w, r, fwd, user, cred)
}

// unauthorized answers 401: the login form to a browser, a Status to an
// API client.
func (d *Dashboard) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	if strings.HasPrefix(r.URL.Path, apiPrefix) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}` + "\n"))
		return
	}
	d.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Error: msg})
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Path, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// serveLogin shows the login form, and on POST checks the token with the
// API server's authenticator before it sets the cookie.
func (d *Dashboard) serveLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d.render(w, http.StatusOK, "login", page{Title: "Log in"})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// A form of another origin may not log the browser in as someone else.
	if !sameOrigin(r) && r.Header.Get(CSRFHeader) == "" {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" || strings.ContainsAny(token, " \t\r\n;,\"\\") {
		d.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "Enter a bearer token."})
		return
	}
	check := r.Clone(r.Context())
	check.TLS = nil // the token alone, not a client certificate the browser may hold
	check.Header = http.Header{"Authorization": {"Bearer " + token}}
	user, ok, err := d.cfg.Authenticate(check)
	if err != nil || !ok {
		d.cfg.Logger.Info("dashboard login refused", "remote", r.RemoteAddr, "err", err)
		d.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Error: "The token was not accepted."})
		return
	}
	d.cfg.Logger.Info("dashboard login", "user", user, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: Path,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// serveLogout forgets the cookie.
func (d *Dashboard) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !sameOrigin(r) && r.Header.Get(CSRFHeader) == "" {
		http.Error(w, "cross-origin logout refused", http.StatusForbidden)
		return
	}
	clearCookie(w)
	http.Redirect(w, r, Path+"login", http.StatusSeeOther)
}

// serveAPI hands /dashboard/api/<path> to the API server as /<path>,
// authenticated as the caller.
func (d *Dashboard) serveAPI(w http.ResponseWriter, r, fwd *http.Request) {
	websocket := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	switch {
	case websocket:
		// A browser sends the cookie with a WebSocket of any origin of
		// the same site: only our own pages may open one.
		if !sameOrigin(r) {
			http.Error(w, "cross-origin WebSocket refused", http.StatusForbidden)
			return
		}
	case r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(CSRFHeader) == "":
		http.Error(w, "missing "+CSRFHeader+" header", http.StatusForbidden)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, apiPrefix)
	if !(rest == "/api" || rest == "/apis" || strings.HasPrefix(rest, "/api/") || strings.HasPrefix(rest, "/apis/")) {
		http.NotFound(w, r)
		return
	}
	fwd.URL.Path, fwd.URL.RawPath = rest, ""
	fwd.RequestURI = fwd.URL.RequestURI()
	fwd.Header.Del(CSRFHeader)
	d.cfg.API.ServeHTTP(w, fwd)
}

// page is what a template renders.
type page struct {
	Title     string
	Page      string
	User      string
	Namespace string
	Name      string
	Selector  string
	Error     string
	// The YAML page's.
	ObjectPath string
	YAML       string
	Status     string
}

// pages are the pages by URL, each rendered by the template of its name.
var pageTitles = map[string]string{
	"":          "Cluster",
	"workloads": "Workloads",
	"pods":      "Pods",
	"pod":       "Pod",
	"network":   "Services and Ingresses",
	"yaml":      "YAML",
}

func (d *Dashboard) servePage(w http.ResponseWriter, r, fwd *http.Request, user string, cred credential) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Path)
	title, ok := pageTitles[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	p := page{Title: title, Page: name, User: user, Namespace: q.Get("namespace"), Name: q.Get("name"), Selector: q.Get("selector")}
	if name == "" {
		p.Page = "cluster"
	}
	if name == "pod" && p.Name != "" {
		p.Title = "Pod " + p.Namespace + "/" + p.Name
	}
	if name == "yaml" {
		p.ObjectPath = q.Get("path")
		p.Title = "YAML " + p.ObjectPath
		p.YAML, p.Status, p.Error = d.objectYAML(fwd, p.ObjectPath)
	}
	d.render(w, http.StatusOK, p.Page, p)
}

func (d *Dashboard) render(w http.ResponseWriter, code int, name string, p page) {
	var b bytes.Buffer
	if err := d.pages.ExecuteTemplate(&b, name, p); err != nil {
		d.cfg.Logger.Error("dashboard page", "page", name, "err", err)
		http.Error(w, "page failed", http.StatusInternalServerError)
		return
	}
	setSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// objectYAML reads the object at path (an API path such as
// /apis/apps/v1/namespaces/default/deployments/web) as the user, and
// returns what is worth editing and applying as YAML, without status and
// the fields the server owns, and its status apart.
func (d *Dashboard) objectYAML(fwd *http.Request, path string) (spec, status, errMsg string) {
	if !(strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/apis/")) || strings.ContainsAny(path, "?#") {
		return "", "", "Not an object's API path."
	}
	req := fwd.Clone(fwd.Context())
	req.Method = http.MethodGet
	req.URL = &url.URL{Path: path}
	req.RequestURI = path
	req.Header.Set("Accept", "application/json")
	req.Header.Del("Upgrade")
	rec := &recorder{header: http.Header{}}
	d.cfg.API.ServeHTTP(rec, req)
	if rec.code != http.StatusOK {
		var st struct{ Message string }
		if json.Unmarshal(rec.body.Bytes(), &st) == nil && st.Message != "" {
			return "", "", st.Message
		}
		return "", "", fmt.Sprintf("The API server answered %d.", rec.code)
	}
	var obj map[string]any
	if err := json.Unmarshal(rec.body.Bytes(), &obj); err != nil {
		return "", "", "The API server's answer is not an object."
	}
	if s, ok := obj["status"]; ok {
		delete(obj, "status")
		if b, err := yaml.Marshal(s); err == nil {
			status = string(b)
		}
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"} {
			delete(md, f)
		}
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", "", err.Error()
	}
	return string(b), status, ""
}

// recorder keeps a response of the API server in memory.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(p) > 8<<20 {
		return 0, errors.New("object too large to show")
	}
	return r.body.Write(p)
}
