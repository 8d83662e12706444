package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"skiff/internal/apiserver/audit"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  namespaces: ["kube-system"]
  resources:
  - group: ""
    resources: ["configmaps"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
`

// readAudit reads every event of the audit log at path.
func readAudit(t *testing.T, path string) []audit.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []audit.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitAudit waits for an event that match accepts and returns it.
func waitAudit(t *testing.T, path, what string, match func(audit.Event) bool) audit.Event {
	t.Helper()
	var found audit.Event
	servertest.Wait(t, what, func(context.Context) (bool, error) {
		for _, ev := range readAudit(t, path) {
			if match(ev) {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	s := servertest.Start(t, func(c *server.Config) {
		c.AuditPolicyFile = policy
		c.AuditLog = audit.LogConfig{Path: logPath}
	})
	ctx := t.Context()
	const secretValue = "hunter2-audit-secret-value"
	if _, err := s.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Data:       map[string][]byte{"password": []byte(secretValue)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// get secrets, through a plain HTTP client to see the Audit-Id header.
	hc, err := rest.HTTPClientFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(s.Config.Host, "/") + "/api/v1/namespaces/default/secrets/db")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get secret: %s", resp.Status)
	}
	auditID := resp.Header.Get("Audit-Id")
	if auditID == "" {
		t.Fatal("response has no Audit-Id header")
	}
	get := waitAudit(t, logPath, "the get secret event", func(ev audit.Event) bool { return string(ev.AuditID) == auditID })
	if get.Level != audit.LevelMetadata || get.Stage != audit.StageResponseComplete || get.Verb != "get" {
		t.Errorf("get secret event: level %s stage %s verb %s, want Metadata ResponseComplete get", get.Level, get.Stage, get.Verb)
	}
	if want := (audit.ObjectReference{Resource: "secrets", Namespace: "default", Name: "db", APIVersion: "v1"}); get.ObjectRef == nil || *get.ObjectRef != want {
		t.Errorf("get secret objectRef = %+v, want %+v", get.ObjectRef, want)
	}
	if get.ResponseStatus == nil || get.ResponseStatus.Code != http.StatusOK {
		t.Errorf("get secret responseStatus = %+v, want code 200", get.ResponseStatus)
	}
	if get.RequestObject != nil || get.ResponseObject != nil {
		t.Errorf("Metadata event has bodies: %s %s", get.RequestObject, get.ResponseObject)
	}
	if get.User.Username == "" || get.Annotations["authorization.k8s.io/decision"] != "allow" {
		t.Errorf("get secret event: user %q annotations %v, want a user and an allow decision", get.User.Username, get.Annotations)
	}

	// An impersonated, forbidden get: the policy sees the authenticated
	// user, the event names both, and the status is the refusal's.
	alice := s.ClientFor(t, func(rc *rest.Config) { rc.Impersonate.UserName = "alice" })
	if _, err := alice.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("get secret as alice: %v, want forbidden", err)
	}
	denied := waitAudit(t, logPath, "the impersonated get event", func(ev audit.Event) bool {
		return ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username == "alice"
	})
	if denied.User.Username != get.User.Username || denied.Annotations["authorization.k8s.io/decision"] != "forbid" ||
		denied.ResponseStatus == nil || denied.ResponseStatus.Code != http.StatusForbidden || denied.ResponseStatus.Reason != metav1.StatusReasonForbidden {
		t.Errorf("impersonated get event: user %q annotations %v status %+v; want the admin, forbid, 403 Forbidden",
			denied.User.Username, denied.Annotations, denied.ResponseStatus)
	}

	// A configmap create is logged with both bodies; one a None rule
	// matches is not logged.
	if _, err := s.Client.CoreV1().ConfigMaps("kube-system").Create(ctx, testConfigMap("unaudited"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, testConfigMap("settings"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := waitAudit(t, logPath, "the create configmap event", func(ev audit.Event) bool {
		return ev.Verb == "create" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "configmaps" && bytes.Contains(ev.RequestObject, []byte(`"settings"`))
	})
	if create.Level != audit.LevelRequestResponse || create.ResponseStatus == nil || create.ResponseStatus.Code != http.StatusCreated {
		t.Errorf("create configmap event: level %s status %+v, want RequestResponse and 201", create.Level, create.ResponseStatus)
	}
	var reqCM, respCM corev1.ConfigMap
	if err := json.Unmarshal(create.RequestObject, &reqCM); err != nil || reqCM.Data["color"] != "blue" {
		t.Errorf("requestObject = %s (%v), want the configmap sent", create.RequestObject, err)
	}
	if err := json.Unmarshal(create.ResponseObject, &respCM); err != nil || respCM.UID == "" || respCM.Data["color"] != "blue" {
		t.Errorf("responseObject = %s (%v), want the configmap created, with its uid", create.ResponseObject, err)
	}
	// As upstream's LogRequestObject: a create's objectRef has the name
	// from its body; an update's the resourceVersion it was sent with.
	if want := (audit.ObjectReference{Resource: "configmaps", Namespace: "default", Name: "settings", APIVersion: "v1"}); create.ObjectRef == nil || *create.ObjectRef != want {
		t.Errorf("create configmap objectRef = %+v, want %+v", create.ObjectRef, want)
	}
	respCM.Data["color"] = "green"
	if _, err := s.Client.CoreV1().ConfigMaps("default").Update(ctx, &respCM, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	update := waitAudit(t, logPath, "the update configmap event", func(ev audit.Event) bool {
		return ev.Verb == "update" && ev.ObjectRef != nil && ev.ObjectRef.Name == "settings"
	})
	if want := (audit.ObjectReference{Resource: "configmaps", Namespace: "default", Name: "settings", UID: respCM.UID,
		APIVersion: "v1", ResourceVersion: respCM.ResourceVersion}); *update.ObjectRef != want {
		t.Errorf("update configmap objectRef = %+v, want %+v", update.ObjectRef, want)
	}

	// A request that fails authentication: one event, at ResponseStarted,
	// with no user and upstream's message naming the credentials tried.
	anon := rest.AnonymousClientConfig(s.Config)
	anon.BearerToken = "not-a-token"
	ahc, err := rest.HTTPClientFor(anon)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.Config.Host, "/")+"/api/v1/namespaces/default/configmaps/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err = ahc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("get with a bad token: %s, want 401", resp.Status)
	}
	unauthID := resp.Header.Get("Audit-Id")
	unauth := waitAudit(t, logPath, "the 401 event", func(ev audit.Event) bool { return string(ev.AuditID) == unauthID })
	if unauth.Stage != audit.StageResponseStarted || unauth.Level != audit.LevelRequestResponse || unauth.Verb != "get" ||
		unauth.User.Username != "" || len(unauth.User.Groups) != 0 || unauth.ResponseStatus == nil ||
		unauth.ResponseStatus.Code != http.StatusUnauthorized || unauth.ResponseStatus.Message != "Authentication failed, attempted: bearer" {
		t.Errorf("401 event = %+v, want one at ResponseStarted with no user, code 401 and the bearer attempt", unauth)
	}

	// A watch, long-running, is logged when its response starts and when
	// it ends.
	w, err := s.Client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	isWatch := func(stage audit.Stage) func(audit.Event) bool {
		return func(ev audit.Event) bool {
			return ev.Verb == "watch" && ev.Stage == stage && ev.ObjectRef != nil && ev.ObjectRef.Resource == "configmaps"
		}
	}
	started := waitAudit(t, logPath, "the watch's ResponseStarted event", isWatch(audit.StageResponseStarted))
	w.Stop()
	done := waitAudit(t, logPath, "the watch's ResponseComplete event", isWatch(audit.StageResponseComplete))
	if started.AuditID != done.AuditID || started.ResponseObject != nil || done.ResponseObject != nil {
		t.Errorf("watch events: ids %s and %s, bodies %s %s; want one id and no bodies", started.AuditID, done.AuditID, started.ResponseObject, done.ResponseObject)
	}

	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue))} {
		if bytes.Contains(log, []byte(b)) {
			t.Errorf("audit log holds the secret's value (%q)", b)
		}
	}
	for _, ev := range readAudit(t, logPath) {
		if string(ev.AuditID) == unauthID && ev.Stage != audit.StageResponseStarted {
			t.Errorf("the 401 request has an event at %s", ev.Stage)
		}
		if ev.Stage == audit.StageRequestReceived {
			t.Errorf("event %s at the omitted stage RequestReceived", ev.AuditID)
		}
		if ev.ObjectRef != nil && ev.ObjectRef.Namespace == "kube-system" || bytes.Contains(ev.RequestObject, []byte("unaudited")) {
			t.Errorf("event %s for a request a None rule matches", ev.AuditID)
		}
		if ev.ObjectRef != nil && ev.ObjectRef.Resource != "secrets" && ev.ObjectRef.Resource != "configmaps" {
			t.Errorf("event %s for %s, which no rule logs", ev.AuditID, ev.ObjectRef.Resource)
		}
	}
}

func testConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"color": "blue"}}
}

// BenchmarkAuditCreate measures a ConfigMap create with the audit log off
// and at two levels, to price the audit log per request.
func BenchmarkAuditCreate(b *testing.B) {
	levels := []struct{ name, level string }{{"off", ""}, {"Metadata", "Metadata"}, {"RequestResponse", "RequestResponse"}}
	for _, lv := range levels {
		b.Run(lv.name, func(b *testing.B) {
			dir := b.TempDir()
			s := servertest.Start(b, func(c *server.Config) {
				if lv.level == "" {
					return
				}
				policy := filepath.Join(dir, "policy.yaml")
				doc := "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: " + lv.level + "\n"
				if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
					b.Fatal(err)
				}
				c.AuditPolicyFile = policy
				c.AuditLog = audit.LogConfig{Path: filepath.Join(dir, "audit.log")}
			})
			ctx := b.Context()
			cm := testConfigMap("")
			cm.GenerateName = "bench-"
			for b.Loop() {
				if _, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
