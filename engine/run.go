package engine

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/sqlparse"
)

// RunOptions configures one run of a plan.
type RunOptions struct {
	// Artifact limits the run to one artifact; empty runs all.
	Artifact string
	// Concurrency bounds the cells running at once; 0 means the number of
	// CPUs.
	Concurrency int
	// Timeout bounds each cell; 0 means none.
	Timeout time.Duration
	// Observe, when set, is called for every status change, one call at a
	// time, in causal order per cell.
	Observe func(Event)
}

// ErrUnknownArtifact is returned by Run for an Artifact the plan lacks.
var ErrUnknownArtifact = errors.New("unknown artifact")

// Run executes every runnable cell of the plan (or of one artifact) in
// dependency order and returns the final state of every SQL cell. A cell
// whose upstream failed is blocked; independent branches keep running.
// Cancelling ctx cancels running cells and leaves unstarted ones cancelled.
// The error result is for a run that could not start; cell failures are in
// the report.
func (e *Engine) Run(ctx context.Context, plan *Plan, opts RunOptions) (*Report, error) {
	var aps []*ArtifactPlan
	for _, ap := range plan.Artifacts {
		if opts.Artifact == "" || opts.Artifact == ap.Artifact.ID {
			aps = append(aps, ap)
		}
	}
	if opts.Artifact != "" && len(aps) == 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownArtifact, opts.Artifact)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency()
	}
	e.db.SetMaxIdleConns(opts.Concurrency + 1)

	w := &walk{e: e, opts: opts, sem: make(chan struct{}, opts.Concurrency)}
	report := &Report{}
	for _, ap := range aps {
		if _, err := e.db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(e.ResultDB())+"."+quoteIdent(ap.Schema)); err != nil {
			return nil, fmt.Errorf("create schema for artifact %s: %w", ap.Artifact.ID, err)
		}
	}
	for _, ap := range aps {
		report.Artifacts = append(report.Artifacts, w.start(ctx, ap))
	}
	w.wg.Wait()
	for _, ar := range report.Artifacts {
		for _, c := range ar.Cells {
			report.Summary.add(c.Status)
		}
	}
	return report, nil
}

// walk is one run: it owns a goroutine per runnable cell, gated by sem.
type walk struct {
	e    *Engine
	opts RunOptions
	sem  chan struct{}
	wg   sync.WaitGroup

	observeMu sync.Mutex
}

// cellRun is the state of one cell in a walk. done is closed once result is
// final; root names the cell whose failure blocks the dependents, and
// rootCause says what happened to it ("c3 failed").
type cellRun struct {
	plan      *CellPlan
	done      chan struct{}
	result    *CellResult
	root      string
	rootCause string
	finished  bool
}

func (w *walk) start(ctx context.Context, ap *ArtifactPlan) *ArtifactReport {
	ar := &ArtifactReport{ID: ap.Artifact.ID}
	runs := make(map[string]*cellRun, len(ap.Cells))
	for _, cp := range ap.Cells {
		cr := &cellRun{plan: cp, done: make(chan struct{})}
		runs[cp.Cell.ID] = cr
		if cp.Cell.Type == cells.TypeSQL {
			cr.result = &CellResult{ID: cp.Cell.ID, Status: StatusIdle}
			if cp.HasResult() {
				cr.result.Relation = w.e.relationName(ap.Schema, cp.Name)
			}
			ar.Cells = append(ar.Cells, cr.result)
		}
	}
	values := inputValues(ap)

	// Cells that cannot run: their own errors, or an upstream's.
	inOrder := setOf(ap.Order...)
	for _, cp := range ap.Cells {
		cr := runs[cp.Cell.ID]
		switch {
		case inOrder[cp.Cell.ID]:
			continue
		case len(cp.Errors) > 0:
			w.finish(ap, cr, StatusError, cp.Errors[0].Kind+" error", cp.Errors[0].Describe())
		case inGraph(cp.Cell):
			cr.root = w.failedRoot(ap, cp.Cell.ID)
			cr.rootCause = cr.root + " failed"
			w.finish(ap, cr, StatusBlocked, "blocked: "+cr.rootCause, "")
		}
	}
	for _, id := range ap.Order {
		if cr := runs[id]; cr.result != nil {
			w.transition(ap, cr, StatusQueued, "run all", "")
		}
	}
	for _, id := range ap.Order {
		cr := runs[id]
		deps := make([]*cellRun, 0, len(cr.plan.Deps))
		for _, d := range cr.plan.Deps {
			deps = append(deps, runs[d])
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.runCell(ctx, ap, cr, deps, values)
		}()
	}
	return ar
}

// failedRoot names the first cell, in position order, upstream of id that
// has an error of its own.
func (w *walk) failedRoot(ap *ArtifactPlan, id string) string {
	for _, up := range ap.Graph.Upstream(id) {
		if len(ap.Cell(up).Errors) > 0 {
			return up
		}
	}
	return id
}

func (w *walk) runCell(ctx context.Context, ap *ArtifactPlan, cr *cellRun, deps []*cellRun, values map[string]any) {
	defer func() {
		if p := recover(); p != nil {
			w.finish(ap, cr, StatusError, fmt.Sprintf("internal error: %v\n%s", p, debug.Stack()), "")
		}
	}()
	// Dependencies always finish, cancelled or not, so waiting on them
	// alone is safe; a cell downstream of a cancelled cell is blocked.
	for _, d := range deps {
		<-d.done
		if d.root != "" {
			cr.root, cr.rootCause = d.root, d.rootCause
			w.finish(ap, cr, StatusBlocked, "blocked: "+d.rootCause, "")
			return
		}
	}
	if ctx.Err() != nil {
		w.finish(ap, cr, StatusCancel, "run cancelled", "")
		return
	}
	if cr.result == nil {
		close(cr.done) // input and vega cells have nothing to execute
		return
	}
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	case <-ctx.Done():
		w.finish(ap, cr, StatusCancel, "run cancelled", "")
		return
	}
	w.transition(ap, cr, StatusRunning, "dependencies ready", "")
	start := time.Now()
	rows, err := w.execute(ctx, ap, cr.plan, values)
	cr.result.Duration = time.Since(start)
	switch {
	case err == nil:
		cr.result.Rows = rows
		w.finish(ap, cr, StatusSuccess, "", "")
	case ctx.Err() != nil:
		w.finish(ap, cr, StatusCancel, "run cancelled", "")
	default:
		w.finish(ap, cr, StatusError, "failed", err.Error())
	}
}

// execute runs one SQL cell and materializes its result. It returns the
// number of rows of the result, or nil for a cell without one.
func (w *walk) execute(ctx context.Context, ap *ArtifactPlan, cp *CellPlan, values map[string]any) (*int64, error) {
	if w.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, w.opts.Timeout, fmt.Errorf("timed out after %s", w.opts.Timeout))
		defer cancel()
	}
	rendered, err := cells.Render(cp.Cell.SQL, values)
	if err != nil {
		return nil, fmt.Errorf("render {{var}}: %w", err)
	}
	if cp.Connection.Engine != connectors.EngineDuckDB {
		return nil, fmt.Errorf("connector %s: %s cells cannot run yet", cp.Connection.ID, cp.Connection.Engine)
	}
	rows, err := w.e.runDuckDB(ctx, ap, cp, rendered)
	if err != nil && ctx.Err() == context.DeadlineExceeded && context.Cause(ctx) != nil {
		return nil, context.Cause(ctx)
	}
	return rows, err
}

// runDuckDB runs a DuckDB cell on its own connection, with the artifact's
// search_path. A query cell's last statement replaces its result table, in
// one transaction with its provenance row; a DDL cell's statements run as
// written.
func (e *Engine) runDuckDB(ctx context.Context, ap *ArtifactPlan, cp *CellPlan, text string) (*int64, error) {
	stmts := splitStatements(text)
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if len(stmts) > 1 || !cp.HasResult() {
		// Statements other than the materialized query may leave session
		// state (temporary tables, variables, settings): discard the
		// connection rather than hand it to the next cell.
		defer conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if _, err := conn.ExecContext(ctx, `SET search_path = `+quoteString(e.searchPath(ap.Schema))); err != nil {
		return nil, fmt.Errorf("set search_path: %w", err)
	}
	last := len(stmts) - 1
	if !cp.HasResult() {
		last = len(stmts)
	}
	for _, s := range stmts[:last] {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	if !cp.HasResult() {
		return nil, nil
	}
	started := time.Now()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rel := e.Relation(ap.Schema, cp.Name)
	if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TABLE "+rel+" AS "+stmts[last]+"\n"); err != nil {
		return nil, err
	}
	var rows int64 // the driver reports no row count for CREATE TABLE AS
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+rel).Scan(&rows); err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	sum := sha256.Sum256([]byte(text))
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+e.provenanceTable()+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		e.relationName(ap.Schema, cp.Name), ap.Artifact.ID, cp.Cell.ID, cp.Connection.ID, cp.Connection.Engine,
		hex.EncodeToString(sum[:]), started, time.Now(), rows); err != nil {
		return nil, fmt.Errorf("record provenance: %w", err)
	}
	return &rows, tx.Commit()
}

// splitStatements splits a cell into its statements. Each statement is
// padded with the newlines and spaces that preceded it in the cell, so the
// line numbers in DuckDB's errors are the cell's.
func splitStatements(text string) []string {
	spans := sqlparse.Statements(text)
	if len(spans) < 2 {
		return []string{text}
	}
	stmts := make([]string, len(spans))
	for i, sp := range spans {
		line, col := cells.LineColumn(text, sp.Start)
		stmts[i] = strings.Repeat("\n", line-1) + strings.Repeat(" ", col-1) + text[sp.Start:sp.End]
	}
	return stmts
}

// transition records and reports a state change.
func (w *walk) transition(ap *ArtifactPlan, cr *cellRun, to Status, reason, errMsg string) {
	w.observeMu.Lock()
	defer w.observeMu.Unlock()
	r := cr.result
	prev := r.Status
	r.Status, r.Reason = to, reason
	if errMsg != "" {
		r.Err = &errMsg
	}
	if w.opts.Observe == nil {
		return
	}
	ev := Event{Time: time.Now(), Artifact: ap.Artifact.ID, Cell: r.ID, Status: to, Prev: prev,
		Reason: reason, Relation: r.Relation, Rows: r.Rows, Cached: r.Cached, Err: errMsg}
	if to.Final() && to != StatusBlocked {
		ev.Duration = r.Duration
	}
	w.opts.Observe(ev)
}

// finish moves a cell to its final state and wakes its dependents. Cells
// without a result (input, vega) only wake their dependents.
func (w *walk) finish(ap *ArtifactPlan, cr *cellRun, to Status, reason, errMsg string) {
	if cr.finished {
		return // a panic in Observe after the cell finished
	}
	cr.finished = true
	if to != StatusSuccess && cr.root == "" {
		cr.root, cr.rootCause = cr.plan.Cell.ID, cr.plan.Cell.ID+" failed"
		if to == StatusCancel {
			cr.rootCause = cr.plan.Cell.ID + " was cancelled"
		}
	}
	if cr.result != nil {
		if to == StatusError && errMsg == "" {
			errMsg = reason
		}
		w.transition(ap, cr, to, reason, errMsg)
	}
	close(cr.done)
}

// inputValues maps each variable of an artifact to its input cell's value.
func inputValues(ap *ArtifactPlan) map[string]any {
	values := map[string]any{}
	for _, cp := range ap.Cells {
		if in := cp.Cell.Input; in != nil {
			values[in.VarName] = in.Value
		}
	}
	return values
}
