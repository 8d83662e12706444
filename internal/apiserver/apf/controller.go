package apf

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
)

// Config configures a Controller.
type Config struct {
	// ServerConcurrency is the number of seats the priority levels share,
	// in proportion to their nominal concurrency shares (default 600,
	// upstream's --max-requests-inflight 400 plus
	// --max-mutating-requests-inflight 200).
	ServerConcurrency int
	// QueueWait bounds how long a request waits in a queue before it is
	// refused (default 15s, upstream's quarter of the request timeout).
	QueueWait time.Duration
}

// Controller classifies requests by the FlowSchemas and admits them by
// their PriorityLevelConfigurations.
type Controller struct {
	cfg   Config
	state atomic.Pointer[state]

	mu     sync.Mutex // serializes Update
	levels map[string]*Level
}

// state is one configuration, replaced whole by Update.
type state struct {
	// schemas in matching order: precedence, then name.
	schemas []*schema
	// catchAll takes what no schema matches.
	catchAll *schema
}

// New returns a Controller working with the default configuration until
// the first Update.
func New(cfg Config) *Controller {
	if cfg.ServerConcurrency <= 0 {
		cfg.ServerConcurrency = 600
	}
	if cfg.QueueWait <= 0 {
		cfg.QueueWait = 15 * time.Second
	}
	c := &Controller{cfg: cfg, levels: map[string]*Level{}}
	d := DefaultObjects()
	c.Update(append(d.MandatorySchemas, d.SuggestedSchemas...), append(d.MandatoryLevels, d.SuggestedLevels...))
	return c
}

// Update installs a configuration. The mandatory objects that schemas and
// levels lack are used in their default form, as upstream does, so that
// exempt and catch-all always work. Schemas that name a missing level are
// ignored. Levels keep their queues and seats in use across updates.
func (c *Controller) Update(schemas []*flowcontrolv1.FlowSchema, levels []*flowcontrolv1.PriorityLevelConfiguration) {
	d := DefaultObjects()
	for _, m := range d.MandatoryLevels {
		if !slices.ContainsFunc(levels, func(l *flowcontrolv1.PriorityLevelConfiguration) bool { return l.Name == m.Name }) {
			levels = append(levels, m)
		}
	}
	for _, m := range d.MandatorySchemas {
		if !slices.ContainsFunc(schemas, func(s *flowcontrolv1.FlowSchema) bool { return s.Name == m.Name }) {
			schemas = append(schemas, m)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var shares int64
	for _, pl := range levels {
		shares += int64(nominalShares(pl))
	}
	live := map[string]*Level{}
	for _, pl := range levels {
		l := c.levels[pl.Name]
		if l == nil {
			l = &Level{name: pl.Name}
		}
		l.uidHeader = uidHeader(string(pl.UID))
		l.configure(settings(pl, c.cfg.ServerConcurrency, shares))
		live[pl.Name] = l
	}
	for name, l := range c.levels {
		if live[name] == nil {
			// Gone: let what waits there run rather than strand it.
			l.configure(levelSettings{exempt: true, queues: len(l.queues)})
		}
	}
	c.levels = live
	st := &state{}
	for _, fs := range schemas {
		l := live[fs.Spec.PriorityLevelConfiguration.Name]
		if l == nil {
			continue
		}
		s := &schema{name: fs.Name, uidHeader: uidHeader(string(fs.UID)), precedence: fs.Spec.MatchingPrecedence,
			level: l, rules: fs.Spec.Rules}
		if fs.Spec.DistinguisherMethod != nil {
			s.distinguisher = fs.Spec.DistinguisherMethod.Type
		}
		st.schemas = append(st.schemas, s)
		if fs.Name == flowcontrolv1.FlowSchemaNameCatchAll {
			st.catchAll = s
		}
	}
	slices.SortFunc(st.schemas, func(a, b *schema) int {
		return cmp.Or(cmp.Compare(a.precedence, b.precedence), cmp.Compare(a.name, b.name))
	})
	c.state.Store(st)
}

func uidHeader(uid string) []string {
	if uid == "" {
		return nil
	}
	return []string{uid}
}

func nominalShares(pl *flowcontrolv1.PriorityLevelConfiguration) int32 {
	switch {
	case pl.Spec.Limited != nil && pl.Spec.Limited.NominalConcurrencyShares != nil:
		return *pl.Spec.Limited.NominalConcurrencyShares
	case pl.Spec.Exempt != nil && pl.Spec.Exempt.NominalConcurrencyShares != nil:
		return *pl.Spec.Exempt.NominalConcurrencyShares
	case pl.Spec.Limited != nil:
		return 30 // the API default
	}
	return 0
}

// settings derives a level's seats from its share of the server's:
// ceil(serverConcurrency * shares / all shares), as upstream's nominal
// concurrency limit. Lending and borrowing between levels is not done.
func settings(pl *flowcontrolv1.PriorityLevelConfiguration, server int, allShares int64) levelSettings {
	if pl.Spec.Type == flowcontrolv1.PriorityLevelEnablementExempt || pl.Spec.Limited == nil {
		return levelSettings{exempt: true}
	}
	s := levelSettings{}
	if allShares > 0 {
		n := int64(server) * int64(nominalShares(pl))
		s.limit = int((n + allShares - 1) / allShares)
	}
	if q := pl.Spec.Limited.LimitResponse.Queuing; pl.Spec.Limited.LimitResponse.Type == flowcontrolv1.LimitResponseTypeQueue && q != nil {
		s.queues, s.handSize, s.queueLength = int(q.Queues), int(q.HandSize), int(q.QueueLengthLimit)
		s.handSize = max(1, min(s.handSize, s.queues))
	}
	return s
}

// Classification is where a request goes: its FlowSchema, priority level
// and flow.
type Classification struct {
	// FlowSchemaUID and PriorityLevelUID are the response header values
	// (nil for objects not read from storage yet). Shared: do not modify.
	FlowSchemaUID, PriorityLevelUID []string
	// FlowSchema and PriorityLevel name them.
	FlowSchema, PriorityLevel string
	level                     *Level
	hash                      uint64
}

// Exempt reports whether the request bypasses queuing and limits.
func (c *Classification) Exempt() bool { return c.level.exempt }

// Classify finds the first FlowSchema, by precedence then name, that
// matches r, and r's flow in it. It allocates nothing.
func (c *Controller) Classify(r *Request) Classification {
	st := c.state.Load()
	s := st.catchAll
	for _, cand := range st.schemas {
		if cand.matches(r) {
			s = cand
			break
		}
	}
	var distinguisher string
	switch s.distinguisher {
	case flowcontrolv1.FlowDistinguisherMethodByUserType:
		distinguisher = r.User
	case flowcontrolv1.FlowDistinguisherMethodByNamespaceType:
		distinguisher = r.Namespace
	}
	return Classification{FlowSchemaUID: s.uidHeader, PriorityLevelUID: s.level.uidHeader,
		FlowSchema: s.name, PriorityLevel: s.level.name, level: s.level, hash: flowHash(s.name, distinguisher)}
}

// Admit waits until the request's level has seats for it. It returns
// ErrRejected or ErrTimedOut when the request should be refused with 429,
// ctx's error when ctx ends first. The caller must Release the ticket.
func (c *Controller) Admit(ctx context.Context, cl *Classification, seats int) (Ticket, error) {
	if cl.level.exempt {
		return Ticket{}, nil
	}
	return cl.level.acquire(ctx, cl.hash, seats, c.cfg.QueueWait)
}

// ListSeats estimates the seats of a list that reads objects objects, as
// upstream's list work estimate: one seat per hundred objects, at least
// one, at most ten.
func ListSeats(objects int) int {
	return max(1, min(10, (objects+99)/100))
}
