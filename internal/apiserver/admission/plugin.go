package admission

import (
	"context"
	"fmt"
)

// Plugin is one admission plugin, built in or dynamic. A plugin takes
// part in the mutating phase when it is a Mutator, in the validating
// phase when it is a Validator, or in both.
type Plugin interface {
	// Name is the plugin's name as upstream spells it
	// (--enable-admission-plugins).
	Name() string
	// Handles reports whether the plugin acts on requests of op; the
	// chain calls it for no other.
	Handles(op Operation) bool
}

// Mutator is a plugin of the mutating phase.
type Mutator interface {
	Plugin
	// Admit may change a.Object in place or replace it with another
	// object of a.Kind (the caller then defaults it again). It returns
	// nil, or the API error (a *StatusError) that refuses the request.
	Admit(ctx context.Context, a *Attributes) error
}

// Validator is a plugin of the validating phase, which sees the object as
// it will be stored.
type Validator interface {
	Plugin
	// Validate must not change a.Object. It returns nil, or the API error
	// that refuses the request. It may have side effects that the caller
	// undoes by other means if the write fails later (ResourceQuota
	// charges the quota; its controller recounts).
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs plugins in their order: Admit every Mutator, Validate every
// Validator, each phase stopping at the first refusal. The API server
// calls Admit, validates the object, then calls Validate:
//
//	create, update:  Admit ─► (defaults again if replaced) ─► validation ─► Validate ─► storage
//	delete, connect: Admit ─► Validate ─► storage or the node
type Chain struct {
	plugins    []Plugin
	mutators   []Mutator
	validators []Validator
}

// newChain returns the chain of plugins, in order.
func newChain(plugins ...Plugin) (*Chain, error) {
	c := &Chain{plugins: plugins}
	for _, p := range plugins {
		m, isM := p.(Mutator)
		v, isV := p.(Validator)
		if !isM && !isV {
			return nil, fmt.Errorf("admission: plugin %s neither mutates nor validates", p.Name())
		}
		if isM {
			c.mutators = append(c.mutators, m)
		}
		if isV {
			c.validators = append(c.validators, v)
		}
	}
	return c, nil
}

// Plugins returns the names of the chain's plugins, in order.
func (c *Chain) Plugins() []string {
	names := make([]string, len(c.plugins))
	for i, p := range c.plugins {
		names[i] = p.Name()
	}
	return names
}

// Admit runs the mutating phase on a. Plugins may replace a.Object.
func (c *Chain) Admit(ctx context.Context, a *Attributes) error {
	for _, m := range c.mutators {
		if !m.Handles(a.Operation) {
			continue
		}
		if err := m.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Validate runs the validating phase on a.
func (c *Chain) Validate(ctx context.Context, a *Attributes) error {
	for _, v := range c.validators {
		if !v.Handles(a.Operation) {
			continue
		}
		if err := v.Validate(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// warningsKey carries a request's warning sink.
type warningsKey struct{}

// WithWarnings returns ctx with sink receiving the warnings plugins send
// the client (webhooks' and policies'). Validating webhooks run in
// parallel, but their warnings reach sink from one goroutine at a time.
func WithWarnings(ctx context.Context, sink func(msgs []string)) context.Context {
	return context.WithValue(ctx, warningsKey{}, sink)
}

// warn passes msgs to ctx's warning sink, if any.
func warn(ctx context.Context, msgs []string) {
	sink, _ := ctx.Value(warningsKey{}).(func([]string))
	if sink == nil || len(msgs) == 0 {
		return
	}
	sink(msgs)
}

// auditKey carries a request's audit annotation sink.
type auditKey struct{}

// WithAuditAnnotations returns ctx with sink receiving the annotations
// plugins add to the request's audit event (upstream's
// audit.AddAuditAnnotations), such as PodSecurity's
// pod-security.kubernetes.io/enforce-policy. A key set twice keeps the
// first value, as upstream's audit event does.
func WithAuditAnnotations(ctx context.Context, sink func(kv map[string]string)) context.Context {
	return context.WithValue(ctx, auditKey{}, sink)
}

// annotate passes audit annotations to ctx's sink, if any.
func annotate(ctx context.Context, kv map[string]string) {
	sink, _ := ctx.Value(auditKey{}).(func(map[string]string))
	if sink == nil || len(kv) == 0 {
		return
	}
	sink(kv)
}
