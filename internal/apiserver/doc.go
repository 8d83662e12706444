// Package apiserver serves the Kubernetes REST API over a storage.Store: one
// generic store drives every resource from its registry.Resource description
// (defaults, validation, status and scale, table columns, field selectors),
// with content negotiation, discovery, watch through the watch cache,
// patches, managedFields and server-side apply.
//
// Resources are the built-in ones given to New plus, at run time, those of
// CustomResourceDefinitions. Run follows the CRD bucket of the watch cache:
//
//	CRD added/changed ──► finalizer customresourcecleanup added
//	                  ──► names checked against the group's other CRDs
//	                  ──► served versions registered (watch-cache bucket,
//	                      discovery, OpenAPI) ──► NamesAccepted, Established
//	CRD deleting      ──► resources unregistered ──► objects deleted
//	                  ──► finalizer removed ──► CRD gone
//
// The served set is an immutable view swapped whole when a CRD comes or
// goes, so handlers read it without locks. Custom objects are
// *unstructured.Unstructured, stored as JSON under
// /registry/<group>/<plural>/, and never offered as protobuf.
//
// Custom objects whose CRD converts with a Webhook are converted on the
// way out (reads, lists in one review, watches) and on the way in (writes,
// to the storage version) by conversion/; the watch cache keeps them as
// stored. APIServices with a Service hand their group version to an
// extension API server: runAPIServices checks them and sets their
// Available condition, requests under their /apis/<group>/<version> are
// proxied with the front-proxy client certificate and the caller in
// X-Remote-* headers, and discovery lists their resources.
//
// Every authenticated request passes flow control (apf/) after
// impersonation and before authorization, as upstream's chain has it: it
// gets its deadline (RequestTimeout, or a shorter timeout parameter; 504
// past it), is classified by the stored FlowSchemas, answered with the
// X-Kubernetes-PF-* headers, and waits for a seat of its priority level or
// is refused with 429 and Retry-After. Watches hold their seat until they
// have started, and count against their user's MaxWatchesPerUser; other
// long-running requests (exec, attach, port-forward, proxy, log) are not
// queued. Run follows the FlowSchema and PriorityLevelConfiguration
// buckets of the watch cache and reconfigures the levels live.
//
// Its children do one job each and never import it: registry/ describes
// the resources (strategies, including the updates of subresources such
// as status and binding), admission/ is the admission chain (built-in
// plugins, webhooks, policies) that create, update, delete and connect
// run, allocator/ hands out Services' ClusterIPs and NodePorts,
// fieldmanager/ records the managedFields of built-in kinds, watchcache/
// serves LIST and WATCH, auth/ authenticates and authorizes, apf/
// classifies and queues requests, openapi/ serves the schemas. Where a child needs the server (admission reading
// namespaces and charging quotas), the child defines the interface and
// the server implements it.
package apiserver
