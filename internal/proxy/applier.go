package proxy

import "context"

// Applier programs a Ruleset into the kernel.
type Applier interface {
	// Apply makes the kernel's table equal to r, atomically: either all of
	// r is in place or the table is unchanged and an error is returned.
	// Apply may keep r to compute the next change incrementally; the
	// caller must not modify r afterwards. After an error the next Apply
	// must converge from whatever the kernel holds.
	Apply(ctx context.Context, r *Ruleset) error
}
