package engine

import "time"

// Status is a cell's execution state (DESIGN.md "Execution states").
type Status string

const (
	StatusIdle    Status = "idle"
	StatusQueued  Status = "queued"
	StatusRunning Status = "running"
	StatusSuccess Status = "success"
	StatusError   Status = "error"
	StatusCancel  Status = "cancel"
	StatusBlocked Status = "blocked"
	StatusStale   Status = "stale"
	// StatusClosed is the last event of a session; cells never have it.
	StatusClosed Status = "closed"
)

// Final reports whether a run ends a cell in this state.
func (s Status) Final() bool {
	switch s {
	case StatusSuccess, StatusError, StatusCancel, StatusBlocked:
		return true
	}
	return false
}

// Event is one status change of one cell, or of the session itself: a run
// starting (running) or ending (success, error or cancel), and the session
// closing (closed). A session event has no Artifact and no Cell.
type Event struct {
	// Seq increases by one per session, so a gap shows a lost event.
	Seq      int64
	Time     time.Time
	Session  string
	Artifact string
	Cell     string
	// Run is the run that wants the cell, while it is queued or running.
	Run    string
	Status Status
	Prev   Status
	// Reason says in words why the state changed ("blocked: c3 failed").
	Reason string
	// Relation is where the result lives (SQL cells).
	Relation string
	// Rows and Duration are set when a cell succeeds.
	Rows *int64
	// Bytes is what an external connector sent as Arrow batches, when the
	// result came that way.
	Bytes    *int64
	Duration time.Duration
	Cached   bool
	// Err is the error message of a failed cell.
	Err string
}

// SessionLevel reports whether the event is the session's, not a cell's.
func (ev Event) SessionLevel() bool { return ev.Cell == "" }
