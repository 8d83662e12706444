package apf

import (
	"slices"
	"strings"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

// Request is what classification looks at: who asks, and for what.
type Request struct {
	User   string
	Groups []string
	// IsResource is true for API resource requests; the rest are
	// non-resource paths (/healthz, /version, discovery, ...).
	IsResource bool
	// Verb is the API verb (get, list, watch, create, ...) of a resource
	// request, the lower-case HTTP method of a non-resource one.
	Verb string
	// APIGroup, Resource (with "/subresource" when there is one) and
	// Namespace ("" at the cluster scope) of a resource request.
	APIGroup, Resource, Namespace string
	// Path of a non-resource request.
	Path string
}

// schema is a FlowSchema compiled for matching.
type schema struct {
	name          string
	uidHeader     []string
	precedence    int32
	level         *Level
	distinguisher flowcontrolv1.FlowDistinguisherMethodType
	rules         []flowcontrolv1.PolicyRulesWithSubjects
}

// matches reports whether any of the schema's rules covers r.
func (s *schema) matches(r *Request) bool {
	for i := range s.rules {
		if ruleMatches(&s.rules[i], r) {
			return true
		}
	}
	return false
}

func ruleMatches(rule *flowcontrolv1.PolicyRulesWithSubjects, r *Request) bool {
	if !subjectsMatch(rule.Subjects, r) {
		return false
	}
	if r.IsResource {
		for i := range rule.ResourceRules {
			if resourceRuleMatches(&rule.ResourceRules[i], r) {
				return true
			}
		}
		return false
	}
	for i := range rule.NonResourceRules {
		nr := &rule.NonResourceRules[i]
		if hasOrAll(nr.Verbs, r.Verb, flowcontrolv1.VerbAll) && urlMatches(nr.NonResourceURLs, r.Path) {
			return true
		}
	}
	return false
}

func subjectsMatch(subjects []flowcontrolv1.Subject, r *Request) bool {
	for i := range subjects {
		s := &subjects[i]
		switch s.Kind {
		case flowcontrolv1.SubjectKindUser:
			if s.User != nil && (s.User.Name == flowcontrolv1.NameAll || s.User.Name == r.User) {
				return true
			}
		case flowcontrolv1.SubjectKindGroup:
			if s.Group != nil && (s.Group.Name == flowcontrolv1.NameAll || slices.Contains(r.Groups, s.Group.Name)) {
				return true
			}
		case flowcontrolv1.SubjectKindServiceAccount:
			if s.ServiceAccount != nil && serviceAccountMatches(s.ServiceAccount, r.User) {
				return true
			}
		}
	}
	return false
}

// serviceAccountMatches checks user, of the form
// system:serviceaccount:<namespace>:<name>, against sa.
func serviceAccountMatches(sa *flowcontrolv1.ServiceAccountSubject, user string) bool {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return false
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok || ns != sa.Namespace {
		return false
	}
	return sa.Name == flowcontrolv1.NameAll || sa.Name == name
}

func resourceRuleMatches(rule *flowcontrolv1.ResourcePolicyRule, r *Request) bool {
	if !hasOrAll(rule.Verbs, r.Verb, flowcontrolv1.VerbAll) ||
		!hasOrAll(rule.APIGroups, r.APIGroup, flowcontrolv1.APIGroupAll) ||
		!hasOrAll(rule.Resources, r.Resource, flowcontrolv1.ResourceAll) {
		return false
	}
	if r.Namespace == "" {
		return rule.ClusterScope
	}
	return hasOrAll(rule.Namespaces, r.Namespace, flowcontrolv1.NamespaceEvery)
}

func hasOrAll(list []string, v, all string) bool {
	for _, e := range list {
		if e == v || e == all {
			return true
		}
	}
	return false
}

// urlMatches matches a path against non-resource URL patterns: "*" is any
// path, a pattern ending in "/*" any path under its prefix.
func urlMatches(patterns []string, path string) bool {
	for _, p := range patterns {
		if p == flowcontrolv1.NonResourceAll || p == path {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// flowHash identifies a flow, the schema's name and the distinguisher,
// with FNV-1a (inline, so that it allocates nothing).
func flowHash(schemaName, distinguisher string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(schemaName); i++ {
		h = (h ^ uint64(schemaName[i])) * prime
	}
	h = (h ^ 0) * prime // separates "ab"+"c" from "a"+"bc"
	for i := 0; i < len(distinguisher); i++ {
		h = (h ^ uint64(distinguisher[i])) * prime
	}
	return h
}

// maxHand bounds hand sizes: validation keeps handSize*log2(queues)
// within 60 bits of entropy, which no hand above 15 cards meets.
const maxHand = 16

// dealHand picks handSize distinct queues of deckSize for hash, the same
// ones every time: hash is read as a mixed-radix number whose digits pick
// among the cards still in the deck. hand must have room for handSize.
func dealHand(hash uint64, deckSize, handSize int, hand []int) []int {
	hand = hand[:0]
	handSize = min(handSize, deckSize, maxHand)
	var dealt [maxHand]int // in increasing order
	for i := 0; i < handSize; i++ {
		left := uint64(deckSize - i)
		card := int(hash % left)
		hash /= left
		// card counts among the cards still in the deck: step over the
		// dealt ones below it.
		j := 0
		for ; j < i && card >= dealt[j]; j++ {
			card++
		}
		copy(dealt[j+1:i+1], dealt[j:i])
		dealt[j] = card
		hand = append(hand, card)
	}
	return hand
}
