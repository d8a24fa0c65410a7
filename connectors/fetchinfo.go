package connectors

import "context"

// FetchInfo is what a caller of Fetch tells a Source that runs queries
// elsewhere (the jobs package's worker pool): which cell the query is,
// and where to report how the fetch stands. It travels in the context
// (WithFetchInfo), so that the engine, which imports no connector, can
// hear a worker pool without knowing it.
type FetchInfo struct {
	Session, Artifact, Cell, Run string
	// Status, when not nil, hears where the fetch stands; calls come from
	// the goroutine running Fetch, before it returns.
	Status func(FetchStatus)
}

// FetchStatus is where a fetch on a queueing Source stands.
type FetchStatus struct {
	// State is FetchQueued (no worker runs it), FetchRunning or FetchDone
	// (the result is complete).
	State string
	// Reason says why, for the cell's event: "waiting for a worker for
	// pg", "on worker w1", "retried on worker w2: w1 lost".
	Reason string
	// Worker runs (or ran) the fetch; Attempt counts its deliveries.
	Worker  string
	Attempt int
}

// States of a FetchStatus.
const (
	FetchQueued  = "queued"
	FetchRunning = "running"
	FetchDone    = "done"
)

// Queueing is implemented by Sources whose fetches may wait in a queue
// before they run: a caller keeps such a cell queued until the Source
// reports FetchRunning.
type Queueing interface {
	Queues(c Connection) bool
}

type fetchInfoKey struct{}

// WithFetchInfo returns a context whose fetches carry fi.
func WithFetchInfo(ctx context.Context, fi FetchInfo) context.Context {
	return context.WithValue(ctx, fetchInfoKey{}, fi)
}

// FetchInfoOf returns the FetchInfo of ctx, if any.
func FetchInfoOf(ctx context.Context) (FetchInfo, bool) {
	fi, ok := ctx.Value(fetchInfoKey{}).(FetchInfo)
	return fi, ok
}
