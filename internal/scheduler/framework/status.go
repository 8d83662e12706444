package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of running a plugin.
type Code int

// Status codes, as upstream defines them.
const (
	// Success means the plugin ran and the pod may go on.
	Success Code = iota
	// Error means the plugin failed for a reason unrelated to the pod; the
	// pod is retried with backoff.
	Error
	// Unschedulable means the node does not fit now, but preempting pods
	// might make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable means the node does not fit and
	// preemption cannot change that.
	UnschedulableAndUnresolvable
	// Skip means the plugin has nothing to say about this pod: its later
	// extension points (Filter after PreFilter, Score after PreScore) are
	// not run.
	Skip
)

var codeNames = []string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Skip"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Unknown"
}

// Status is what a plugin returns. A nil *Status means Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a Status with the given code and user-visible reasons.
func NewStatus(code Code, reasons ...string) *Status {
	s := &Status{code: code, reasons: reasons}
	if code == Error && len(reasons) > 0 {
		s.err = errors.New(strings.Join(reasons, ", "))
	}
	return s
}

// AsStatus wraps an unexpected error as an Error status.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether the plugin asked to be skipped.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports whether the node (or the pod) was found not to fit.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons returns the user-visible reasons.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// AsError returns the error of an Error status, or an error carrying the
// message of a rejection; nil on success.
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Plugin names the plugin that produced the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the plugin that produced the status and returns s.
// A status that already names the plugin is left untouched, so a plugin
// may return one shared, prebuilt status (WithPlugin'd when built) from
// Filters running in parallel.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil && s.plugin != name {
		s.plugin = name
	}
	return s
}
