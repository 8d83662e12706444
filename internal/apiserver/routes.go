package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/auth"
	"skiff/internal/version"
)

type userKey struct{}

// userFrom returns the authenticated user of a request context.
func userFrom(ctx context.Context) *auth.User {
	u, _ := ctx.Value(userKey{}).(*auth.User)
	return u
}

// publicPaths may be read without credentials, as upstream's
// system:public-info-viewer role allows.
var publicPaths = map[string]bool{
	"/healthz": true, "/livez": true, "/readyz": true, "/version": true,
}

// anonymousAuthorized reports whether a request without credentials to
// path goes on to authorization as system:anonymous instead of being
// refused: the service account issuer's discovery documents, which
// upstream opens to the public with a ClusterRoleBinding of
// system:service-account-issuer-discovery to system:unauthenticated.
func anonymousAuthorized(path string) bool {
	path = strings.TrimSuffix(path, "/")
	return path == auth.OpenIDConfigurationPath || path == auth.JWKSPath
}

// selfAuthenticated returns the SelfAuthenticated handler of path: the
// one of its exact path, or of a prefix (ending in "/") it is under.
func (s *Server) selfAuthenticated(path string) (http.Handler, bool) {
	if h, ok := s.cfg.SelfAuthenticated[path]; ok {
		return h, true
	}
	for p, h := range s.cfg.SelfAuthenticated {
		if strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return h, true
		}
	}
	return nil, false
}

func (s *Server) isPublic(path string) bool {
	if publicPaths[path] || strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/") || strings.HasPrefix(path, "/readyz/") {
		return true
	}
	for _, p := range s.cfg.Public {
		if p == path {
			return true
		}
	}
	return false
}

// ServeHTTP authenticates, authorizes and routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AuditLog != nil {
		s.serveAudited(w, r)
		return
	}
	s.serve(w, r)
}

// serve is ServeHTTP without the audit log.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	growStack()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if rec := s.auditFrom(r.Context()); rec != nil {
				rec.panicked = true
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("%v", p)))
		}
	}()
	if h, ok := s.selfAuthenticated(r.URL.Path); ok {
		h.ServeHTTP(w, r)
		return
	}
	var user, authenticated *auth.User
	if s.cfg.Authenticator != nil {
		u, ok, err := s.cfg.Authenticator.Authenticate(r)
		switch {
		case err != nil || (!ok && !s.isPublic(r.URL.Path) && !anonymousAuthorized(r.URL.Path)):
			if rec := s.auditFrom(r.Context()); rec != nil {
				s.auditUnauthenticated(rec, r)
			}
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		case ok:
			user = u
		default:
			user = &auth.User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}
		}
	}
	authenticated = user
	info := parseRequestInfo(r)
	rec := s.auditFrom(r.Context())
	if rec != nil {
		// As upstream, the policy sees the authenticated user, and a
		// refused impersonation is audited too.
		s.auditBegin(rec, r, authenticated, info)
	}
	if user != nil {
		u, err := s.impersonate(r.Context(), r, user)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		user = u
		if rec != nil && u != authenticated {
			rec.impersonated(u)
		}
	}
	if user != nil {
		var a seatGrant
		var ok bool
		if r, a, ok = s.flowControl(w, r, user, &info); !ok {
			return
		}
		defer s.finish(a)
	}
	if s.cfg.Authorizer != nil && user != nil && !(user.Name == "system:anonymous" && s.isPublic(r.URL.Path)) {
		attrs := auth.Attributes{User: user, Verb: info.verb, Namespace: info.namespace, APIGroup: info.group,
			APIVersion: info.version, Resource: info.resource, Subresource: info.subresource, Name: info.authorizedName(),
			Fields: info.fields, Labels: info.labels, ResourceRequest: info.isResource && info.resource != ""}
		// A namespace's own URL is authorized in that namespace, as
		// upstream's request info has it: a RoleBinding there (view's
		// namespaces rule) lets one read the namespace itself.
		if attrs.ResourceRequest && info.group == "" && info.resource == "namespaces" && info.name != "" {
			attrs.Namespace = info.name
		}
		if !attrs.ResourceRequest {
			attrs.Path = r.URL.Path
			attrs.Verb = strings.ToLower(r.Method)
		}
		ok, reason, err := s.cfg.Authorizer.Authorize(r.Context(), attrs)
		if rec != nil {
			rec.authorized(ok && err == nil, reason)
		}
		if err != nil || !ok {
			// A component denied a request lacks a right its role should
			// grant: warn. Others' denials are routine.
			level := slog.LevelDebug
			if componentUser(user.Name) {
				level = slog.LevelWarn
			}
			s.log.Log(r.Context(), level, "request forbidden", "user", user.Name, "verb", attrs.Verb, "group", attrs.APIGroup,
				"resource", attrs.Resource, "subresource", attrs.Subresource, "namespace", attrs.Namespace,
				"name", attrs.Name, "path", attrs.Path)
			s.writeError(w, r, forbidden(attrs, reason))
			return
		}
	}
	if user != nil && userFrom(r.Context()) != user {
		// (Flow control's request context usually carries it already.)
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	}
	if api, ok := s.remoteFor(r.URL.Path); ok {
		s.serveRemote(w, r, api)
		return
	}
	if info.isResource && info.resource != "" {
		s.metrics.observe(w, r, info, func(w http.ResponseWriter) { s.serveResource(w, r, info) })
		return
	}
	s.mux.ServeHTTP(w, r)
}

// componentUser reports whether name is a cluster component's identity:
// a system: user (the scheduler, controller manager, nodes, DNS, ...) or a
// kube-system ServiceAccount (the controllers), not a workload's account.
func componentUser(name string) bool {
	if sa, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
		return strings.HasPrefix(sa, "kube-system:")
	}
	return strings.HasPrefix(name, "system:") && name != "system:anonymous"
}

// forbidden builds upstream's 403 message.
func forbidden(a auth.Attributes, reason string) error {
	var msg string
	if a.ResourceRequest {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		scope := "at the cluster scope"
		if a.Namespace != "" {
			scope = fmt.Sprintf("in the namespace %q", a.Namespace)
		}
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", a.User.Name, a.Verb, res, a.APIGroup, scope)
	} else {
		msg = fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path)
	}
	if reason != "" {
		msg += ": " + reason
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
		Message: forbiddenMessage(a, msg),
		Details: &metav1.StatusDetails{Name: a.Name, Group: a.APIGroup, Kind: a.Resource},
	}}
}

// forbiddenMessage words a refusal as upstream's NewForbidden does: a
// path has no resource to name.
func forbiddenMessage(a auth.Attributes, msg string) string {
	if !a.ResourceRequest {
		return "forbidden: " + msg
	}
	return resourceLabel(a) + " is forbidden: " + msg
}

func resourceLabel(a auth.Attributes) string {
	gr := a.Resource
	if a.APIGroup != "" {
		gr += "." + a.APIGroup
	}
	if a.Name != "" {
		return fmt.Sprintf("%s %q", gr, a.Name)
	}
	return gr
}

func (s *Server) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, r *http.Request) {
		report, err := s.checkHealth(r.Context(), r.URL.Path)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !report.ok {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, report.lines)
			fmt.Fprintf(w, "%s check failed\n", strings.Trim(r.URL.Path, "/"))
			return
		}
		if r.URL.Query().Has("verbose") {
			fmt.Fprint(w, report.lines)
			fmt.Fprintf(w, "%s check passed\n", strings.Trim(r.URL.Path, "/"))
			return
		}
		fmt.Fprint(w, "ok")
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		mux.HandleFunc(p, health)
		mux.HandleFunc(p+"/", health)
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, version.Info())
	})
	if d, ok := s.cfg.Tokens.(IssuerDiscovery); ok {
		serveDoc := func(path, contentType string, doc func() ([]byte, error)) {
			h := func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					s.writeError(w, r, apierrors.NewMethodNotSupported(schemaGroupResourceNone, r.Method))
					return
				}
				data, err := doc()
				if err != nil {
					s.writeError(w, r, apierrors.NewInternalError(err))
					return
				}
				w.Header().Set("Content-Type", contentType)
				// Public documents that change only with the signing key.
				w.Header().Set("Cache-Control", "public, max-age=3600")
				_, _ = w.Write(data)
			}
			mux.HandleFunc(path, h)
			mux.HandleFunc(path+"/", h)
		}
		serveDoc(auth.OpenIDConfigurationPath, "application/json", d.OpenIDConfiguration)
		serveDoc(auth.JWKSPath, "application/jwk-set+json", d.JWKS)
	}
	mux.HandleFunc("/api", s.serveAPIVersions)
	mux.HandleFunc("/api/", s.serveAPIVersions)
	mux.HandleFunc("/apis", s.serveAPIGroupList)
	mux.HandleFunc("/apis/", s.serveGroupOrVersion)
	for p, h := range s.cfg.Extra {
		mux.Handle(p, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			paths := []string{"/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v2", "/openapi/v3", "/readyz", "/version"}
			for _, g := range s.view.Load().groups {
				if g.name == "" {
					continue
				}
				paths = append(paths, "/apis/"+g.name)
				for _, v := range g.versions {
					paths = append(paths, "/apis/"+g.name+"/"+v)
				}
			}
			writeJSON(w, http.StatusOK, metav1.RootPaths{Paths: paths})
			return
		}
		s.writeError(w, r, apierrors.NewNotFound(schemaGroupResourceNone, ""))
	})
	return mux
}

// HealthCheck is one named check of /healthz, /livez and /readyz.
type HealthCheck struct {
	Name  string
	Check func(context.Context) error
}

// healthReport is the outcome of a health endpoint: each check's line,
// as upstream words them ("[+]etcd ok", "[-]etcd failed: reason
// withheld"), and whether all passed.
type healthReport struct {
	lines string
	ok    bool
}

// checkHealth runs the checks of path (/readyz, or /readyz/<name> for
// one). An unknown check name is a 404.
func (s *Server) checkHealth(ctx context.Context, path string) (healthReport, error) {
	checks := append([]HealthCheck{{Name: "ping", Check: func(context.Context) error { return nil }}}, s.cfg.HealthChecks...)
	checks = append(checks, HealthCheck{Name: "watch-cache", Check: func(context.Context) error {
		select {
		case <-s.cache.Ready():
			return nil
		default:
			return errors.New("watch cache not loaded")
		}
	}})
	if _, name, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/"); ok && name != "" {
		i := slices.IndexFunc(checks, func(c HealthCheck) bool { return c.Name == name })
		if i < 0 {
			return healthReport{}, apierrors.NewNotFound(schemaGroupResourceNone, path)
		}
		checks = checks[i : i+1]
	}
	var b strings.Builder
	ok := true
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			ok = false
			s.log.Warn("health check failed", "check", c.Name, "err", err)
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.Name)
			continue
		}
		fmt.Fprintf(&b, "[+]%s ok\n", c.Name)
	}
	return healthReport{lines: b.String(), ok: ok}, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeError answers with a metav1.Status for err.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var status metav1.Status
	if st, ok := err.(apierrors.APIStatus); ok {
		status = st.Status()
	} else {
		status = apierrors.NewInternalError(err).Status()
	}
	status.Kind, status.APIVersion = "Status", "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	if status.Code == 0 {
		status.Code = http.StatusInternalServerError
	}
	t, ok := negotiate(r)
	if !ok || t.as != "" {
		t = target{media: mediaJSON}
	}
	data, encErr := s.codecs.encode(target{media: t.media}, &status)
	if encErr != nil {
		http.Error(w, status.Message, int(status.Code))
		return
	}
	w.Header().Set("Content-Type", t.media)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(int(status.Code))
	_, _ = w.Write(data)
}

// writeObject answers with obj in the negotiated format.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, t target, code int, obj runtime.Object) {
	data, err := s.codecs.encode(t, obj)
	if err != nil {
		s.writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	ct := t.contentType()
	if t.media == mediaProtobuf {
		if _, ok := obj.(runtime.ProtobufMarshaller); !ok {
			ct = mediaJSON
		}
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// growStack makes the request's goroutine's stack as large as serving a
// request needs, once, while the stack is still shallow. The HTTP/2 server
// starts each request on a fresh goroutine with a small stack, which would
// otherwise double two or three times deep in a handler (in the managed
// fields walk, say), copying every frame each time: some 6% of the
// server's CPU under a load of creates.
//
//go:noinline
func growStack() byte {
	var b [12 << 10]byte
	return touchStack(&b)
}

//go:noinline
func touchStack(b *[12 << 10]byte) byte { return b[len(b)-1] }
