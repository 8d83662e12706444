package podsecurity

import (
	"fmt"
	"regexp"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Level is one of the Pod Security Standards' profiles.
type Level string

// The three levels, from the least strict.
const (
	Privileged Level = "privileged"
	Baseline   Level = "baseline"
	Restricted Level = "restricted"
)

// The namespace labels that set a namespace's policy, and the keys (after
// LabelPrefix) of the audit annotations the plugin adds.
const (
	LabelPrefix         = "pod-security.kubernetes.io/"
	EnforceLevelLabel   = LabelPrefix + "enforce"
	EnforceVersionLabel = LabelPrefix + "enforce-version"
	AuditLevelLabel     = LabelPrefix + "audit"
	AuditVersionLabel   = LabelPrefix + "audit-version"
	WarnLevelLabel      = LabelPrefix + "warn"
	WarnVersionLabel    = LabelPrefix + "warn-version"

	ExemptAnnotation          = "exempt"
	AuditViolationsAnnotation = "audit-violations"
	EnforcePolicyAnnotation   = "enforce-policy"
)

// ParseLevel reads a level label; a bad one reads as restricted, with an
// error in upstream's words.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Privileged, Baseline, Restricted:
		return l, nil
	}
	return Restricted, fmt.Errorf("must be one of privileged, baseline, restricted")
}

// CompareLevels is -1, 0 or 1 as a is less strict than, as strict as or
// stricter than b.
func CompareLevels(a, b Level) int {
	rank := map[Level]int{Privileged: 0, Baseline: 1, Restricted: 2}
	ra, rb := rank[a], rank[b]
	switch {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return 0
}

// Version is the Kubernetes minor version whose checks apply ("v1.x"), or
// the latest checks.
type Version struct {
	minor  int
	latest bool
}

// Latest is the version that always means the newest checks.
var Latest = Version{latest: true}

// V1 returns version v1.minor.
func V1(minor int) Version { return Version{minor: minor} }

// IsLatest reports whether v is "latest".
func (v Version) IsLatest() bool { return v.latest }

// older reports whether v is before o; latest is after every version.
func (v Version) older(o Version) bool {
	if v.latest {
		return false
	}
	return o.latest || v.minor < o.minor
}

func (v Version) String() string {
	if v.latest {
		return "latest"
	}
	return "v1." + strconv.Itoa(v.minor)
}

var versionPattern = regexp.MustCompile(`^v1\.(0|[1-9][0-9]*)$`)

// ParseVersion reads a version label: "latest" or "v1.x". A bad one reads
// as latest, with an error in upstream's words.
func ParseVersion(s string) (Version, error) {
	if s == "latest" {
		return Latest, nil
	}
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Latest, fmt.Errorf(`must be "latest" or "v1.x"`)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return Latest, fmt.Errorf(`must be "latest" or "v1.x"`)
	}
	return V1(n), nil
}

// LevelVersion is a level evaluated as of a version.
type LevelVersion struct {
	Level   Level
	Version Version
}

// String is the form messages use: "restricted:latest".
func (lv LevelVersion) String() string { return string(lv.Level) + ":" + lv.Version.String() }

// equivalent: both privileged, or the same level and version.
func (lv LevelVersion) equivalent(o LevelVersion) bool {
	return (lv.Level == Privileged && o.Level == Privileged) || lv == o
}

// Policy is what a namespace enforces, audits and warns about.
type Policy struct {
	Enforce, Audit, Warn LevelVersion
}

// FullyPrivileged reports whether no mode checks anything.
func (p Policy) FullyPrivileged() bool {
	return p.Enforce.Level == Privileged && p.Audit.Level == Privileged && p.Warn.Level == Privileged
}

// Equivalent reports whether p and o check the same in every mode.
func (p Policy) Equivalent(o Policy) bool {
	return p.Enforce.equivalent(o.Enforce) && p.Audit.equivalent(o.Audit) && p.Warn.equivalent(o.Warn)
}

var labelsPath = field.NewPath("metadata", "labels")

// PolicyFromLabels is the policy a namespace's labels set over defaults.
// It always returns a usable policy: a bad enforce label enforces
// restricted, bad audit and warn labels check nothing, bad versions mean
// latest; the errors name the bad labels (upstream's field errors). When
// the enforce level is set and warn is not, warn follows a stricter
// enforce, so that users see what will be refused.
func PolicyFromLabels(labels map[string]string, defaults Policy) (Policy, field.ErrorList) {
	p := defaults
	if len(labels) == 0 {
		return p, nil
	}
	var errs field.ErrorList
	bad := func(label, value string, err error) {
		if err != nil {
			errs = append(errs, field.Invalid(labelsPath.Key(label), value, err.Error()))
		}
	}
	var err error
	enforceSet := false
	if v, ok := labels[EnforceLevelLabel]; ok {
		p.Enforce.Level, err = ParseLevel(v)
		enforceSet = err == nil
		bad(EnforceLevelLabel, v, err)
	}
	if v, ok := labels[EnforceVersionLabel]; ok {
		p.Enforce.Version, err = ParseVersion(v)
		bad(EnforceVersionLabel, v, err)
	}
	if v, ok := labels[AuditLevelLabel]; ok {
		if p.Audit.Level, err = ParseLevel(v); err != nil {
			p.Audit.Level = Privileged
		}
		bad(AuditLevelLabel, v, err)
	}
	if v, ok := labels[AuditVersionLabel]; ok {
		p.Audit.Version, err = ParseVersion(v)
		bad(AuditVersionLabel, v, err)
	}
	_, warnSet := labels[WarnLevelLabel]
	if v, ok := labels[WarnLevelLabel]; ok {
		if p.Warn.Level, err = ParseLevel(v); err != nil {
			p.Warn.Level = Privileged
		}
		bad(WarnLevelLabel, v, err)
	}
	_, warnVersionSet := labels[WarnVersionLabel]
	if v, ok := labels[WarnVersionLabel]; ok {
		p.Warn.Version, err = ParseVersion(v)
		bad(WarnVersionLabel, v, err)
	}
	if !warnSet && enforceSet && CompareLevels(p.Enforce.Level, p.Warn.Level) > 0 {
		p.Warn.Level = p.Enforce.Level
		if !warnVersionSet {
			p.Warn.Version = p.Enforce.Version
		}
	}
	return p, errs
}
