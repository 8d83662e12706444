package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/apiserver/auth"
	"skiff/internal/apiserver/watchcache"
	"skiff/internal/apiserver/webhookclient"
)

// Aggregation: an APIService with spec.service hands its group version to
// an extension API server. runAPIServices checks each one (its Service
// exists and answers discovery for the group version) and records the
// verdict in its Available condition; requests under /apis/<group>/<version>
// of an available one are proxied to the Service's ClusterIP with the
// front-proxy client certificate and the caller in X-Remote-User,
// X-Remote-Group and X-Remote-Extra-* headers; discovery lists its
// resources from the last check.

const (
	// apiServiceResync is how often every APIService is checked again.
	apiServiceResync = 5 * time.Second
	// apiServiceProbeTimeout bounds one availability check.
	apiServiceProbeTimeout = 5 * time.Second
	// aggregatorUser is who availability checks come from.
	aggregatorUser = "system:kube-aggregator"
	// apiServiceManager is the field manager of APIService status.
	apiServiceManager = "skiff-aggregator"
)

// remoteAPI is one group version served by an extension API server.
type remoteAPI struct {
	name                           string
	gv                             schema.GroupVersion
	service                        apiregistrationv1.ServiceReference
	caBundle                       []byte
	insecure                       bool
	groupPriority, versionPriority int32
	available                      bool
	resources                      []metav1.APIResource
}

// remoteView is the set of remote group versions, replaced whole.
type remoteView struct {
	byGV map[schema.GroupVersion]*remoteAPI
}

// remoteFor returns the remote group version a path is under, if any.
func (s *Server) remoteFor(path string) (*remoteAPI, bool) {
	v := s.remote.Load()
	if v == nil || len(v.byGV) == 0 || !strings.HasPrefix(path, "/apis/") {
		return nil, false
	}
	parts := strings.SplitN(strings.TrimPrefix(path, "/apis/"), "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return nil, false
	}
	api, ok := v.byGV[schema.GroupVersion{Group: parts[0], Version: parts[1]}]
	return api, ok
}

// remoteGroups returns the available remote groups that are not served
// here, by descending group priority then name, each with its versions by
// descending version priority.
func (s *Server) remoteGroups() []remoteGroup {
	v := s.remote.Load()
	if v == nil {
		return nil
	}
	local := map[string]bool{}
	for _, g := range s.view.Load().groups {
		local[g.name] = true
	}
	by := map[string]*remoteGroup{}
	for _, api := range v.byGV {
		if !api.available || local[api.gv.Group] {
			continue
		}
		g := by[api.gv.Group]
		if g == nil {
			g = &remoteGroup{name: api.gv.Group}
			by[api.gv.Group] = g
		}
		g.versions = append(g.versions, api)
		g.priority = max(g.priority, api.groupPriority)
	}
	out := make([]remoteGroup, 0, len(by))
	for _, g := range by {
		sort.Slice(g.versions, func(i, j int) bool {
			a, b := g.versions[i], g.versions[j]
			if a.versionPriority != b.versionPriority {
				return a.versionPriority > b.versionPriority
			}
			return versionLess(b.gv.Version, a.gv.Version)
		})
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].priority != out[j].priority {
			return out[i].priority > out[j].priority
		}
		return out[i].name < out[j].name
	})
	return out
}

// remoteGroup is one group of extension API servers.
type remoteGroup struct {
	name     string
	priority int32
	versions []*remoteAPI
}

func (g remoteGroup) apiGroup() metav1.APIGroup {
	out := metav1.APIGroup{Name: g.name}
	for _, v := range g.versions {
		out.Versions = append(out.Versions, metav1.GroupVersionForDiscovery{GroupVersion: v.gv.String(), Version: v.gv.Version})
	}
	out.PreferredVersion = out.Versions[0]
	return out
}

// aggregatedDiscovery is g as aggregated discovery lists it.
func (g remoteGroup) aggregatedDiscovery() apidiscoveryv2.APIGroupDiscovery {
	gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
	for _, v := range g.versions {
		gd.Versions = append(gd.Versions, apidiscoveryv2.APIVersionDiscovery{
			Version: v.gv.Version, Resources: remoteResources(v.gv, v.resources),
			Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
		})
	}
	return gd
}

// remoteResources turns a legacy resource list ("flunders",
// "flunders/status") into aggregated discovery's resources with their
// subresources.
func remoteResources(gv schema.GroupVersion, list []metav1.APIResource) []apidiscoveryv2.APIResourceDiscovery {
	kindOf := func(r metav1.APIResource) *metav1.GroupVersionKind {
		k := &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind}
		if r.Group != "" || r.Version != "" {
			k.Group, k.Version = r.Group, r.Version
		}
		return k
	}
	var out []apidiscoveryv2.APIResourceDiscovery
	index := map[string]int{}
	for _, r := range list {
		if strings.Contains(r.Name, "/") {
			continue
		}
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		index[r.Name] = len(out)
		out = append(out, apidiscoveryv2.APIResourceDiscovery{
			Resource: r.Name, SingularResource: r.SingularName, Scope: scope, Verbs: r.Verbs,
			ShortNames: r.ShortNames, Categories: r.Categories, ResponseKind: kindOf(r),
		})
	}
	for _, r := range list {
		parent, sub, ok := strings.Cut(r.Name, "/")
		i, found := index[parent]
		if !ok || !found {
			continue
		}
		out[i].Subresources = append(out[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource: sub, ResponseKind: kindOf(r), Verbs: r.Verbs,
		})
	}
	return out
}

// runAPIServices checks the APIServices whenever one changes and every
// apiServiceResync, until ctx is done.
func (s *Server) runAPIServices(ctx context.Context) {
	res, ok := s.lookup(apiregistrationv1.GroupName, "v1", "apiservices")
	if !ok {
		return
	}
	select {
	case <-s.cache.Ready():
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(apiServiceResync)
	defer tick.Stop()
	for ctx.Err() == nil {
		w, err := s.cache.Watch(res.bucket, res.bucket, 0)
		if err != nil {
			s.log.Error("apiservice watch failed", "err", err)
			return
		}
		s.syncAPIServices(ctx, res)
		var batch []watchcache.Event
		open := true
		for open && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-w.Notify():
				if batch, open = w.Take(batch); open {
					s.syncAPIServices(ctx, res)
				}
			case <-tick.C:
				s.syncAPIServices(ctx, res)
			}
		}
		w.Stop()
	}
}

// syncAPIServices checks every APIService, publishes the remote view and
// writes the Available conditions that changed.
func (s *Server) syncAPIServices(ctx context.Context, res *resource) {
	entries, _, err := s.cache.List(res.bucket, res.bucket)
	if err != nil {
		return
	}
	next := &remoteView{byGV: map[schema.GroupVersion]*remoteAPI{}}
	type verdict struct {
		a    *apiregistrationv1.APIService
		cond apiregistrationv1.APIServiceCondition
	}
	var verdicts []verdict
	for _, e := range entries {
		a, ok := e.Object.(*apiregistrationv1.APIService)
		if !ok {
			continue
		}
		cond := apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue,
			Reason: "Local", Message: "Local APIServices are always available"}
		if ref := a.Spec.Service; ref != nil {
			api := &remoteAPI{
				name: a.Name, gv: schema.GroupVersion{Group: a.Spec.Group, Version: a.Spec.Version}, service: *ref,
				caBundle: a.Spec.CABundle, insecure: a.Spec.InsecureSkipTLSVerify,
				groupPriority: a.Spec.GroupPriorityMinimum, versionPriority: a.Spec.VersionPriority,
			}
			cond = s.probeAPIService(ctx, api)
			api.available = cond.Status == apiregistrationv1.ConditionTrue
			next.byGV[api.gv] = api
		}
		verdicts = append(verdicts, verdict{a, cond})
	}
	s.remote.Store(next)
	for _, v := range verdicts {
		s.setAPIServiceCondition(ctx, res, v.a, v.cond)
	}
}

// remoteTarget returns the base URL of api's Service and the TLS server
// name it must present.
func (s *Server) remoteTarget(api *remoteAPI) (*url.URL, string, error) {
	ref := api.service
	svc, ok := s.lookupService(ref.Namespace, ref.Name)
	if !ok {
		return nil, "", &unavailable{"ServiceNotFound", fmt.Sprintf("service/%s in %q is not present", ref.Name, ref.Namespace)}
	}
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	serverName := ref.Name + "." + ref.Namespace + ".svc"
	if s.cfg.AggregatorRouting {
		host, err := s.serviceEndpoint(svc, port)
		if err != nil {
			return nil, "", err
		}
		return &url.URL{Scheme: "https", Host: host}, serverName, nil
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == "None" {
		return nil, "", &unavailable{"ServiceAccessError", fmt.Sprintf("service/%s in %q has no ClusterIP", ref.Name, ref.Namespace)}
	}
	u := &url.URL{Scheme: "https", Host: net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))}
	return u, serverName, nil
}

// serviceEndpoint picks a ready endpoint of svc's port: the address and
// the target port of the EndpointSlice port named as the Service port.
func (s *Server) serviceEndpoint(svc *corev1.Service, port int32) (string, error) {
	name, found := "", false
	for _, p := range svc.Spec.Ports {
		if p.Port == port {
			name, found = p.Name, true
		}
	}
	if !found {
		return "", &unavailable{"ServiceAccessError", fmt.Sprintf("service/%s in %q is not listening on port %d", svc.Name, svc.Namespace, port)}
	}
	for _, o := range (cacheObjects{s}).List(discoveryv1.SchemeGroupVersion.WithResource("endpointslices"), svc.Namespace) {
		slice, ok := o.(*discoveryv1.EndpointSlice)
		if !ok || slice.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		var target int32
		for _, p := range slice.Ports {
			if p.Port != nil && ptr.Deref(p.Name, "") == name {
				target = *p.Port
			}
		}
		if target == 0 {
			continue
		}
		for _, e := range slice.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready || len(e.Addresses) == 0 {
				continue
			}
			return net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(target))), nil
		}
	}
	return "", &unavailable{"MissingEndpoints", fmt.Sprintf("endpoints for service/%s in %q have no addresses with port name %q", svc.Name, svc.Namespace, name)}
}

// unavailable is why an APIService is not available.
type unavailable struct{ reason, message string }

func (u *unavailable) Error() string { return u.message }

// remoteClient is the front-proxy client toward api.
func (s *Server) remoteClient(api *remoteAPI, serverName string) (*http.Client, error) {
	if s.proxyClients == nil {
		return nil, fmt.Errorf("no front-proxy client certificate")
	}
	if api.insecure {
		return s.proxyClients.InsecureClient(), nil
	}
	return s.proxyClients.Client(serverName, api.caBundle)
}

// probeAPIService asks api's Service for the discovery document of its
// group version, as upstream's availability check does, and keeps the
// resources it lists.
func (s *Server) probeAPIService(ctx context.Context, api *remoteAPI) apiregistrationv1.APIServiceCondition {
	fail := func(reason, msg string) apiregistrationv1.APIServiceCondition {
		return apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionFalse, Reason: reason, Message: msg}
	}
	base, serverName, err := s.remoteTarget(api)
	if err != nil {
		u := err.(*unavailable)
		return fail(u.reason, u.message)
	}
	client, err := s.remoteClient(api, serverName)
	if err != nil {
		return fail("ServiceAccessError", err.Error())
	}
	target := base.String() + "/apis/" + api.gv.Group + "/" + api.gv.Version
	ctx, cancel := context.WithTimeout(ctx, apiServiceProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fail("FailedDiscoveryCheck", err.Error())
	}
	req.Header.Set("Accept", "application/json")
	setRemoteUser(req.Header, &auth.User{Name: aggregatorUser, Groups: []string{"system:masters"}})
	resp, err := client.Do(req)
	if err != nil {
		return fail("FailedDiscoveryCheck", fmt.Sprintf("failing or missing response from %s: %v", target, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, webhookclient.MaxResponseBytes))
	if err != nil {
		return fail("FailedDiscoveryCheck", fmt.Sprintf("failing or missing response from %s: %v", target, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("FailedDiscoveryCheck", fmt.Sprintf("failing or missing response from %s: bad status from %s: %d", target, target, resp.StatusCode))
	}
	list := &metav1.APIResourceList{}
	if err := json.Unmarshal(data, list); err != nil {
		return fail("FailedDiscoveryCheck", fmt.Sprintf("failing or missing response from %s: %v", target, err))
	}
	api.resources = list.APIResources
	return apiregistrationv1.APIServiceCondition{Type: apiregistrationv1.Available, Status: apiregistrationv1.ConditionTrue,
		Reason: "Passed", Message: "all checks passed"}
}

// setAPIServiceCondition writes a's Available condition when it changed,
// leaving its other conditions alone.
func (s *Server) setAPIServiceCondition(ctx context.Context, res *resource, a *apiregistrationv1.APIService, want apiregistrationv1.APIServiceCondition) {
	for _, c := range a.Status.Conditions {
		if c.Type == want.Type && c.Status == want.Status && c.Reason == want.Reason && c.Message == want.Message {
			return
		}
	}
	mutate := func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*apiregistrationv1.APIService)
		if c.UID != a.UID {
			return nil, apierrors.NewConflict(res.groupResource(), a.Name, fmt.Errorf("the APIService was replaced"))
		}
		want.LastTransitionTime = metav1.Now()
		for i := range c.Status.Conditions {
			if c.Status.Conditions[i].Type == want.Type {
				if c.Status.Conditions[i].Status == want.Status {
					want.LastTransitionTime = c.Status.Conditions[i].LastTransitionTime
				}
				c.Status.Conditions[i] = want
				return c, nil
			}
		}
		c.Status.Conditions = append(c.Status.Conditions, want)
		return c, nil
	}
	if _, err := s.update(ctx, res, requestInfo{name: a.Name}, "", mutate, writeOptions{fieldManager: apiServiceManager}, &subresourceOps{name: "status"}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		s.log.Error("apiservice status failed", "apiservice", a.Name, "err", err)
	}
}

// setRemoteUser puts who is calling in the front-proxy headers.
func setRemoteUser(h http.Header, u *auth.User) {
	for k := range h {
		if strings.HasPrefix(k, "X-Remote-") || strings.HasPrefix(k, "Impersonate-") {
			h.Del(k)
		}
	}
	h.Del("Authorization")
	h.Set("X-Remote-User", u.Name)
	for _, g := range u.Groups {
		h.Add("X-Remote-Group", g)
	}
	for k, vs := range u.Extra {
		for _, v := range vs {
			h.Add("X-Remote-Extra-"+url.PathEscape(k), v)
		}
	}
}

// serveRemote proxies a request to the extension API server of api.
func (s *Server) serveRemote(w http.ResponseWriter, r *http.Request, api *remoteAPI) {
	if !api.available {
		s.writeError(w, r, apierrors.NewServiceUnavailable("service unavailable"))
		return
	}
	user := userFrom(r.Context())
	if user == nil {
		user = &auth.User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}
	}
	base, serverName, err := s.remoteTarget(api)
	if err != nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	client, err := s.remoteClient(api, serverName)
	if err != nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(err.Error()))
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = base.Scheme, base.Host
			pr.Out.Host = ""
			setRemoteUser(pr.Out.Header, user)
		},
		Transport:     client.Transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)))
		},
	}
	proxy.ServeHTTP(w, r)
}
