package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// selectors are a request's label and field selectors.
type selectors struct {
	label labels.Selector
	field fields.Selector
}

func (s selectors) empty() bool { return s.label.Empty() && s.field.Empty() }

// matches reports whether obj passes both selectors.
func (s selectors) matches(res *resource, obj runtime.Object) bool {
	if s.empty() {
		return true
	}
	m := accessor(obj)
	if !s.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if s.field.Empty() {
		return true
	}
	return s.field.Matches(fieldSet(res, obj))
}

// fieldSet is the set of selectable fields of obj.
func fieldSet(res *resource, obj runtime.Object) fields.Set {
	m := accessor(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if res.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if res.Strategy.Fields != nil {
		for k, v := range res.Strategy.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// parseSelectors reads labelSelector and fieldSelector, refusing fields the
// resource cannot select on, as upstream does.
func parseSelectors(res *resource, q url.Values) (selectors, error) {
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	if !fs.Empty() {
		supported := supportedFields(res)
		for _, req := range fs.Requirements() {
			if !supported[req.Field] {
				return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	return selectors{label: ls, field: fs}, nil
}

// supportedFields lists the selectable fields by computing them for an
// empty object.
func supportedFields(res *resource) map[string]bool {
	set := fieldSet(res, res.New())
	out := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	for k := range set {
		out[k] = true
	}
	return out
}

// listOptions are the paging and consistency parameters of a LIST.
type listOptions struct {
	rv          string
	rvInt       int64
	match       metav1.ResourceVersionMatch
	limit       int64
	continueKey string
	continueRev int64
}

func parseListOptions(q url.Values) (listOptions, error) {
	lo := listOptions{rv: q.Get("resourceVersion"), match: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))}
	if lo.rv != "" {
		n, err := strconv.ParseInt(lo.rv, 10, 64)
		if err != nil || n < 0 {
			return lo, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", lo.rv))
		}
		lo.rvInt = n
	}
	switch lo.match {
	case "", metav1.ResourceVersionMatchNotOlderThan:
		if lo.match != "" && lo.rv == "" {
			return lo, invalidListOptions("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")
		}
	case metav1.ResourceVersionMatchExact:
		if lo.rv == "" || lo.rv == "0" {
			return lo, invalidListOptions("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
		}
	default:
		return lo, invalidListOptions("resourceVersionMatch", fmt.Sprintf("unsupported value %q", lo.match))
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return lo, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
		lo.limit = n
	}
	if c := q.Get("continue"); c != "" {
		if lo.rv != "" && lo.rv != "0" {
			return lo, invalidListOptions("resourceVersion", "specifying resource version is not allowed when using continue")
		}
		key, rev, err := decodeContinue(c)
		if err != nil {
			return lo, apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
		}
		lo.continueKey, lo.continueRev = key, rev
	}
	return lo, nil
}

func invalidListOptions(fieldName, msg string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s: %s", fieldName, msg))
}

// continueToken is the paging state, encoded like upstream's.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(key string, rev int64) string {
	data, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: key})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(s string) (string, int64, error) {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", 0, err
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return "", 0, err
	}
	if t.APIVersion != "meta.k8s.io/v1" || t.ResourceVersion == 0 || t.ResourceVersion < inconsistentRev || t.StartKey == "" {
		return "", 0, fmt.Errorf("malformed token")
	}
	if t.ResourceVersion == inconsistentRev {
		return t.StartKey, 0, nil
	}
	return t.StartKey, t.ResourceVersion, nil
}

// inconsistentRev is the revision of a continue token that resumes at the
// latest revision: the token a 410 offers when the revision a list started
// at has been compacted away. Upstream marks it the same way.
const inconsistentRev = -1

// expiredContinue is the 410 for a continue token whose revision has been
// compacted away. It carries a token that resumes at key, at the latest
// revision; the list it completes may be inconsistent, as the message says.
func expiredContinue(key string) error {
	err := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
	err.ErrStatus.ListMeta.Continue = encodeContinue(key, inconsistentRev)
	return err
}
