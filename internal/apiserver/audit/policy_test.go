package audit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testPolicy = `
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
- level: None
  userGroups: ["system:nodes"]
  nonResourceURLs: ["/healthz*", "/version"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets"]
- level: Request
  resources:
  - group: ""
    resources: ["pods/log", "pods/status"]
- level: RequestResponse
  namespaces: ["kube-system"]
  omitStages: ["ResponseStarted"]
  omitManagedFields: false
  resources:
  - group: ""
    resources: ["configmaps"]
    resourceNames: ["cluster-info"]
- level: Request
  resources:
  - group: apps
    resources: ["*/scale"]
  - group: batch
- level: Metadata
  resources:
  - group: ""
    resources: ["pods/*"]
- level: RequestResponse
  verbs: ["create", "update"]
  resources:
  - group: ""
    resources: ["*"]
- level: Metadata
  nonResourceURLs: ["/metrics"]
omitManagedFields: true
`

func TestDecide(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	res := func(verb, group, resource, sub, ns, name string) Attributes {
		return Attributes{User: "alice", Groups: []string{"devs"}, Verb: verb, ResourceRequest: true,
			APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	nonRes := func(user, group, path string) Attributes {
		return Attributes{User: user, Groups: []string{group}, Verb: "get", Path: path}
	}
	omitRR := []Stage{StageRequestReceived}
	tests := []struct {
		name  string
		attrs Attributes
		want  Decision
	}{
		{"proxy watch dropped", Attributes{User: "system:kube-proxy", Verb: "watch", ResourceRequest: true, Resource: "endpoints"},
			Decision{Level: LevelNone}},
		{"proxy list not dropped by the watch rule", Attributes{User: "system:kube-proxy", Verb: "create", ResourceRequest: true, Resource: "events"},
			Decision{Level: LevelRequestResponse, OmitStages: omitRR, OmitManagedFields: true}},
		{"node healthz prefix", nonRes("n1", "system:nodes", "/healthz/ready"), Decision{Level: LevelNone}},
		{"secrets at metadata", res("get", "", "secrets", "", "default", "s"),
			Decision{Level: LevelMetadata, OmitStages: omitRR, OmitManagedFields: true}},
		{"secret subresource is not secrets", res("create", "", "secrets", "x", "default", "s"),
			Decision{Level: LevelRequestResponse, OmitStages: omitRR, OmitManagedFields: true}},
		{"pods/log", res("get", "", "pods", "log", "default", "p"),
			Decision{Level: LevelRequest, OmitStages: omitRR, OmitManagedFields: true}},
		{"pods/exec by pods/*", res("create", "", "pods", "exec", "default", "p"),
			Decision{Level: LevelMetadata, OmitStages: omitRR, OmitManagedFields: true}},
		{"pods itself not by pods/*", res("get", "", "pods", "", "default", "p"), Decision{Level: LevelNone}},
		{"resourceNames and namespace match", res("get", "", "configmaps", "", "kube-system", "cluster-info"),
			Decision{Level: LevelRequestResponse, OmitStages: []Stage{StageRequestReceived, StageResponseStarted}}},
		{"other name", res("get", "", "configmaps", "", "kube-system", "other"), Decision{Level: LevelNone}},
		{"other namespace", res("get", "", "configmaps", "", "default", "cluster-info"), Decision{Level: LevelNone}},
		{"*/scale", res("update", "apps", "deployments", "scale", "default", "d"),
			Decision{Level: LevelRequest, OmitStages: omitRR, OmitManagedFields: true}},
		{"apps main resource not */scale", res("update", "apps", "deployments", "", "default", "d"), Decision{Level: LevelNone}},
		{"whole group", res("delete", "batch", "jobs", "", "default", "j"),
			Decision{Level: LevelRequest, OmitStages: omitRR, OmitManagedFields: true}},
		{"metrics exact", nonRes("alice", "devs", "/metrics"), Decision{Level: LevelMetadata, OmitStages: omitRR, OmitManagedFields: true}},
		{"resource rule skips non-resource", nonRes("alice", "devs", "/api"), Decision{Level: LevelNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, p.Decide(tt.attrs)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"kind", "apiVersion: audit.k8s.io/v1\nkind: Other\nrules: []"},
		{"level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]"},
		{"stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Later]\nrules: []"},
		{"rule stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, omitStages: [Later]}]"},
		{"mixed", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [/x], namespaces: [a]}]"},
		{"url wildcard", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: ['/a*b']}]"},
		{"unknown field", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, user: [a]}]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParsePolicy([]byte(tt.doc)); err == nil {
				t.Errorf("ParsePolicy accepted %q", tt.doc)
			}
		})
	}
}
