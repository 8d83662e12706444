// Package queue is the scheduler's queue of pods waiting for a node.
//
// A pod lives in one of three sub-queues:
//
//	      Add                    Pop
//	────────────► activeQ ──────────────► scheduling attempt
//	                ▲   ▲                      │ failed
//	 backoff expired│   │ cluster event        ▼
//	            backoffQ ◄──────────── unschedulable pods
//	                ▲   cluster event       (parked; flushed after 5 min)
//	                └── error, or an event arrived during the attempt
//
// activeQ is ordered by the profile's QueueSort (priority, then age).
// Backoff grows exponentially per attempt from the initial to the maximum
// duration. The queue also remembers pods nominated to a node by preemption.
// Run must be running for backoff and the unschedulable flush to advance.
package queue
