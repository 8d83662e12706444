package auth

import (
	"context"
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/selection"
)

// Nodes' identities, as upstream names them.
const (
	GroupNodes     = "system:nodes"
	NodeUserPrefix = "system:node:"
	nodeLeaseNS    = "kube-node-lease"
)

// NodeIdentity returns the node a user acts for: a member of system:nodes
// named system:node:<name>. isNode is false for anyone else; name is
// empty for a member of the group whose name says no node.
func NodeIdentity(u *User) (name string, isNode bool) {
	if u == nil {
		return "", false
	}
	member := false
	for _, g := range u.Groups {
		if g == GroupNodes {
			member = true
			break
		}
	}
	if !member || !strings.HasPrefix(u.Name, NodeUserPrefix) {
		return "", false
	}
	return strings.TrimPrefix(u.Name, NodeUserPrefix), true
}

// Node authorizes the requests of nodes, as upstream's Node authorizer
// does: a node may read only the Secrets, ConfigMaps, PersistentVolumeClaims,
// PersistentVolumes, ServiceAccounts, ResourceClaims and VolumeAttachments
// that the pods bound to it use (Graph says which), request tokens only
// for those pods' service accounts, read only its own Node and Lease, and
// list or watch pods only with the field selector spec.nodeName=<itself>.
// What it may write is limited further by NodeRestriction admission.
// Other requests of nodes are decided by the static node rules; requests
// of anyone else get no opinion.
type Node struct {
	graph *NodeGraph
	// rules are what every node may do beyond what decide answers.
	rules []rbacv1.PolicyRule
}

var _ Authorizer = (*Node)(nil)

// NewNode returns the Node authorizer deciding by g.
func NewNode(g *NodeGraph) *Node {
	return &Node{graph: g, rules: nodeRules()}
}

// Authorize implements the API server's Authorizer. A refusal carries
// upstream's reason; the chain asks the next authorizer then.
func (n *Node) Authorize(_ context.Context, a Attributes) (bool, string, error) {
	node, isNode := NodeIdentity(a.User)
	if !isNode {
		return false, "", nil
	}
	if node == "" {
		return false, fmt.Sprintf("unknown node for user %q", a.User.Name), nil
	}
	if a.ResourceRequest {
		if d, ok := n.decide(node, a); ok {
			return d.allowed, d.reason, nil
		}
	}
	return rulesAllow(n.rules, a), "", nil
}

// decision is the authorizer's answer to one request.
type decision struct {
	allowed bool
	reason  string
}

var allow = decision{allowed: true}

func deny(format string, args ...any) decision {
	return decision{reason: fmt.Sprintf(format, args...)}
}

// decide answers the requests for the resources a node's access to is
// divided by object; ok is false for the others.
func (n *Node) decide(node string, a Attributes) (decision, bool) {
	switch a.APIGroup + "/" + a.Resource {
	case "/secrets":
		return n.readNamespaced(node, kindSecret, a), true
	case "/configmaps":
		return n.readNamespaced(node, kindConfigMap, a), true
	case "/persistentvolumeclaims":
		if a.Subresource == "status" {
			if a.Verb != "update" && a.Verb != "patch" {
				return deny("can only get/update/patch this type"), true
			}
			return n.related(node, a, n.graph.usedOn(node, objectKey{kindPVC, a.Namespace, a.Name})), true
		}
		return n.get(node, a, func() bool { return n.graph.usedOn(node, objectKey{kindPVC, a.Namespace, a.Name}) }), true
	case "/persistentvolumes":
		if a.Verb == "list" || a.Verb == "watch" {
			return localPathVolumes(node, a), true
		}
		return n.get(node, a, func() bool { return n.graph.pvUsedOn(node, a.Name) }), true
	case "resource.k8s.io/resourceclaims":
		return n.get(node, a, func() bool { return n.graph.usedOn(node, objectKey{kindResourceClaim, a.Namespace, a.Name}) }), true
	case "storage.k8s.io/volumeattachments":
		return n.get(node, a, func() bool { return n.graph.attachmentOn(node, a.Name) }), true
	case "/serviceaccounts":
		return n.serviceAccount(node, a), true
	case "coordination.k8s.io/leases":
		return lease(node, a), true
	case "storage.k8s.io/csinodes":
		return csiNode(node, a), true
	case "resource.k8s.io/resourceslices":
		return n.resourceSlice(node, a), true
	case "/nodes":
		return nodeObject(node, a), true
	case "/pods":
		return n.pod(node, a), true
	case "certificates.k8s.io/podcertificaterequests":
		return n.podCertificateRequest(node, a), true
	}
	return decision{}, false
}

// related allows a request for an object related to node.
func (n *Node) related(node string, a Attributes, ok bool) decision {
	if a.Name == "" {
		return deny("No Object name found")
	}
	if !ok {
		return deny("no relationship found between node '%s' and this object", node)
	}
	return allow
}

// get allows only a get of one related object.
func (n *Node) get(node string, a Attributes, related func() bool) decision {
	if a.Verb != "get" {
		return deny("can only get individual resources of this type")
	}
	if a.Subresource != "" {
		return deny("cannot get subresource")
	}
	return n.related(node, a, a.Name != "" && related())
}

// readNamespaced allows get, and list or watch of one object by name
// (a field selector on metadata.name), of a related object.
func (n *Node) readNamespaced(node string, kind objectKind, a Attributes) decision {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return deny("can only read resources of this type")
	}
	if a.Subresource != "" {
		return deny("cannot read subresource")
	}
	if a.Namespace == "" {
		return deny("can only read namespaced object of this type")
	}
	return n.related(node, a, a.Name != "" && n.graph.usedOn(node, objectKey{kind, a.Namespace, a.Name}))
}

// serviceAccount allows a get of, and a token for, the service account
// of a pod on node.
func (n *Node) serviceAccount(node string, a Attributes) decision {
	if a.Verb == "get" && a.Subresource == "" {
		return n.readNamespaced(node, kindServiceAccount, a)
	}
	if a.Verb != "create" || a.Name == "" {
		return deny("can only create tokens for individual service accounts")
	}
	if a.Subresource != "token" {
		return deny("can only create token subresource of serviceaccount")
	}
	return n.related(node, a, n.graph.usedOn(node, objectKey{kindServiceAccount, a.Namespace, a.Name}))
}

// lease allows a node its own Lease in kube-node-lease; the name of a
// create is checked by admission.
func lease(node string, a Attributes) decision {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return deny("can only get, create, update, patch, or delete a node lease")
	}
	if a.Namespace != nodeLeaseNS {
		return deny("can only access leases in the %q system namespace", nodeLeaseNS)
	}
	if a.Verb != "create" && a.Name != node {
		return deny("can only access node lease with the same name as the requesting node")
	}
	return allow
}

// csiNode allows a node its own CSINode.
func csiNode(node string, a Attributes) decision {
	if a.Subresource != "" {
		return deny("cannot authorize CSINode subresources")
	}
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return deny("can only get, create, update, patch, or delete a CSINode")
	}
	if a.Verb != "create" && a.Name != node {
		return deny("can only access CSINode with the same name as the requesting node")
	}
	return allow
}

// LocalPathNodeLabel on a PersistentVolume names the node whose agent
// keeps the volume's directory (skiff's local-path provisioner).
const LocalPathNodeLabel = "skiff.io/local-path-node"

// localPathVolumes allows a node to list and watch the PersistentVolumes
// labelled for it, which its agent creates the directories of; only with
// that label selector.
func localPathVolumes(node string, a Attributes) decision {
	if a.Subresource != "" || a.Name != "" {
		return deny("can only list/watch persistentvolumes with label selector %s=%s", LocalPathNodeLabel, node)
	}
	for _, r := range a.Labels {
		if r.Key() != LocalPathNodeLabel {
			continue
		}
		if v := r.ValuesUnsorted(); (r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals ||
			r.Operator() == selection.In) && len(v) == 1 && v[0] == node {
			return allow
		}
	}
	return deny("can only list/watch persistentvolumes with label selector %s=%s", LocalPathNodeLabel, node)
}

// selects reports whether a's field selector requires field=value.
func selects(a Attributes, field, value string) bool {
	for _, r := range a.Fields {
		if r.Field == field && (r.Operator == selection.Equals || r.Operator == selection.DoubleEquals) && r.Value == value {
			return true
		}
	}
	return false
}

// resourceSlice allows a node the ResourceSlices that name it.
func (n *Node) resourceSlice(node string, a Attributes) decision {
	if a.Subresource != "" {
		return deny("cannot authorize ResourceSlice subresources")
	}
	switch a.Verb {
	case "create":
		// Admission checks the slice's node.
		return allow
	case "get", "update", "patch", "delete":
		return n.related(node, a, n.graph.sliceOn(node, a.Name))
	case "watch", "list", "deletecollection":
		if selects(a, "spec.nodeName", node) {
			return allow
		}
		return deny("can only list/watch/deletecollection resourceslices with nodeName field selector")
	}
	return deny("only the following verbs are allowed for a ResourceSlice: get, watch, list, create, update, patch, delete, deletecollection")
}

// podCertificateRequest allows a node to create PodCertificateRequests
// (admission checks them) and read those that name it.
func (n *Node) podCertificateRequest(node string, a Attributes) decision {
	if a.Subresource != "" {
		return deny("nodes may not access the status subresource of PodCertificateRequests")
	}
	switch a.Verb {
	case "create":
		return allow
	case "get":
		return n.related(node, a, n.graph.pcrOn(node, a.Namespace, a.Name))
	case "list", "watch":
		if selects(a, "spec.nodeName", node) {
			return allow
		}
		return deny("can only list/watch podcertificaterequests with nodeName field selector")
	}
	return deny("nodes may not %s podcertificaterequests", a.Verb)
}

// nodeObject allows a node to read its own Node and to write Nodes and
// their status (admission limits writes to its own).
func nodeObject(node string, a Attributes) decision {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "create", "update", "patch":
			return allow
		case "get", "list", "watch":
			// By name, not by the graph: a node reads its Node before it
			// has created it.
			switch a.Name {
			case node:
				return allow
			case "":
				return deny("node '%s' cannot read all nodes, only its own Node object", node)
			}
			return deny("node '%s' cannot read '%s', only its own Node object", node, a.Name)
		}
	case "status":
		if a.Verb == "update" || a.Verb == "patch" {
			return allow
		}
	}
	return decision{}
}

// pod allows a node to read the pods bound to it, to create and delete
// mirror pods, and to write its pods' status and evictions (admission
// checks which pods).
func (n *Node) pod(node string, a Attributes) decision {
	switch a.Subresource {
	case "":
		switch a.Verb {
		case "get":
			return n.get(node, a, func() bool { return n.graph.podOn(node, a.Namespace, a.Name) })
		case "list", "watch":
			if selects(a, "spec.nodeName", node) {
				return allow
			}
			if a.Name != "" {
				return n.related(node, a, n.graph.podOn(node, a.Namespace, a.Name))
			}
			return deny("can only list/watch pods with spec.nodeName field selector")
		case "create", "delete":
			return allow
		}
	case "status":
		if a.Verb == "update" || a.Verb == "patch" {
			return allow
		}
	case "eviction":
		if a.Verb == "create" {
			return allow
		}
	}
	return decision{}
}
