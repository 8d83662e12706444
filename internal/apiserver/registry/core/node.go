package core

import (
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/registry"
)

const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

func nodeResource() registry.Resource {
	return registry.Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "nodes",
		SingularName: "node",
		Kind:         "Node",
		ShortNames:   []string{"no"},
		Subresources: []string{"status", "proxy"},
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },
		Strategy: registry.Strategy{
			Default: func(obj runtime.Object) {
				n := obj.(*corev1.Node)
				if n.Status.Allocatable == nil && n.Status.Capacity != nil {
					n.Status.Allocatable = n.Status.Capacity.DeepCopy()
				}
				roundResourceList(n.Status.Capacity)
				roundResourceList(n.Status.Allocatable)
			},
			// A kubelet registers its node with status already filled in, so
			// create keeps status (PrepareForCreate does nothing), as upstream.
			PrepareForUpdate: func(obj, old runtime.Object) { obj.(*corev1.Node).Status = old.(*corev1.Node).Status },
			Validate:         func(obj runtime.Object) field.ErrorList { return validateNode(obj.(*corev1.Node)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
			},
			SubresourceUpdates: map[string]registry.SubresourceUpdate{
				"status": registry.StatusUpdate(registry.Status{
					Validate: func(obj, old runtime.Object) field.ErrorList { return validateNode(obj.(*corev1.Node)) },
				}),
			},
			TableColumns: []metav1.TableColumnDefinition{
				registry.Column("Status", "string", "The status of the node", 0),
				registry.Column("Roles", "string", "The roles of the node", 0),
				registry.Column("Age", "string", metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"], 0),
				registry.Column("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"], 0),
				registry.Column("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"], 1),
				registry.Column("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"], 1),
				registry.Column("OS-Image", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"], 1),
				registry.Column("Kernel-Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"], 1),
				registry.Column("Container-Runtime", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"], 1),
			},
			TableRow: func(obj runtime.Object) []interface{} { return nodeRow(obj.(*corev1.Node)) },
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"spec.unschedulable": fmt.Sprint(obj.(*corev1.Node).Spec.Unschedulable)}
			},
		},
	}
}

func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	cidrPath := specPath.Child("podCIDRs")
	if len(n.Spec.PodCIDRs) > 2 {
		errs = append(errs, field.TooMany(cidrPath, len(n.Spec.PodCIDRs), 2))
	}
	for i, c := range n.Spec.PodCIDRs {
		if _, _, err := net.ParseCIDR(c); err != nil {
			errs = append(errs, field.Invalid(cidrPath.Index(i), c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
		}
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(specPath.Child("podCIDR"), n.Spec.PodCIDR, "must match `podCIDRs[0]`"))
	}
	taintPath := specPath.Child("taints")
	seen := sets.New[string]()
	for i, t := range n.Spec.Taints {
		p := taintPath.Index(i)
		for _, msg := range validation.IsQualifiedName(t.Key) {
			errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
		}
		if t.Value != "" {
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		}
		errs = append(errs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		key := t.Key + "/" + string(t.Effect)
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(p, "taints must be unique by key and effect pair"))
		}
		seen.Insert(key)
	}
	statusPath := field.NewPath("status")
	errs = append(errs, validateResourceList(n.Status.Capacity, statusPath.Child("capacity"), validateResourceName)...)
	errs = append(errs, validateResourceList(n.Status.Allocatable, statusPath.Child("allocatable"), validateResourceName)...)
	for i, a := range n.Status.Addresses {
		if a.Type == "" {
			errs = append(errs, field.Required(statusPath.Child("addresses").Index(i).Child("type"), ""))
		}
	}
	return errs
}

func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateNode(n)
	if len(old.Spec.PodCIDRs) > 0 {
		same := len(old.Spec.PodCIDRs) == len(n.Spec.PodCIDRs)
		for i := range old.Spec.PodCIDRs {
			if same && old.Spec.PodCIDRs[i] != n.Spec.PodCIDRs[i] {
				same = false
			}
		}
		if !same {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if old.Spec.ProviderID != "" && n.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

func nodeRow(n *corev1.Node) []interface{} {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roles := strings.Join(nodeRoles(n), ",")
	if roles == "" {
		roles = "<none>"
	}
	info := n.Status.NodeInfo
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	return []interface{}{
		strings.Join(status, ","), roles, registry.Age(n), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion),
	}
}

// nodeRoles reads roles from node-role.kubernetes.io/<role> label keys and
// the older kubernetes.io/role label value.
func nodeRoles(n *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if r := strings.TrimPrefix(k, labelNodeRolePrefix); r != "" {
				roles.Insert(r)
			}
		case k == labelNodeRole && v != "":
			roles.Insert(v)
		}
	}
	out := sets.List(roles)
	sort.Strings(out)
	return out
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}
