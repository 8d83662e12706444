// Package apf is API Priority and Fairness: it classifies API requests by
// FlowSchemas into priority levels and flows, and admits them by the
// levels' PriorityLevelConfigurations, as upstream's flow-control filter.
//
// The server's seats (ServerConcurrency, default 600) are split among the
// priority levels by their nominal concurrency shares. A request takes one
// seat, or more for a list of many objects (ListSeats). When its level has
// no free seat the request waits in one of the level's queues: its flow
// (the FlowSchema plus the user or namespace) hashes to a hand of queues
// (shuffle sharding) and it joins the shortest. A freed seat goes to the
// head of the non-empty queue with the fewest seats executing. A request
// finding its queue full, or waiting longer than QueueWait, is refused;
// the caller answers 429. The exempt level is never limited.
//
// The caller feeds Update with the stored FlowSchemas and
// PriorityLevelConfigurations whenever they change; between updates,
// Classify and Admit take no lock but the level's own. DefaultObjects are
// the objects the server bootstraps.
//
//	Classify ──> exempt? ──yes──> serve
//	                │no
//	             Admit ──ErrRejected/ErrTimedOut──> 429
//	                │
//	              serve, then Ticket.Release
package apf
