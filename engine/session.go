package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cellsd/cellsd/cells"
)

// Mode says what an edit does (DESIGN.md "Job API").
type Mode string

const (
	// Autorun reruns an edited cell and everything downstream at once.
	Autorun Mode = "autorun"
	// Lazy marks an edited cell and its downstream stale; running a stale
	// cell first runs its stale or idle upstream.
	Lazy Mode = "lazy"
)

// SessionOptions configures a Session.
type SessionOptions struct {
	// ID names the session in events; defaults to "s1".
	ID string
	// Mode is the default for edits and runs; defaults to Autorun.
	Mode Mode
	// Concurrency bounds the cells running at once; 0 means the number of
	// CPUs.
	Concurrency int
	// Timeout bounds each cell; 0 means none. A run may set its own.
	Timeout time.Duration
	// NoCache executes every cell even if its fingerprint is unchanged.
	NoCache bool
	// FirstSeq is the seq the session's events continue from: its first
	// event has FirstSeq+1 (an id used before keeps counting).
	FirstSeq int64
	// Clock is the time refresh policies follow (ttl); nil is the real
	// clock.
	Clock Clock
	// Observe, when set, receives every status change, one call at a time
	// and in the order they happened, from a goroutine of the session's: a
	// slow observer delays other observers' events, never the scheduler.
	Observe func(Event)
}

// Session is one open notebook: its plan, the state of every cell, and the
// runs in flight. A Session is safe for concurrent use. It owns every
// goroutine it starts; Close stops them.
//
// Session is the facade: the scheduler drives the cells (scheduler.go),
// each cell's state and the supersession guard are in cellstate.go, the
// cache in cache.go, and cells run through an Executor (executor.go).
type Session struct {
	*scheduler
	ownsEngine bool
	// updates serialises edits: an edit parses its cell before it takes
	// the scheduler's lock (see Update).
	updates sync.Mutex
}

// ErrUnknownCell is returned for a cell id the notebook lacks.
var ErrUnknownCell = errors.New("unknown cell")

// ErrClosed is returned by the methods of a closed Session.
var ErrClosed = errors.New("session closed")

// OpenSession opens a new DuckDB instance with cfg, plans nb and returns a
// session that owns both; Close releases them.
func OpenSession(ctx context.Context, cfg Config, nb *cells.Notebook, opts SessionOptions) (*Session, error) {
	e := New(cfg)
	if err := e.Open(ctx); err != nil {
		e.Close()
		return nil, err
	}
	plan, err := e.Planner().Plan(ctx, nb)
	if err != nil {
		e.Close()
		return nil, err
	}
	s, err := e.NewSession(ctx, plan, opts)
	if err != nil {
		e.Close()
		return nil, err
	}
	s.ownsEngine = true
	return s, nil
}

// NewSession returns a session over a plan made by this engine's planner,
// creating the schemas its artifacts' results live in. Closing it leaves
// the engine open.
func (e *Engine) NewSession(ctx context.Context, plan *Plan, opts SessionOptions) (*Session, error) {
	for _, ap := range plan.Artifacts {
		if _, err := e.db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(e.ResultDB())+"."+quoteIdent(ap.Schema)); err != nil {
			return nil, fmt.Errorf("create schema for artifact %s: %w", ap.Artifact.ID, err)
		}
	}
	if opts.ID == "" {
		opts.ID = "s1"
	}
	if opts.Mode == "" {
		opts.Mode = Autorun
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency()
	}
	e.db.SetMaxIdleConns(opts.Concurrency + 1)
	s := &Session{scheduler: newScheduler(e, plan, opts, newExecutor(e))}
	if err := s.seedPriors(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB returns the session's DuckDB, for reading results.
func (s *Session) DB() *sql.DB { return s.e.db }

// ID returns the session's id.
func (s *Session) ID() string { return s.opts.ID }

// Plan returns the session's current plan. It changes with Update; read it
// only while no Update runs.
func (s *Session) Plan() *Plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plan
}

// RunRequest says what to run.
type RunRequest struct {
	// Artifact limits the run to one artifact; empty means every artifact
	// (or every artifact holding CellID).
	Artifact string
	// CellID runs one cell: in autorun mode with everything downstream, in
	// lazy mode alone; in both, with its stale or idle upstream first.
	// Empty runs every cell.
	CellID string
	// Mode overrides the session's mode for this run.
	Mode Mode
	// Timeout overrides the session's per-cell timeout for this run.
	Timeout time.Duration
}

// Run starts running cells and returns at once; the returned Run says when
// they are done.
func (s *Session) Run(req RunRequest) (*Run, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrClosed
	}
	targets, reasons, err := s.runTargets(req)
	if err != nil {
		return nil, err
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = s.opts.Timeout
	}
	return s.startRun(targets, reasons, timeout, req.CellID), nil
}

// Cancel cancels a cell wherever it is queued or running; the cells
// waiting for it are blocked. An empty cellID cancels every run: running
// cells are cancelled, and queued ones are cancelled or, when they wait for
// a cancelled cell, blocked.
func (s *Session) Cancel(cellID string) error {
	return s.cancelWith(cellID, "cancelled on request")
}

// Flush waits until the observer has received every event so far.
func (s *Session) Flush() { s.events.flush() }

// Close cancels everything running, waits for every goroutine of the
// session, delivers the last events and, for a session from OpenSession,
// closes its DuckDB. It is safe to call more than once. The order: stop
// accepting, cancel, wait, then the last event, the observer, provenance
// and DuckDB.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stopTimers()
	s.mu.Unlock()
	s.cancelWith("", "session closed")
	s.spawn.close()
	s.cancel()
	s.spawn.wait() // every execution has reported
	s.mu.Lock()
	s.sessionEvent(nil, StatusClosed, "closed", 0)
	s.mu.Unlock()
	s.events.close()
	if err := s.flushProvenance(context.Background()); err != nil {
		s.e.log.Warn("provenance not recorded", "session", s.opts.ID, "err", err)
	}
	if s.ownsEngine {
		return s.e.Close()
	}
	return nil
}
