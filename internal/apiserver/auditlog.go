package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"skiff/internal/apiserver/audit"
	"skiff/internal/apiserver/auth"
)

// AuditLog receives audit events; audit.Log implements it.
type AuditLog interface {
	// Write records ev; it must be safe for concurrent use and must not
	// keep ev after it returns.
	Write(ev *audit.Event) error
}

var _ AuditLog = (*audit.Log)(nil)

// auditRecordKey carries a request's *auditRecord in its context.
type auditRecordKey struct{}

// auditRecord is one request's audit state, from authentication to the
// end of its response.
type auditRecord struct {
	// decision is the policy's; Level is "" until the request is
	// authenticated and None when the policy drops it.
	decision    audit.Decision
	event       audit.Event
	longRunning bool
	panicked    bool
	// unauthenticated requests get one event, at ResponseStarted.
	unauthenticated bool
	// requestBody is the request's JSON body, kept at Request and above.
	requestBody []byte

	mu          sync.Mutex
	annotations map[string]string
}

// auditFrom is ctx's audit record, nil when the audit log is off (without
// a context lookup, so that an off audit log costs requests nothing).
func (s *Server) auditFrom(ctx context.Context) *auditRecord {
	if s.cfg.AuditLog == nil {
		return nil
	}
	rec, _ := ctx.Value(auditRecordKey{}).(*auditRecord)
	return rec
}

// annotate adds kv to the event's annotations; a key keeps its first value.
func (rec *auditRecord) annotate(kv map[string]string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.annotations == nil {
		rec.annotations = make(map[string]string, len(kv))
	}
	for k, v := range kv {
		if _, ok := rec.annotations[k]; !ok {
			rec.annotations[k] = v
		}
	}
}

// impersonated records the user the request acts as.
func (rec *auditRecord) impersonated(u *auth.User) {
	info := userInfo(u)
	rec.event.ImpersonatedUser = &info
}

// authorized records the authorizer's decision as upstream's annotations.
func (rec *auditRecord) authorized(ok bool, reason string) {
	decision := "forbid"
	if ok {
		decision = "allow"
	}
	rec.annotate(map[string]string{"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": reason})
}

// serveAudited serves r and records it in the audit log.
func (s *Server) serveAudited(w http.ResponseWriter, r *http.Request) {
	rec := &auditRecord{}
	rec.event.RequestReceivedTimestamp = metav1.NewMicroTime(time.Now())
	id := r.Header.Get("Audit-ID")
	if id == "" {
		id = string(uuid.NewUUID())
	}
	rec.event.AuditID = types.UID(id)
	w.Header().Set("Audit-Id", id)
	aw := &auditWriter{ResponseWriter: w, s: s, rec: rec}
	s.serve(aw, r.WithContext(context.WithValue(r.Context(), auditRecordKey{}, rec)))
	if rec.unauthenticated || rec.decision.Level == "" || rec.decision.Level == audit.LevelNone {
		return
	}
	stage := audit.StageResponseComplete
	if rec.panicked {
		stage = audit.StagePanic
	}
	if rec.decision.Omits(stage) {
		return
	}
	ev := rec.stageEvent(stage)
	code := aw.code
	if code == 0 {
		code = http.StatusOK
	}
	ev.ResponseStatus = &metav1.Status{Code: int32(code)}
	if code >= 400 && aw.body.Len() > 0 {
		var st metav1.Status
		if b := s.auditJSON(aw.body.Bytes(), aw.Header().Get("Content-Type")); b != nil && json.Unmarshal(b, &st) == nil && st.Kind == "Status" {
			ev.ResponseStatus = &metav1.Status{Status: st.Status, Message: st.Message, Reason: st.Reason, Details: st.Details, Code: int32(code)}
		}
	}
	if !rec.decision.Level.Less(audit.LevelRequest) && rec.requestBody != nil {
		ev.RequestObject = auditBody(rec.requestBody, rec.decision.OmitManagedFields)
	}
	if aw.keepBody() && aw.body.Len() > 0 && code < 400 {
		if b := s.auditJSON(aw.body.Bytes(), aw.Header().Get("Content-Type")); b != nil {
			ev.ResponseObject = auditBody(b, rec.decision.OmitManagedFields)
		}
	}
	s.writeAudit(ev)
}

// auditBegin decides the request's level once its user is known, keeps its
// body if the level asks for it, and records RequestReceived.
func (s *Server) auditBegin(rec *auditRecord, r *http.Request, user *auth.User, info requestInfo) {
	if !s.auditDecide(rec, r, user, info) {
		return
	}
	switch {
	case info.verb == "watch":
		rec.longRunning = true
	case info.subresource == "exec" || info.subresource == "attach" || info.subresource == "portforward" || info.subresource == "proxy":
		rec.longRunning = true
	case info.subresource == "log" && isTrue(r.URL.Query().Get("follow")):
		rec.longRunning = true
	}
	if !rec.decision.Level.Less(audit.LevelRequest) && r.Body != nil && !rec.longRunning &&
		(r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
		// At most one byte over the handlers' limit: they refuse a larger
		// body with 413 without reading it all, and so does this.
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		rest := r.Body
		// The handler reads the same bytes, or the error, after us.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), errReader{err}, rest), rest}
		if err == nil && len(b) <= maxBodyBytes {
			rec.requestBody = s.auditJSON(b, r.Header.Get("Content-Type"))
		}
	}
	if !rec.decision.Omits(audit.StageRequestReceived) {
		s.writeAudit(rec.stageEvent(audit.StageRequestReceived))
	}
}

// auditUnauthenticated records a request that failed authentication, as
// upstream does: the policy decides with no user, and one event, at
// ResponseStarted, says which credentials were tried.
func (s *Server) auditUnauthenticated(rec *auditRecord, r *http.Request) {
	rec.unauthenticated = true
	if !s.auditDecide(rec, r, nil, parseRequestInfo(r)) || rec.decision.Omits(audit.StageResponseStarted) {
		return
	}
	ev := rec.stageEvent(audit.StageResponseStarted)
	ev.ResponseStatus = &metav1.Status{Message: authMethods(r), Code: http.StatusUnauthorized}
	s.writeAudit(ev)
}

// authMethods is upstream's message naming the credentials a request
// that failed authentication carried.
func authMethods(r *http.Request) string {
	var methods []string
	if _, _, ok := r.BasicAuth(); ok {
		methods = append(methods, "basic")
	}
	if parts := strings.Split(strings.TrimSpace(r.Header.Get("Authorization")), " "); len(parts) > 1 && strings.EqualFold(parts[0], "bearer") {
		methods = append(methods, "bearer")
	}
	if strings.TrimSpace(r.URL.Query().Get("access_token")) != "" {
		methods = append(methods, "access_token")
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		methods = append(methods, "x509")
	}
	if len(methods) == 0 {
		return "Authentication failed, no credentials provided"
	}
	return "Authentication failed, attempted: " + strings.Join(methods, ", ")
}

// auditRequestObject fills the object reference's namespace, name, uid and
// resourceVersion, where the URL left them empty, from a decoded create or
// update body, as upstream's LogRequestObject does (a create's name is
// known only from its body).
func (s *Server) auditRequestObject(ctx context.Context, obj runtime.Object) {
	rec := s.auditFrom(ctx)
	if rec == nil || rec.event.ObjectRef == nil || obj == nil {
		return
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	ref := *rec.event.ObjectRef
	if ref.Namespace == "" {
		ref.Namespace = m.GetNamespace()
	}
	if ref.Name == "" {
		ref.Name = m.GetName()
	}
	if ref.UID == "" {
		ref.UID = m.GetUID()
	}
	if ref.ResourceVersion == "" {
		ref.ResourceVersion = m.GetResourceVersion()
	}
	rec.event.ObjectRef = &ref
}

// auditDecide applies the policy to the request and fills the event's
// request metadata; false when the policy drops the request.
func (s *Server) auditDecide(rec *auditRecord, r *http.Request, user *auth.User, info requestInfo) bool {
	attrs := audit.Attributes{Verb: info.verb, ResourceRequest: info.isResource && info.resource != "",
		APIGroup: info.group, Namespace: info.namespace, Resource: info.resource, Subresource: info.subresource,
		Name: info.name, Path: r.URL.Path}
	if !attrs.ResourceRequest {
		attrs.Verb = strings.ToLower(r.Method)
	}
	if user != nil {
		attrs.User, attrs.Groups = user.Name, user.Groups
	}
	rec.decision = s.cfg.AuditPolicy.Decide(attrs)
	if rec.decision.Level == audit.LevelNone {
		return false
	}
	ev := &rec.event
	ev.TypeMeta = metav1.TypeMeta{APIVersion: "audit.k8s.io/v1", Kind: "Event"}
	ev.Level = rec.decision.Level
	ev.RequestURI = r.URL.RequestURI()
	ev.Verb = attrs.Verb
	ev.UserAgent = r.UserAgent()
	ev.SourceIPs = sourceIPs(r)
	if user != nil {
		ev.User = userInfo(user)
	}
	if attrs.ResourceRequest {
		ev.ObjectRef = &audit.ObjectReference{Resource: info.resource, Namespace: info.namespace, Name: info.name,
			APIGroup: info.group, APIVersion: info.version, Subresource: info.subresource}
	}
	return true
}

// stageEvent is the request's event at stage, with the annotations so far.
func (rec *auditRecord) stageEvent(stage audit.Stage) *audit.Event {
	ev := rec.event
	ev.Stage = stage
	ev.StageTimestamp = metav1.NewMicroTime(time.Now())
	rec.mu.Lock()
	ev.Annotations = maps.Clone(rec.annotations)
	rec.mu.Unlock()
	return &ev
}

func (s *Server) writeAudit(ev *audit.Event) {
	if err := s.cfg.AuditLog.Write(ev); err != nil {
		s.log.Error("audit log write failed", "auditID", ev.AuditID, "err", err)
	}
}

// auditJSON is body as JSON: itself if it is JSON, decoded and encoded
// again if it is protobuf, nil otherwise (YAML apply patches, text logs).
func (s *Server) auditJSON(body []byte, contentType string) []byte {
	if json.Valid(body) {
		return body
	}
	if !strings.Contains(contentType, "protobuf") {
		return nil
	}
	obj, gvk, err := s.storeCodc.Decode(body, nil, nil)
	if err != nil {
		return nil
	}
	obj.GetObjectKind().SetGroupVersionKind(*gvk)
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	return b
}

// auditBody is a JSON body as the event records it, without managedFields
// if asked.
func auditBody(b []byte, omitManagedFields bool) json.RawMessage {
	if !omitManagedFields || !bytes.Contains(b, []byte(`"managedFields"`)) {
		return json.RawMessage(bytes.Clone(b))
	}
	var obj map[string]any
	if json.Unmarshal(b, &obj) != nil {
		return json.RawMessage(bytes.Clone(b))
	}
	dropManagedFields(obj)
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				dropManagedFields(m)
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return json.RawMessage(bytes.Clone(b))
	}
	return out
}

func dropManagedFields(obj map[string]any) {
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
}

func userInfo(u *auth.User) authnv1.UserInfo {
	info := authnv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = make(map[string]authnv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	return info
}

// sourceIPs are the X-Forwarded-For addresses, then the peer's, as upstream.
func sourceIPs(r *http.Request) []string {
	var ips []string
	for _, h := range strings.Split(r.Header.Get("X-Forwarded-For"), ",") {
		if ip := net.ParseIP(strings.TrimSpace(h)); ip != nil {
			ips = append(ips, ip.String())
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host != "" && (len(ips) == 0 || ips[len(ips)-1] != host) {
		ips = append(ips, host)
	}
	return ips
}

// errReader returns err, or EOF when err is nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// auditWriter records a response's status, its body when the event needs
// it, and the start of long-running responses.
type auditWriter struct {
	http.ResponseWriter
	s           *Server
	rec         *auditRecord
	code        int
	wroteHeader bool
	body        bytes.Buffer
}

// keepBody reports whether the response body goes into the event.
func (w *auditWriter) keepBody() bool {
	return w.rec.decision.Level == audit.LevelRequestResponse && !w.rec.longRunning &&
		(strings.Contains(w.Header().Get("Content-Type"), "json") || strings.Contains(w.Header().Get("Content-Type"), "protobuf"))
}

func (w *auditWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader, w.code = true, code
	w.ResponseWriter.WriteHeader(code)
	rec := w.rec
	if rec.longRunning && rec.decision.Level != "" && rec.decision.Level != audit.LevelNone &&
		!rec.decision.Omits(audit.StageResponseStarted) {
		ev := rec.stageEvent(audit.StageResponseStarted)
		ev.ResponseStatus = &metav1.Status{Code: int32(code)}
		w.s.writeAudit(ev)
	}
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.rec.decision.Level != "" && w.rec.decision.Level != audit.LevelNone &&
		(w.code >= 400 || w.keepBody()) {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, for watches.
func (w *auditWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (hijacks for
// exec, attach and port-forward).
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
