package podsecurity

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result is one control's verdict on a pod. A refusal names the control
// (Reason) and what the pod must change (Detail).
type Result struct {
	Allowed bool
	Reason  string
	Detail  string
}

var allowed = Result{Allowed: true}

// checkFn checks one control as of some version.
type checkFn func(meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result

// control is one Pod Security Standards control: how it was checked from
// each version on where that changed. A restricted control may replace
// baseline ones (overrides) in the restricted profile.
type control struct {
	id       string
	level    Level
	versions []versioned
}

type versioned struct {
	since     Version
	check     checkFn
	overrides []string
}

// Evaluator runs the checks of a level as of a version.
type Evaluator struct {
	// baseline and restricted hold, per minor version, the checks in the
	// order their results are reported: baseline controls by ID, then
	// restricted ones by ID.
	baseline, restricted map[int][]checkFn
	max                  int
}

// NewEvaluator returns an evaluator of the standard controls.
func NewEvaluator() *Evaluator {
	return newEvaluator(controls())
}

func newEvaluator(cs []control) *Evaluator {
	e := &Evaluator{baseline: map[int][]checkFn{}, restricted: map[int][]checkFn{}}
	for _, c := range cs {
		if last := c.versions[len(c.versions)-1].since.minor; last > e.max {
			e.max = last
		}
	}
	var baseIDs, restrictedIDs []string
	for _, c := range cs {
		if c.level == Restricted {
			restrictedIDs = append(restrictedIDs, c.id)
		} else {
			baseIDs = append(baseIDs, c.id)
		}
	}
	sort.Strings(baseIDs)
	sort.Strings(restrictedIDs)
	order := append(baseIDs, restrictedIDs...)
	// at returns the version of c in effect at minor, if any.
	at := func(c control, minor int) (versioned, bool) {
		var out versioned
		found := false
		for _, v := range c.versions {
			if v.since.minor <= minor {
				out, found = v, true
			}
		}
		return out, found
	}
	for minor := 0; minor <= e.max; minor++ {
		base := map[string]checkFn{}
		restr := map[string]checkFn{}
		overridden := map[string]bool{}
		for _, c := range cs {
			v, ok := at(c, minor)
			if !ok {
				continue
			}
			if c.level == Restricted {
				restr[c.id] = v.check
				for _, o := range v.overrides {
					overridden[o] = true
				}
			} else {
				base[c.id] = v.check
			}
		}
		for id, fn := range base {
			if !overridden[id] {
				restr[id] = fn
			}
		}
		for _, id := range order {
			if fn, ok := base[id]; ok {
				e.baseline[minor] = append(e.baseline[minor], fn)
			}
			if fn, ok := restr[id]; ok {
				e.restricted[minor] = append(e.restricted[minor], fn)
			}
		}
	}
	return e
}

// Evaluate runs the checks of lv on a pod (or a pod template): none for
// privileged; versions after the newest known change, and latest, get the
// newest checks.
func (e *Evaluator) Evaluate(lv LevelVersion, meta *metav1.ObjectMeta, spec *corev1.PodSpec) Violations {
	if lv.Level == Privileged {
		return Violations{}
	}
	minor := e.max
	if !lv.Version.latest && lv.Version.minor < e.max {
		minor = lv.Version.minor
	}
	checks := e.restricted[minor]
	if lv.Level == Baseline {
		checks = e.baseline[minor]
	}
	var v Violations
	for _, check := range checks {
		r := check(meta, spec)
		if r.Allowed {
			continue
		}
		if r.Reason == "" {
			r.Reason = "unknown forbidden reason"
		}
		v.results = append(v.results, r)
	}
	return v
}

// Violations are the refusals of one evaluation, in check order.
type Violations struct {
	results []Result
}

// Allowed reports whether every check passed.
func (v Violations) Allowed() bool { return len(v.results) == 0 }

// Reasons is the short form: "host namespaces, privileged".
func (v Violations) Reasons() string {
	rs := make([]string, len(v.results))
	for i, r := range v.results {
		rs[i] = r.Reason
	}
	return strings.Join(rs, ", ")
}

// Details is the form refusals and warnings carry:
// "host namespaces (hostNetwork=true), privileged (container "c" must ...)".
func (v Violations) Details() string {
	var b strings.Builder
	for i, r := range v.results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.Reason)
		if r.Detail != "" {
			fmt.Fprintf(&b, " (%s)", r.Detail)
		}
	}
	return b.String()
}
