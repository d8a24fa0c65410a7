package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// The state machine of a cell: a run queues it, the scheduler moves it to
// running or straight to a final state (finish), and every change is a
// transition, published as an event with the session's next seq. A newer
// run superseding an execution cancels it, and the execution's commit
// guard keeps a superseded result from landing.

// cellRef names a cell within an artifact.
type cellRef struct{ artifact, cell string }

// cellState is the scheduler's view of one SQL cell.
type cellState struct {
	ref cellRef
	ap  *ArtifactPlan
	pos int // position in the artifact, for deterministic order

	status Status
	reason string
	last   Event // the latest event published of the cell: its seq, time, prev
	run    *Run  // the run that wants it, while pending or running
	exec   *execution
	// lastExec is closed when the cell's latest execution goroutine has
	// ended; a new execution waits for it, so a superseded query has
	// stopped before the new one writes the same table.
	lastExec chan struct{}
	inReady  bool // in Session.ready
	// rootCause names what failed when this cell failed or is blocked
	// ("c3 failed"); dependents are blocked with it.
	rootCause string
	timeout   time.Duration // of the run that queued it

	// The current result.
	rows        *int64
	bytes       *int64 // received from an external connector
	duration    time.Duration
	cached      bool
	err         string
	version     int64  // of the current result; 0 before the first
	fingerprint string // of the inputs of the current result
	// fetchedAt is when an external cell's current result was fetched
	// (the session's Clock); ttlTimer ages it under a ttl policy.
	fetchedAt time.Time
	ttlTimer  Timer
}

func (c *cellState) pending() bool { return c.run != nil && c.exec == nil }

// execution is one execution of a cell. Its commit is guarded by mu so
// that a supersession either happens before the commit (and stops it) or
// after (and the result was current when it landed).
type execution struct {
	cancel     context.CancelCauseFunc
	mu         sync.Mutex
	superseded bool
}

// errSuperseded is the cause of an execution's cancellation by a newer run.
var errSuperseded = errors.New("superseded")

// commit runs fn unless the execution was superseded or cancelled, and
// keeps it from being superseded while fn runs.
func (ex *execution) commit(ctx context.Context, fn func() error) error {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.superseded {
		return errSuperseded
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return fn()
}

func (ex *execution) supersede() {
	ex.mu.Lock()
	ex.superseded = true
	ex.mu.Unlock()
	ex.cancel(errSuperseded)
}

// failedReason is the reason of a failed cell: the first line of its error,
// cut short; the whole message is the event's error.
func failedReason(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 160 {
		msg = msg[:157] + "..."
	}
	return "failed: " + msg
}

// cancelledError is an execution stopped from outside: on request, by a
// newer run, or by Close. Its text is the reason the cell shows.
type cancelledError struct{ cause error }

func (e *cancelledError) Error() string {
	var r cancelReason
	if errors.As(e.cause, &r) {
		return string(r)
	}
	return "cancelled"
}

// cancelReason is the cause given to an execution cancelled on request.
type cancelReason string

func (r cancelReason) Error() string { return string(r) }

// finish moves a cell to a final state and takes it out of its run.
func (s *scheduler) finish(st *cellState, to Status, reason, errMsg string) {
	if st.run != nil {
		st.run.ended.add(to)
	}
	if to != StatusSuccess {
		st.cached = false
	}
	st.err = errMsg
	if to == StatusError && errMsg == "" {
		st.err = reason
	}
	s.transition(st, to, reason)
	s.release(st)
}

// transition records a state change and publishes it.
func (s *scheduler) transition(st *cellState, to Status, reason string) {
	prev := st.status
	st.status, st.reason = to, reason
	s.seq++
	ev := s.eventOf(st)
	ev.Prev, ev.Time = prev, time.Now()
	st.last = ev
	s.events.push(ev)
}

// sessionEvent publishes a change of the session itself: a run starting
// or ending (run set), or the session closing.
func (s *scheduler) sessionEvent(r *Run, to Status, reason string, d time.Duration) {
	s.seq++
	ev := Event{Seq: s.seq, Time: time.Now(), Session: s.opts.ID, Status: to, Reason: reason, Duration: d}
	if r != nil {
		ev.Run = r.ID
	}
	s.events.push(ev)
}

// eventOf is the cell's current state as an event; cached and the error
// message belong to a success and an error only.
func (s *scheduler) eventOf(st *cellState) Event {
	ev := Event{Seq: s.seq, Session: s.opts.ID, Artifact: st.ref.artifact, Cell: st.ref.cell, Status: st.status,
		Reason: st.reason, Cached: st.cached && st.status == StatusSuccess}
	if st.status == StatusError {
		ev.Err = st.err
	}
	if st.run != nil {
		ev.Run = st.run.ID
	}
	if cp := st.ap.Cell(st.ref.cell); cp != nil && cp.HasResult() {
		ev.Relation = s.e.relationName(st.ap.Schema, cp.Name)
	}
	if st.status == StatusSuccess {
		ev.Rows, ev.Bytes, ev.Duration = st.rows, st.bytes, st.duration
	}
	if st.status == StatusError || st.status == StatusCancel {
		ev.Duration = st.duration
	}
	return ev
}
