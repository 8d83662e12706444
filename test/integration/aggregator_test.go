package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"k8s.io/utils/ptr"

	"skiff/internal/pki"
	"skiff/internal/server"
	"skiff/internal/server/servertest"
)

// extensionServer is an extension API server on loopback serving
// wardle.example.com/v1alpha1: it trusts only the front-proxy CA of
// extension-apiserver-authentication for client certificates and echoes
// who the request headers say is calling.
func startExtensionServer(t *testing.T, requestHeaderCA []byte) (*httptest.Server, []byte) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.IssueServing(dir, "sample-api", pki.SANs{DNSNames: []string{"sample-api.default.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(requestHeaderCA) {
		t.Fatal("requestheader-client-ca-file holds no certificate")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(&metav1.APIResourceList{
			TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "wardle.example.com/v1alpha1",
			APIResources: []metav1.APIResource{
				{Name: "flunders", SingularName: "flunder", Namespaced: true, Kind: "Flunder", Verbs: []string{"get", "list", "create"}},
				{Name: "flunders/status", Namespaced: true, Kind: "Flunder", Verbs: []string{"get"}},
			},
		})
	})
	mux.HandleFunc("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders", func(w http.ResponseWriter, r *http.Request) {
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		_ = json.NewEncoder(w).Encode(map[string]interface{}{
			"clientCN": cn, "user": r.Header.Get("X-Remote-User"), "groups": r.Header.Values("X-Remote-Group"),
			"authorization": r.Header.Get("Authorization"), "query": r.URL.RawQuery,
		})
	})
	ext := httptest.NewUnstartedServer(mux)
	ext.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	ext.StartTLS()
	t.Cleanup(ext.Close)
	return ext, ca.CertPEM()
}

// TestAggregator checks that an APIService backed by a Service is checked,
// marked available, listed in discovery and proxied to with the
// front-proxy certificate and the caller in X-Remote-* headers, as
// extension API servers configured from extension-apiserver-authentication
// expect.
func TestAggregator(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) { c.EnableAggregatorRouting = true })
	ctx := context.Background()
	cs := ts.Client

	cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("extension-apiserver-authentication: %v", err)
	}
	want := map[string]string{
		"requestheader-allowed-names":        `["front-proxy-client"]`,
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
	}
	for k, v := range want {
		if cm.Data[k] != v {
			t.Errorf("%s = %q, want %q", k, cm.Data[k], v)
		}
	}
	if !strings.Contains(cm.Data["client-ca-file"], "BEGIN CERTIFICATE") || cm.Data["client-ca-file"] == cm.Data["requestheader-client-ca-file"] {
		t.Errorf("client-ca-file and requestheader-client-ca-file must be two CAs: %v", cm.Data)
	}
	if _, err := cs.RbacV1().Roles("kube-system").Get(ctx, "extension-apiserver-authentication-reader", metav1.GetOptions{}); err != nil {
		t.Errorf("extension-apiserver-authentication-reader: %v", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "system:auth-delegator", metav1.GetOptions{}); err != nil {
		t.Errorf("system:auth-delegator: %v", err)
	}

	// An extension API server bound to extension-apiserver-authentication-reader
	// lists and watches that one ConfigMap by name, and nothing else.
	if _, err := cs.RbacV1().RoleBindings("kube-system").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "wardle-auth-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "wardle", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create rolebinding: %v", err)
	}
	reader := ts.ClientFor(t, func(c *rest.Config) { c.Impersonate.UserName = "system:serviceaccount:default:wardle" })
	byName := metav1.ListOptions{FieldSelector: "metadata.name=extension-apiserver-authentication"}
	servertest.Wait(t, "reader lists the configmap by name", func(context.Context) (bool, error) {
		_, err := reader.CoreV1().ConfigMaps("kube-system").List(ctx, byName)
		return err == nil, err
	})
	if _, err := reader.CoreV1().ConfigMaps("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("reader lists every configmap of kube-system: got %v, want forbidden", err)
	}

	ext, caBundle := startExtensionServer(t, []byte(cm.Data["requestheader-client-ca-file"]))
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(ext.URL, "https://"))
	port, _ := strconv.Atoi(portStr)

	agg, err := aggregator.NewForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	apiServices := agg.ApiregistrationV1().APIServices()
	if _, err := apiServices.Create(ctx, &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com"},
		Spec: apiregistrationv1.APIServiceSpec{
			Service: &apiregistrationv1.ServiceReference{Namespace: "default", Name: "sample-api", Port: ptr.To[int32](7443)},
			Group:   "wardle.example.com", Version: "v1alpha1", CABundle: caBundle,
			GroupPriorityMinimum: 2000, VersionPriority: 200,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create apiservice: %v", err)
	}
	available := func(reason string) {
		t.Helper()
		servertest.Wait(t, "apiservice "+reason, func(context.Context) (bool, error) {
			a, err := apiServices.Get(ctx, "v1alpha1.wardle.example.com", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range a.Status.Conditions {
				if c.Type == apiregistrationv1.Available {
					return c.Reason == reason, nil
				}
			}
			return false, nil
		})
	}
	// No Service yet: not available, and requests answer 503.
	available("ServiceNotFound")
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders").DoRaw(ctx)
	if !apierrors.IsServiceUnavailable(err) {
		t.Errorf("request to an unavailable APIService: got %v, want 503", err)
	}

	if _, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "sample-api"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 7443}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "sample-api-1", Labels: map[string]string{discoveryv1.LabelServiceName: "sample-api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port))}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}
	available("Passed")
	a, err := apiServices.Get(ctx, "v1alpha1.wardle.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Status.Conditions[0]; got.Status != apiregistrationv1.ConditionTrue || got.Message != "all checks passed" {
		t.Errorf("Available condition %+v, want True with \"all checks passed\"", got)
	}

	// Proxied as the caller, through the front proxy.
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders").
		Param("limit", "5").DoRaw(ctx)
	if err != nil {
		t.Fatalf("proxied request: %v", err)
	}
	var echo struct {
		ClientCN, User, Authorization, Query string
		Groups                               []string
	}
	if err := json.Unmarshal(raw, &echo); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if echo.ClientCN != "front-proxy-client" || echo.User != "system:admin" || !containsString(echo.Groups, "system:masters") ||
		echo.Authorization != "" || echo.Query != "limit=5" {
		t.Errorf("extension server saw %+v; want the front-proxy certificate, system:admin in system:masters, no Authorization, the query", echo)
	}

	// Discovery lists the group and its resources.
	dc, err := discovery.NewDiscoveryClientForConfig(ts.Config)
	if err != nil {
		t.Fatal(err)
	}
	resources, err := dc.ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	gvrs, err := discovery.GroupVersionResources(resources)
	if err != nil {
		t.Fatal(err)
	}
	flunders := schema.GroupVersionResource{Group: "wardle.example.com", Version: "v1alpha1", Resource: "flunders"}
	if _, ok := gvrs[flunders]; !ok {
		t.Errorf("discovery lacks %v", flunders)
	}
	group, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/wardle.example.com").DoRaw(ctx)
	if err != nil {
		t.Fatalf("group document: %v", err)
	}
	var ag metav1.APIGroup
	_ = json.Unmarshal(group, &ag)
	if diff := cmp.Diff("wardle.example.com/v1alpha1", ag.PreferredVersion.GroupVersion); diff != "" {
		t.Errorf("preferred version (-want +got):\n%s", diff)
	}

	// Gone with its APIService.
	if err := apiServices.Delete(ctx, "v1alpha1.wardle.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	servertest.Wait(t, "group version unserved", func(context.Context) (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/wardle.example.com/v1alpha1/namespaces/default/flunders").DoRaw(ctx)
		return apierrors.IsNotFound(err), err
	})
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
