package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	arv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff/internal/pki"

	"skiff/internal/server/servertest"
)

// webhookServer is an HTTPS admission webhook on loopback with its own CA.
// Its paths:
//
//	/deny-label  refuses objects labelled deny=yes, with a warning
//	/deny-all    refuses everything
//	/add-label   adds the label mutated=yes with a JSONPatch
type webhookServer struct {
	*httptest.Server
	caPEM []byte

	mu       sync.Mutex
	requests []admissionv1.AdmissionRequest
}

func startWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.IssueServing(dir, "webhook", pki.SANs{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ws := &webhookServer{caPEM: ca.CertPEM()}
	mux := http.NewServeMux()
	mux.HandleFunc("/deny-label", ws.handle(func(req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) {
		var obj metav1.PartialObjectMetadata
		_ = json.Unmarshal(req.Object.Raw, &obj)
		if req.Operation == admissionv1.Delete {
			_ = json.Unmarshal(req.OldObject.Raw, &obj)
		}
		resp.Warnings = []string{"seen by deny-label"}
		if obj.Labels["deny"] == "yes" {
			resp.Allowed = false
			resp.Result = &metav1.Status{Message: "the object carries a forbidden label"}
		}
	}))
	mux.HandleFunc("/deny-all", ws.handle(func(req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) {
		resp.Allowed = false
		resp.Result = &metav1.Status{Message: "nothing passes", Code: http.StatusConflict}
	}))
	mux.HandleFunc("/add-label", ws.handle(func(req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) {
		var obj metav1.PartialObjectMetadata
		_ = json.Unmarshal(req.Object.Raw, &obj)
		patch := `[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`
		if obj.Labels != nil {
			patch = `[{"op":"add","path":"/metadata/labels/mutated","value":"yes"}]`
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = []byte(patch), &pt
	}))
	ws.Server = httptest.NewUnstartedServer(mux)
	ws.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ws.StartTLS()
	t.Cleanup(ws.Close)
	return ws
}

// handle decodes an AdmissionReview, records its request and answers
// with what decide leaves in the response (allowed unless it says not).
func (ws *webhookServer) handle(decide func(*admissionv1.AdmissionRequest, *admissionv1.AdmissionResponse)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		ws.mu.Lock()
		ws.requests = append(ws.requests, *review.Request)
		ws.mu.Unlock()
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		decide(review.Request, resp)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: resp})
	}
}

// lastRequest returns the latest request the webhook saw for name.
func (ws *webhookServer) lastRequest(name string) (admissionv1.AdmissionRequest, bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i := len(ws.requests) - 1; i >= 0; i-- {
		if ws.requests[i].Name == name {
			return ws.requests[i], true
		}
	}
	return admissionv1.AdmissionRequest{}, false
}

func (ws *webhookServer) clientConfig(path string) arv1.WebhookClientConfig {
	return arv1.WebhookClientConfig{URL: ptr.To(ws.URL + path), CABundle: ws.caPEM}
}

// warnings collects the Warning headers a client receives.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) has(text string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.list {
		if s == text {
			return true
		}
	}
	return false
}

func configMapRule(ops ...arv1.OperationType) []arv1.RuleWithOperations {
	return []arv1.RuleWithOperations{{Operations: ops, Rule: arv1.Rule{
		APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}
}

func validatingWebhook(name string, cc arv1.WebhookClientConfig, rules []arv1.RuleWithOperations, mut func(*arv1.ValidatingWebhook)) *arv1.ValidatingWebhookConfiguration {
	h := arv1.ValidatingWebhook{
		Name: name, ClientConfig: cc, Rules: rules,
		SideEffects:             ptr.To(arv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
	}
	if mut != nil {
		mut(&h)
	}
	return &arv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}, Webhooks: []arv1.ValidatingWebhook{h}}
}

func createNamespace(t *testing.T, c kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	n := ns(name)
	n.Labels = labels
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func statusOf(t *testing.T, err error) metav1.Status {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("want an API status error, got %v", err)
	}
	return se.ErrStatus
}

func TestAdmissionWebhooks(t *testing.T) {
	ts := servertest.Start(t, nil)
	warns := &warnings{}
	rc := rest.CopyConfig(ts.Config)
	rc.WarningHandler = warns
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ws := startWebhookServer(t)
	ctx := context.Background()
	vwc := c.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	mwc := c.AdmissionregistrationV1().MutatingWebhookConfigurations()

	t.Run("configurations are validated", func(t *testing.T) {
		bad := validatingWebhook("bad.skiff.test", arv1.WebhookClientConfig{URL: ptr.To("http://127.0.0.1/x")}, configMapRule(arv1.Create), nil)
		_, err := vwc.Create(ctx, bad, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "'https' is the only allowed URL scheme") {
			t.Fatalf("http webhook: %v", err)
		}
		noName := validatingWebhook("short", ws.clientConfig("/deny-all"), configMapRule(arv1.Create), nil)
		if _, err := vwc.Create(ctx, noName, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("webhook name without three segments: %v", err)
		}
		badCEL := validatingWebhook("cel.skiff.test", ws.clientConfig("/deny-all"), configMapRule(arv1.Create), func(h *arv1.ValidatingWebhook) {
			h.MatchConditions = []arv1.MatchCondition{{Name: "broken", Expression: "object.metadata.name.startsWith("}}
		})
		if _, err := vwc.Create(ctx, badCEL, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "compilation failed") {
			t.Fatalf("matchCondition that does not compile: %v", err)
		}
		got, err := vwc.Create(ctx, validatingWebhook("defaults.skiff.test", ws.clientConfig("/deny-all"), configMapRule(arv1.Create),
			func(h *arv1.ValidatingWebhook) {
				h.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"never": "x"}}
			}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h := got.Webhooks[0]
		if *h.FailurePolicy != arv1.Fail || *h.TimeoutSeconds != 10 || *h.MatchPolicy != arv1.Equivalent || *h.Rules[0].Scope != arv1.AllScopes || h.NamespaceSelector == nil {
			t.Errorf("defaults not applied: %+v", h)
		}
		_ = vwc.Delete(ctx, got.Name, metav1.DeleteOptions{})
	})

	t.Run("validating webhook denies a labelled configmap in selected namespaces", func(t *testing.T) {
		createNamespace(t, c, "vwh-on", map[string]string{"webhooks": "on"})
		createNamespace(t, c, "vwh-off", nil)
		cfg := validatingWebhook("deny-label.skiff.test", ws.clientConfig("/deny-label"), configMapRule(arv1.Create, arv1.Update, arv1.Delete),
			func(h *arv1.ValidatingWebhook) {
				h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"webhooks": "on"}}
			})
		if _, err := vwc.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer vwc.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		cms := c.CoreV1().ConfigMaps("vwh-on")
		var denyErr error
		servertest.Wait(t, "the webhook to deny", func(context.Context) (bool, error) {
			_, denyErr = cms.Create(ctx, configMap("bad", map[string]string{"deny": "yes"}), metav1.CreateOptions{})
			if denyErr == nil {
				_ = cms.Delete(ctx, "bad", metav1.DeleteOptions{})
			}
			return denyErr != nil, nil
		})
		st := statusOf(t, denyErr)
		wantMsg := `configmaps "bad" is forbidden: admission webhook "deny-label.skiff.test" denied the request: the object carries a forbidden label`
		if st.Code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || st.Message != wantMsg {
			t.Errorf("denial = %d %s %q, want 403 Forbidden %q", st.Code, st.Reason, st.Message, wantMsg)
		}
		if !warns.has("seen by deny-label") {
			t.Errorf("webhook warning not passed on; got %v", warns.list)
		}
		req, ok := ws.lastRequest("bad")
		if !ok {
			t.Fatal("webhook saw no request for bad")
		}
		if req.Operation != admissionv1.Create || req.Namespace != "vwh-on" || req.Kind != (metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}) ||
			req.Resource != (metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}) || req.UserInfo.Username == "" ||
			req.UID == "" || req.DryRun == nil || *req.DryRun || !strings.Contains(string(req.Options.Raw), `"kind":"CreateOptions"`) ||
			!strings.Contains(string(req.Object.Raw), `"kind":"ConfigMap"`) {
			t.Errorf("unexpected AdmissionRequest: %+v\nobject %s\noptions %s", req, req.Object.Raw, req.Options.Raw)
		}

		if _, err := cms.Create(ctx, configMap("good", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("unlabelled configmap: %v", err)
		}
		if _, err := c.CoreV1().ConfigMaps("vwh-off").Create(ctx, configMap("bad", map[string]string{"deny": "yes"}), metav1.CreateOptions{}); err != nil {
			t.Fatalf("namespace outside the selector: %v", err)
		}
		// An update that adds the label is refused too, and the webhook
		// sees the old object.
		patch := []byte(`{"metadata":{"labels":{"deny":"yes"}}}`)
		_, err := cms.Patch(ctx, "good", types.MergePatchType, patch, metav1.PatchOptions{})
		if st := statusOf(t, err); st.Code != http.StatusForbidden {
			t.Fatalf("patch adding the label: %v", err)
		}
		if req, _ := ws.lastRequest("good"); req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
			t.Errorf("update request: operation %s, oldObject %s", req.Operation, req.OldObject.Raw)
		}
		// A dry run calls webhooks without side effects, and says so.
		_, err = cms.Create(ctx, configMap("dry", map[string]string{"deny": "yes"}), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if st := statusOf(t, err); st.Code != http.StatusForbidden {
			t.Fatalf("dry-run create: %v", err)
		}
		if req, _ := ws.lastRequest("dry"); req.DryRun == nil || !*req.DryRun {
			t.Errorf("dry run not flagged: %+v", req.DryRun)
		}
		// Deleting a labelled configmap (created before the webhook
		// selected its namespace) is refused on its old object.
		offCMs := c.CoreV1().ConfigMaps("vwh-off")
		err = offCMs.Delete(ctx, "bad", metav1.DeleteOptions{})
		if err != nil {
			t.Fatalf("delete outside the selector: %v", err)
		}
		if _, err := cms.Update(ctx, configMap("good", nil), metav1.UpdateOptions{}); err != nil {
			t.Fatalf("plain update: %v", err)
		}
	})

	t.Run("mutating webhook adds a label on create and update", func(t *testing.T) {
		createNamespace(t, c, "mwh", map[string]string{"mutate": "yes"})
		cfg := &arv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "add-label"}, Webhooks: []arv1.MutatingWebhook{{
			Name: "add-label.skiff.test", ClientConfig: ws.clientConfig("/add-label"), Rules: configMapRule(arv1.Create, arv1.Update),
			SideEffects: ptr.To(arv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mutate": "yes"}},
		}}}
		if _, err := mwc.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer mwc.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		cms := c.CoreV1().ConfigMaps("mwh")
		servertest.Wait(t, "the webhook to mutate", func(context.Context) (bool, error) {
			got, err := cms.Create(ctx, configMap("probe", nil), metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			_ = cms.Delete(ctx, "probe", metav1.DeleteOptions{})
			return got.Labels["mutated"] == "yes", nil
		})
		created, err := cms.Create(ctx, configMap("cm", map[string]string{"own": "label"}), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if created.Labels["mutated"] != "yes" || created.Labels["own"] != "label" {
			t.Errorf("created labels = %v", created.Labels)
		}
		stored, err := cms.Get(ctx, "cm", metav1.GetOptions{})
		if err != nil || stored.Labels["mutated"] != "yes" {
			t.Fatalf("stored labels = %v (%v)", stored.Labels, err)
		}
		// Removing the label with a patch: the webhook puts it back.
		patched, err := cms.Patch(ctx, "cm", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/labels/mutated"}]`), metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if patched.Labels["mutated"] != "yes" {
			t.Errorf("patched labels = %v", patched.Labels)
		}
		// Server-side apply goes through the webhook as well.
		applied, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", "mwh").WithData(map[string]string{"k": "v"}), metav1.ApplyOptions{FieldManager: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if applied.Labels["mutated"] != "yes" {
			t.Errorf("applied labels = %v", applied.Labels)
		}
	})

	t.Run("failurePolicy decides when the webhook is down", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		downURL := "https://" + l.Addr().String() + "/down"
		l.Close()
		createNamespace(t, c, "down", map[string]string{"down": "yes"})
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"down": "yes"}}
		cfg := validatingWebhook("down.skiff.test", arv1.WebhookClientConfig{URL: &downURL, CABundle: ws.caPEM}, configMapRule(arv1.Create),
			func(h *arv1.ValidatingWebhook) {
				h.FailurePolicy = ptr.To(arv1.Ignore)
				h.NamespaceSelector = sel
			})
		created, err := vwc.Create(ctx, cfg, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer vwc.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		cms := c.CoreV1().ConfigMaps("down")
		if _, err := cms.Create(ctx, configMap("ignored", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("failurePolicy Ignore: %v", err)
		}
		created.Webhooks[0].FailurePolicy = ptr.To(arv1.Fail)
		if _, err := vwc.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var failErr error
		servertest.Wait(t, "failurePolicy Fail to apply", func(context.Context) (bool, error) {
			_, failErr = cms.Create(ctx, configMap("failed", nil), metav1.CreateOptions{})
			if failErr == nil {
				_ = cms.Delete(ctx, "failed", metav1.DeleteOptions{})
			}
			return failErr != nil, nil
		})
		st := statusOf(t, failErr)
		if st.Code != http.StatusInternalServerError || st.Reason != metav1.StatusReasonInternalError ||
			!strings.HasPrefix(st.Message, `Internal error occurred: failed calling webhook "down.skiff.test": failed to call webhook: Post "`+downURL+"?timeout=10s\"") {
			t.Errorf("failure = %d %s %q", st.Code, st.Reason, st.Message)
		}
	})

	t.Run("matchConditions and objectSelector pick what the webhook sees", func(t *testing.T) {
		createNamespace(t, c, "mc", nil)
		cfg := validatingWebhook("deny-all.skiff.test", ws.clientConfig("/deny-all"), configMapRule(arv1.Create, arv1.Delete),
			func(h *arv1.ValidatingWebhook) {
				h.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "mc"}}
				h.MatchConditions = []arv1.MatchCondition{
					{Name: "blocked-names", Expression: "request.operation == 'DELETE' || object.metadata.name.startsWith('blocked-')"},
					{Name: "protected-deletes", Expression: "request.operation != 'DELETE' || (has(oldObject.metadata.labels) && oldObject.metadata.labels[?'protect'].orValue('') == 'yes')"},
				}
			})
		cms := c.CoreV1().ConfigMaps("mc")
		if _, err := cms.Create(ctx, configMap("keep", map[string]string{"protect": "yes"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Create(ctx, configMap("scratch", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := vwc.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer vwc.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		var denyErr error
		servertest.Wait(t, "the matchCondition to deny", func(context.Context) (bool, error) {
			_, denyErr = cms.Create(ctx, configMap("blocked-1", nil), metav1.CreateOptions{})
			if denyErr == nil {
				_ = cms.Delete(ctx, "blocked-1", metav1.DeleteOptions{})
			}
			return denyErr != nil, nil
		})
		// The webhook's own code (409) is kept.
		if st := statusOf(t, denyErr); st.Code != http.StatusConflict || !strings.Contains(st.Message, `admission webhook "deny-all.skiff.test" denied the request: nothing passes`) {
			t.Errorf("denial = %d %q", st.Code, st.Message)
		}
		if _, err := cms.Create(ctx, configMap("fine-1", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("name outside the condition: %v", err)
		}
		if err := cms.Delete(ctx, "keep", metav1.DeleteOptions{}); err == nil || statusOf(t, err).Code != http.StatusConflict {
			t.Fatalf("delete of a protected configmap: %v", err)
		}
		if err := cms.Delete(ctx, "scratch", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete of an unprotected configmap: %v", err)
		}
		if _, err := cms.Get(ctx, "keep", metav1.GetOptions{}); err != nil {
			t.Fatalf("protected configmap gone: %v", err)
		}
	})
	t.Run("connect to a pod's attach is admitted with its options", func(t *testing.T) {
		cfg := validatingWebhook("deny-attach.skiff.test", ws.clientConfig("/deny-all"), []arv1.RuleWithOperations{{
			Operations: []arv1.OperationType{arv1.Connect},
			Rule:       arv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/attach"}}}}, nil)
		if _, err := vwc.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer vwc.Delete(ctx, cfg.Name, metav1.DeleteOptions{})
		var denyErr error
		servertest.Wait(t, "the webhook to deny the attach", func(context.Context) (bool, error) {
			denyErr = c.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("attached").SubResource("attach").
				Param("container", "c1").Param("stdin", "true").Param("stdout", "true").Do(ctx).Error()
			return denyErr != nil && strings.Contains(denyErr.Error(), "nothing passes"), nil
		})
		if st := statusOf(t, denyErr); st.Code != http.StatusConflict ||
			st.Message != `pods "attached" is forbidden: admission webhook "deny-attach.skiff.test" denied the request: nothing passes` {
			t.Errorf("denial = %d %q", st.Code, st.Message)
		}
		req, ok := ws.lastRequest("attached")
		if !ok {
			t.Fatal("the webhook saw no request for the attach")
		}
		var opts corev1.PodAttachOptions
		if err := json.Unmarshal(req.Object.Raw, &opts); err != nil {
			t.Fatal(err)
		}
		if req.Operation != admissionv1.Connect || req.SubResource != "attach" || req.Kind.Kind != "PodAttachOptions" ||
			opts.Kind != "PodAttachOptions" || !opts.Stdin || !opts.Stdout || opts.Stderr || opts.Container != "c1" {
			t.Errorf("request = %s %s %v, options %+v", req.Operation, req.SubResource, req.Kind, opts)
		}
	})

}

func TestValidatingAdmissionPolicy(t *testing.T) {
	ts := servertest.Start(t, nil)
	warns := &warnings{}
	rc := rest.CopyConfig(ts.Config)
	rc.WarningHandler = warns
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	policies := c.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	bindings := c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()

	policy := &arv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "max-replicas.skiff.test"},
		Spec: arv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{{RuleWithOperations: arv1.RuleWithOperations{
				Operations: []arv1.OperationType{arv1.Create, arv1.Update},
				Rule:       arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments", "deployments/scale"}},
			}}}},
			Validations: []arv1.Validation{{
				Expression:        "object.spec.replicas <= 5",
				MessageExpression: "'replicas must be at most 5, got ' + string(object.spec.replicas)",
			}},
		},
	}
	if _, err := policies.Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &arv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "max-replicas-binding"},
		Spec: arv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []arv1.ValidationAction{arv1.Deny},
			MatchResources: &arv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": "default"}}},
		},
	}
	if _, err := bindings.Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deps := c.AppsV1().Deployments("default")
	var denyErr error
	servertest.Wait(t, "the policy to deny", func(context.Context) (bool, error) {
		_, denyErr = deps.Create(ctx, deployment("big", 6), metav1.CreateOptions{})
		if denyErr == nil {
			_ = deps.Delete(ctx, "big", metav1.DeleteOptions{})
		}
		return denyErr != nil, nil
	})
	st := statusOf(t, denyErr)
	want := `deployments.apps "big" is forbidden: ValidatingAdmissionPolicy 'max-replicas.skiff.test' with binding 'max-replicas-binding' denied request: replicas must be at most 5, got 6`
	if st.Code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid || st.Message != want {
		t.Errorf("denial = %d %s %q, want 422 Invalid %q", st.Code, st.Reason, st.Message, want)
	}

	if _, err := deps.Create(ctx, deployment("small", 3), metav1.CreateOptions{}); err != nil {
		t.Fatalf("3 replicas: %v", err)
	}
	_, err = deps.UpdateScale(ctx, "small", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "small", Namespace: "default"},
		Spec: autoscalingv1.ScaleSpec{Replicas: 7}}, metav1.UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "replicas must be at most 5, got 7") {
		t.Fatalf("scale to 7: %v", err)
	}
	if d, err := deps.Get(ctx, "small", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 3 {
		t.Fatalf("after refused scale: %v %v", d.Spec.Replicas, err)
	}
	// The binding's namespaceSelector leaves other namespaces alone.
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns("free"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AppsV1().Deployments("free").Create(ctx, deployment("big", 6), metav1.CreateOptions{}); err != nil {
		t.Fatalf("namespace outside the binding: %v", err)
	}

	// A Warn binding with params from a ConfigMap: the write passes, with
	// a warning; a Forbidden reason answers 403 when it denies.
	limits := configMap("limits", nil)
	limits.Data = map[string]string{"max": "2"}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, limits, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	paramPolicy := &arv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "param-replicas.skiff.test"},
		Spec: arv1.ValidatingAdmissionPolicySpec{
			ParamKind: &arv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
			MatchConstraints: &arv1.MatchResources{ResourceRules: []arv1.NamedRuleWithOperations{{RuleWithOperations: arv1.RuleWithOperations{
				Operations: []arv1.OperationType{arv1.Create},
				Rule:       arv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			}}}},
			Variables:   []arv1.Variable{{Name: "max", Expression: "int(params.data.max)"}},
			Validations: []arv1.Validation{{Expression: "object.spec.replicas <= variables.max", Message: "too many replicas for the params", Reason: ptr.To(metav1.StatusReasonForbidden)}},
		},
	}
	if _, err := policies.Create(ctx, paramPolicy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	warnBinding := &arv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "param-warn"},
		Spec: arv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: paramPolicy.Name, ValidationActions: []arv1.ValidationAction{arv1.Warn},
			ParamRef: &arv1.ParamRef{Name: "limits", Namespace: "default", ParameterNotFoundAction: ptr.To(arv1.DenyAction)},
		},
	}
	if _, err := bindings.Create(ctx, warnBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantWarning := "Validation failed for ValidatingAdmissionPolicy 'param-replicas.skiff.test' with binding 'param-warn': too many replicas for the params"
	n := 0
	servertest.Wait(t, "the Warn binding", func(context.Context) (bool, error) {
		n++
		name := "warned-" + string(rune('a'+n%26))
		if _, err := deps.Create(ctx, deployment(name, 4), metav1.CreateOptions{}); err != nil {
			return false, err
		}
		_ = deps.Delete(ctx, name, metav1.DeleteOptions{})
		return warns.has(wantWarning), nil
	})
	warnBinding, err = bindings.Get(ctx, "param-warn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	warnBinding.Spec.ValidationActions = []arv1.ValidationAction{arv1.Deny}
	if _, err := bindings.Update(ctx, warnBinding, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "the Deny binding", func(context.Context) (bool, error) {
		_, denyErr = deps.Create(ctx, deployment("four", 4), metav1.CreateOptions{})
		if denyErr == nil {
			_ = deps.Delete(ctx, "four", metav1.DeleteOptions{})
		}
		return denyErr != nil, nil
	})
	if st := statusOf(t, denyErr); st.Code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden ||
		!strings.HasSuffix(st.Message, "denied request: too many replicas for the params") {
		t.Errorf("param denial = %d %s %q", st.Code, st.Reason, st.Message)
	}
	// Without its params, a Deny parameterNotFoundAction refuses.
	if err := c.CoreV1().ConfigMaps("default").Delete(ctx, "limits", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "missing params to deny", func(context.Context) (bool, error) {
		_, err := deps.Create(ctx, deployment("one", 1), metav1.CreateOptions{})
		if err == nil {
			_ = deps.Delete(ctx, "one", metav1.DeleteOptions{})
			return false, nil
		}
		return strings.Contains(err.Error(), "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"), err
	})

	t.Run("policies are validated", func(t *testing.T) {
		bad := policy.DeepCopy()
		bad.Name = "bad.skiff.test"
		bad.Spec.Validations[0].Expression = "object.spec.replicas <="
		if _, err := policies.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("policy whose expression does not compile: %v", err)
		}
		both := binding.DeepCopy()
		both.Name = "both"
		both.Spec.ValidationActions = []arv1.ValidationAction{arv1.Deny, arv1.Warn}
		if _, err := bindings.Create(ctx, both, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("binding with Deny and Warn: %v", err)
		}
	})
}
