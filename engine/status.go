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

// Status returns the latest state of every SQL cell, in artifact and cell
// order.
func (s *scheduler) Status() []Event {
	_, evs := s.Snapshot()
	return evs
}

// Snapshot is Status with the seq of the latest event: the states include
// every event up to it and none after. Each cell's state is its latest
// event (seq, time and prev included), or for a cell that never changed,
// its idle state with seq 0 and no time.
func (s *scheduler) Snapshot() (seq int64, cells []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.sortedStates() {
		if st.last.Seq != 0 {
			cells = append(cells, st.last)
			continue
		}
		ev := s.eventOf(st)
		ev.Seq = 0
		cells = append(cells, ev)
	}
	return s.seq, cells
}

// Report returns the state of every SQL cell of the artifact (or of all) in
// the report shape.
func (s *scheduler) Report(artifact string) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{}
	for _, ap := range s.plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		ar := &ArtifactReport{ID: ap.Artifact.ID, Cells: []*CellResult{}}
		for _, cp := range ap.Cells {
			st := s.states[cellRef{ap.Artifact.ID, cp.Cell.ID}]
			if st == nil {
				continue
			}
			res := &CellResult{ID: cp.Cell.ID, Status: st.status, Cached: st.cached, Reason: st.reason}
			res.Refresh, res.FetchedAt = s.age(st, cp)
			if cp.HasResult() {
				res.Relation = s.e.relationName(ap.Schema, cp.Name)
			}
			if st.status == StatusSuccess {
				res.Rows = st.rows
			}
			if st.status.Final() && st.status != StatusBlocked {
				res.Duration = st.duration
			}
			if st.status == StatusError {
				msg := st.err
				res.Err = &msg
			}
			ar.Cells = append(ar.Cells, res)
			r.Summary.add(st.status)
		}
		r.Artifacts = append(r.Artifacts, ar)
	}
	return r
}
