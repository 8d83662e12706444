package resourceapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"skiff/internal/apiserver/registry"
)

func res(t *testing.T, name string) registry.Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Resource == name {
			return r
		}
	}
	t.Fatalf("no resource %q", name)
	return registry.Resource{}
}

func claim(requests ...resourcev1.DeviceRequest) *resourcev1.ResourceClaim {
	return &resourcev1.ResourceClaim{Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: requests}}}
}

func exact(name, class string) resourcev1.DeviceRequest {
	return resourcev1.DeviceRequest{Name: name, Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: class}}
}

func TestValidate(t *testing.T) {
	slice := func(mod func(*resourcev1.ResourceSliceSpec)) *resourcev1.ResourceSlice {
		s := &resourcev1.ResourceSlice{Spec: resourcev1.ResourceSliceSpec{
			Driver: "dra.example.com", NodeName: ptr.To("node-1"),
			Pool: resourcev1.ResourcePool{Name: "cluster", Generation: 1, ResourceSliceCount: 1},
		}}
		if mod != nil {
			mod(&s.Spec)
		}
		return s
	}
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		want     []string
	}{
		{"device class matching nothing", "deviceclasses", &resourcev1.DeviceClass{Spec: resourcev1.DeviceClassSpec{
			Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "false"}}}}}, nil},
		{"device class selector that does not compile", "deviceclasses", &resourcev1.DeviceClass{Spec: resourcev1.DeviceClassSpec{
			Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "pod.name == 'x'"}}, {}}}},
			[]string{
				"spec.selectors[0].cel.expression: Invalid value: \"pod.name == 'x'\": compilation failed: ERROR: <input>:1:1: undeclared reference to 'pod' (in container '')\n | pod.name == 'x'\n | ^",
				"spec.selectors[1].cel: Required value",
			}},
		{"device class selector that is not a bool", "deviceclasses", &resourcev1.DeviceClass{Spec: resourcev1.DeviceClassSpec{
			Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: "1"}}}}},
			[]string{`spec.selectors[0].cel.expression: Invalid value: "1": must evaluate to bool or the unknown type, not int`}},
		{"claim with one exact request", "resourceclaims", claim(exact("req-0", "dra.example.com")), nil},
		{"claim request without a kind", "resourceclaims", claim(resourcev1.DeviceRequest{Name: "req-0"}),
			[]string{"spec.devices.requests[0]: Required value: exactly one of `exactly` or `firstAvailable` is required"}},
		{"claim requests with one name and no class", "resourceclaims", claim(exact("r", "c"), exact("r", "")),
			[]string{`spec.devices.requests[1].name: Duplicate value: "r"`, "spec.devices.requests[1].exactly.deviceClassName: Required value"}},
		{"template with a bad request name", "resourceclaimtemplates", &resourcev1.ResourceClaimTemplate{Spec: resourcev1.ResourceClaimTemplateSpec{Spec: claim(exact("Req", "c")).Spec}},
			[]string{`spec.spec.devices.requests[0].name: Invalid value: "Req": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"slice on one node", "resourceslices", slice(nil), nil},
		{"slice without a node selection", "resourceslices", slice(func(s *resourcev1.ResourceSliceSpec) { s.NodeName = nil }),
			[]string{"spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"}},
		{"slice with two node selections and no pool", "resourceslices", slice(func(s *resourcev1.ResourceSliceSpec) { s.AllNodes = ptr.To(true); s.Pool = resourcev1.ResourcePool{} }),
			[]string{
				"spec.pool.name: Required value",
				"spec.pool.resourceSliceCount: Invalid value: 0: must be greater than zero",
				"spec: Invalid value: \"{`nodeName`, `allNodes`}\": exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set",
			}},
		{"taint rule", "devicetaintrules", &resourcev1.DeviceTaintRule{Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "testing", Effect: resourcev1.DeviceTaintEffectNone}}}, nil},
		{"taint rule with a bad effect", "devicetaintrules", &resourcev1.DeviceTaintRule{Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "testing", Effect: "Evict"}}},
			[]string{`spec.taint.effect: Unsupported value: "Evict": supported values: "NoExecute", "NoSchedule", "None"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := res(t, tt.resource)
			if r.Strategy.Default != nil {
				r.Strategy.Default(tt.obj)
			}
			var got []string
			for _, e := range r.Strategy.Validate(tt.obj) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := claim(exact("req-0", "c"), resourcev1.DeviceRequest{Name: "all", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "c", AllocationMode: resourcev1.DeviceAllocationModeAll}})
	res(t, "resourceclaims").Strategy.Default(c)
	want := []resourcev1.ExactDeviceRequest{
		{DeviceClassName: "c", AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 1},
		{DeviceClassName: "c", AllocationMode: resourcev1.DeviceAllocationModeAll},
	}
	got := []resourcev1.ExactDeviceRequest{*c.Spec.Devices.Requests[0].Exactly, *c.Spec.Devices.Requests[1].Exactly}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	r := &resourcev1.DeviceTaintRule{Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "k", Effect: resourcev1.DeviceTaintEffectNone}}}
	res(t, "devicetaintrules").Strategy.Default(r)
	if r.Spec.Taint.TimeAdded == nil {
		t.Error("taint.timeAdded not defaulted")
	}
}

func TestUpdates(t *testing.T) {
	old := claim(exact("req-0", "c"))
	changed := claim(exact("req-0", "other"))
	if errs := res(t, "resourceclaims").Strategy.ValidateUpdate(changed, old); len(errs) != 1 || errs[0].Field != "spec" {
		t.Errorf("claim spec change: errors %v, want spec: field is immutable", errs)
	}

	// Status: an empty allocation is valid; reservedFor needs one.
	st := res(t, "resourceclaims").Strategy.SubresourceUpdates["status"]
	allocated := old.DeepCopy()
	allocated.Status.Allocation = &resourcev1.AllocationResult{}
	allocated.Labels = map[string]string{"status": "writer"}
	st.Prepare(allocated, old)
	if errs := st.Validate(allocated, old); len(errs) != 0 {
		t.Errorf("empty allocation: %v", errs)
	}
	if allocated.Labels != nil {
		t.Errorf("labels %v: /status must not change metadata", allocated.Labels)
	}
	reserved := old.DeepCopy()
	reserved.Status.ReservedFor = []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p", UID: "u"}}
	if errs := st.Validate(reserved, old); len(errs) != 1 || errs[0].Field != "status.reservedFor" {
		t.Errorf("reservedFor without allocation: errors %v", errs)
	}

	// A taint rule's new effect gets a new timeAdded.
	added := metav1.Unix(1000, 0)
	rule := &resourcev1.DeviceTaintRule{Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{Key: "k", Effect: resourcev1.DeviceTaintEffectNone, TimeAdded: &added}}}
	next := rule.DeepCopy()
	next.Spec.Taint.Effect = resourcev1.DeviceTaintEffectNoExecute
	res(t, "devicetaintrules").Strategy.PrepareForUpdate(next, rule)
	if next.Spec.Taint.TimeAdded.Equal(&added) {
		t.Error("taint.timeAdded kept when the effect changed")
	}
}
