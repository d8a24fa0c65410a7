package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
)

// Executor runs one cell: its statements and, for a cell with a result,
// the materialization of its result relation. The engine declares it and
// the scheduler runs every cell through one; coreExecutor and
// sourceExecutor are the two the engine has, and tests give the scheduler
// fakes. guard, when not nil, wraps the commit that makes the result
// current (execution.commit), so a superseded execution never lands; a
// batch run has none. Execute returns the result's row count, or nil for a
// cell without a result. It must honour ctx.
type Executor interface {
	Execute(ctx context.Context, spec execSpec, guard commitGuard) (rows *int64, err error)
}

// commitGuard runs a commit unless the execution was superseded or its
// context is done (see execution.commit).
type commitGuard = func(ctx context.Context, commit func() error) error

// newExecutor is the engine's executor: DuckDB cells run in core, the
// cells of every other connector through the source executor.
func newExecutor(e *Engine) Executor {
	return byEngine{core: coreExecutor{e}, sources: sourceExecutor{e}}
}

// byEngine sends a cell to core when its connector is DuckDB, else to
// sources.
type byEngine struct{ core, sources Executor }

func (x byEngine) Execute(ctx context.Context, spec execSpec, guard commitGuard) (*int64, error) {
	if spec.conn.Engine == connectors.EngineDuckDB {
		return x.core.Execute(ctx, spec, guard)
	}
	return x.sources.Execute(ctx, spec, guard)
}

// coreExecutor runs DuckDB cells in the engine's DuckDB (runDuckDB).
type coreExecutor struct{ e *Engine }

func (x coreExecutor) Execute(ctx context.Context, spec execSpec, guard commitGuard) (*int64, error) {
	return x.e.runDuckDB(ctx, spec, guard)
}

// sourceExecutor runs the cells of external connectors: it reads the
// result from the source and loads it into DuckDB.
type sourceExecutor struct{ e *Engine }

func (x sourceExecutor) Execute(ctx context.Context, spec execSpec, guard commitGuard) (*int64, error) {
	return x.e.runExternal(ctx, spec, guard)
}

// execute runs one cell through x, without the scheduler's lock: with the
// spec's timeout, its panic recovered into an error.
func execute(ctx context.Context, x Executor, spec execSpec, guard commitGuard) (rows *int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v\n%s", p, debug.Stack())
		}
	}()
	if spec.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, spec.timeout, fmt.Errorf("timed out after %s", spec.timeout))
		defer cancel()
	}
	rows, err = x.Execute(ctx, spec, guard)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, context.Cause(ctx) // "timed out after ..."
	}
	return rows, err
}

// execSpec is everything an execution needs, captured when it starts so
// that edits to the plan cannot race with it.
type execSpec struct {
	artifact, cell string
	schema, name   string
	hasResult      bool
	statements     int // how many the cell has
	// show and expands are the last statement's sqlparse.Analysis Show
	// and Expands: how a DuckDB cell materializes its result.
	show, expands bool
	sql           string         // rendered (a MySQL cell's as written: its connection renders it)
	source        string         // the cell's SQL as written
	values        map[string]any // of the {{var}}s, by name
	conn          connectors.Connection
	timeout       time.Duration
	fingerprint   string
	// family marks a cell of a family of writers (rule 7): in an
	// interactive session its statements run in one transaction
	// committed through the supersession guard.
	family bool
	// drops are the statements that remove what a DDL cell created when
	// it last ran, so that running it again starts afresh.
	drops []string
	// received counts the bytes of the Arrow batches an external
	// connector sent; nil for core cells.
	received *atomic.Int64
	// job hears where an external cell's fetch stands when its Source
	// queues it for a worker; nil for core cells.
	job *jobNote
	// refresh is the cell's refresh policy; with incremental set, the
	// fetch continues the current result from its watermark, and note
	// hears what it added. note is nil for core cells.
	refresh     cells.Refresh
	incremental bool
	note        *refreshNote
}

// jobNote is where an external cell's job stands: status, set by the
// scheduler, moves the cell's state (queued while no worker runs it,
// running on one); worker is the worker that ran it, for provenance. The
// Source reports on the goroutine running Fetch, which is the execution's.
type jobNote struct {
	session, run string
	status       func(connectors.FetchStatus)
	worker       string
}

// report is the connectors.FetchInfo.Status of the cell's fetch.
func (n *jobNote) report(fs connectors.FetchStatus) {
	if fs.Worker != "" && fs.State != connectors.FetchQueued {
		n.worker = fs.Worker
	}
	if n.status != nil {
		n.status(fs)
	}
}

// spec captures what executing st needs, with the cell's {{var}}s
// rendered and the fingerprint of its inputs.
func (s *scheduler) spec(st *cellState, cp *CellPlan) (execSpec, error) {
	values := map[string]any{}
	for _, v := range cp.Analysis.Vars {
		for _, id := range st.ap.Inputs(v) {
			values[v] = st.ap.Cell(id).Cell.Input.Value
		}
	}
	rendered, err := renderCell(cp, values)
	if err != nil {
		return execSpec{}, fmt.Errorf("render {{var}}: %w", err)
	}
	spec := execSpec{
		artifact: st.ref.artifact, cell: st.ref.cell, schema: st.ap.Schema, name: cp.Name,
		hasResult: cp.HasResult(), statements: cp.Analysis.Statements, show: cp.Analysis.Show, expands: cp.Analysis.Expands,
		sql: rendered, source: cp.Cell.SQL, values: values, conn: cp.Connection, timeout: st.timeout,
		fingerprint: s.fingerprint(st, cp, values),
	}
	if cp.Connection.Engine != connectors.EngineDuckDB {
		if spec.refresh, err = refreshOf(cp); err != nil {
			return execSpec{}, err
		}
		spec.incremental = spec.refresh.Kind == cells.RefreshIncremental && cp.HasResult() &&
			st.version > 0 && st.fingerprint == spec.fingerprint
		spec.note = &refreshNote{}
		spec.received = new(atomic.Int64)
		spec.job = &jobNote{session: s.opts.ID}
		if st.run != nil {
			spec.job.run = st.run.ID
		}
	} else if !cp.HasResult() {
		spec.family = st.ap.InFamily(st.ref.cell)
		if st.version > 0 && !s.batch {
			spec.drops = dropStatements(cp)
		}
	}
	return spec, nil
}

// awaitsWorker hooks an external cell's job to the cell's state, and
// reports whether the cell stays queued as it starts: its Source queues
// the fetch for a worker (connectors.Queueing), and jobStatus moves it on.
func (s *scheduler) awaitsWorker(st *cellState, ex *execution, spec execSpec) bool {
	if spec.job == nil {
		return false
	}
	spec.job.status = func(fs connectors.FetchStatus) { s.jobStatus(st, ex, fs) }
	q, ok := s.e.cfg.Sources.(connectors.Queueing)
	return ok && q.Queues(spec.conn)
}

// jobStatus moves an external cell whose job waits for a worker or runs
// on one: queued with the reason while no worker runs it ("waiting for a
// worker for pg"), running on one ("on worker w1", "retried on worker w2:
// w1 lost"), unless a newer run took the cell over.
func (s *scheduler) jobStatus(st *cellState, ex *execution, fs connectors.FetchStatus) {
	to := StatusRunning
	switch fs.State {
	case connectors.FetchQueued:
		to = StatusQueued
	case connectors.FetchDone:
		return // finished says it
	}
	s.mu.Lock()
	defer s.unlock()
	if st.exec != ex || (st.status == to && st.reason == fs.Reason) {
		return
	}
	s.transition(st, to, fs.Reason)
}
