package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/sqlparse"
)

// RunOptions configures one run of a plan.
type RunOptions struct {
	// Session names the run's session in events; defaults to "s1".
	Session string
	// Artifact limits the run to one artifact; empty runs all.
	Artifact string
	// Select limits the run to these cells and their upstream (see
	// Plan.Select and Plan.Reads); nil runs every cell.
	Select Selection
	// Concurrency bounds the cells running at once; 0 means the number of
	// CPUs.
	Concurrency int
	// Timeout bounds each cell; 0 means none.
	Timeout time.Duration
	// Observe, when set, is called for every status change, one call at a
	// time, in causal order per cell.
	Observe func(Event)
	// FirstSeq is the seq the run's events continue from (see
	// SessionOptions).
	FirstSeq int64
	// NoCache fetches every external cell again, whatever its refresh
	// policy and whatever a persistent database kept of it (see
	// seedPriors); nothing else in one run is served from cache.
	NoCache bool
}

// ErrUnknownArtifact is returned for an artifact the notebook lacks.
var ErrUnknownArtifact = errors.New("unknown artifact")

// Run executes every runnable cell of the plan (or of one artifact, or of
// a selection with its upstream) in dependency order, as one run of a session of its own, and returns the
// final state of every SQL cell. A cell whose upstream failed is blocked;
// independent branches keep running. Cancelling ctx cancels running cells
// and blocks the cells that wait for them. The error result is for a run
// that could not start; cell failures are in the report.
func (e *Engine) Run(ctx context.Context, plan *Plan, opts RunOptions) (*Report, error) {
	s, err := e.NewSession(ctx, plan, SessionOptions{ID: opts.Session, Concurrency: opts.Concurrency, Timeout: opts.Timeout, NoCache: opts.NoCache, Observe: opts.Observe, FirstSeq: opts.FirstSeq})
	if err != nil {
		return nil, err
	}
	s.batch = true // nothing can edit it: no run supersedes another
	defer s.Close()
	var r *Run
	if opts.Select != nil {
		r, err = s.runSelected(opts.Select, opts.Artifact, 0)
	} else {
		r, err = s.Run(RunRequest{Artifact: opts.Artifact})
	}
	if err != nil {
		return nil, err
	}
	if r.Wait(ctx) != nil {
		s.Cancel("")
		<-r.Done()
	}
	s.Flush()
	return s.Report(opts.Artifact), nil // provenance was written when the run ended
}

// runDuckDB runs a DuckDB cell on its own connection, with the artifact's
// search_path. A query cell's last statement replaces its result table
// atomically (see materialize); with a commit guard, inside a transaction
// committed through it, so that a superseded execution never lands. A DDL
// cell's statements run as written. It returns the result's row count, or
// nil for a DDL cell.
func (e *Engine) runDuckDB(ctx context.Context, spec execSpec, guard func(context.Context, func() error) error) (rows *int64, err error) {
	stmts := []string{spec.sql}
	if spec.statements > 1 || spec.show {
		// A DESCRIBE, SHOW or SUMMARIZE becomes a subquery, which must not
		// hold the semicolon that ends it.
		stmts = splitStatements(spec.sql)
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var key any // the driver connection, for the search_path cache
	conn.Raw(func(dc any) error { key = dc; return nil })
	defer func() {
		// A connection that saw an error or an interrupt, or ran statements
		// other than the materialized query (DuckDB's own, for a query it
		// expands), may hold session state (an aborted transaction, a
		// pending interrupt, temporary tables and types, settings): discard
		// it rather than hand it to the next cell.
		if err != nil || len(stmts) > 1 || !spec.hasResult || spec.expands {
			e.searchPaths.Delete(key)
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	// Registered after the deferred close, so it stops before the
	// connection is closed: see interruptOnCancel.
	stop := interruptOnCancel(ctx, key)
	defer stop()
	if path := e.searchPath(spec.schema); !e.searchPathIs(key, path) {
		if _, err := conn.ExecContext(ctx, `SET search_path = `+quoteString(path)); err != nil {
			return nil, fmt.Errorf("set search_path: %w", err)
		}
		e.searchPaths.Store(key, path)
	}
	if !spec.hasResult && guard != nil && (spec.family || len(spec.drops) > 0) {
		// A cell of a family, or a DDL cell run again: its statements
		// (after removing what it created last time) commit together
		// through the guard, so a superseded execution writes nothing.
		return nil, runInTx(ctx, conn, append(spec.drops, stmts...), guard)
	}
	last := len(stmts) - 1
	if !spec.hasResult {
		last = len(stmts)
	}
	for _, s := range stmts[:last] {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, err
		}
	}
	if !spec.hasResult {
		return nil, nil
	}
	var n int64
	if guard == nil && !spec.expands {
		if n, err = e.materialize(ctx, conn, spec, stmts[last]); err != nil {
			return nil, err
		}
		return &n, nil
	}
	// An expanded query's table and its row count are read by two
	// statements: one transaction keeps them together.
	// Not bound to ctx: when ctx ends, database/sql would roll back from a
	// goroutine of its own and then close the driver connection, under
	// interruptOnCancel's feet. The deferred Rollback below runs while it
	// still interrupts. The commit checks ctx itself (the guard does;
	// without one, the statement before it did).
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if n, err = e.materialize(ctx, tx, spec, stmts[last]); err != nil {
		return nil, err
	}
	if guard == nil {
		err = tx.Commit()
	} else {
		err = guard(ctx, tx.Commit)
	}
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// runInTx runs stmts in one transaction on conn, committed through guard.
func runInTx(ctx context.Context, conn *sql.Conn, stmts []string, guard func(context.Context, func() error) error) error {
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil) // see runDuckDB
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return guard(ctx, tx.Commit)
}

// execQuerier is what materialize needs of a connection or a transaction.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// materialize replaces the cell's result table with the result of stmt, the
// cell's last statement, and returns its number of rows. The statement
// follows CREATE OR REPLACE TABLE ... AS on the same line, so DuckDB's
// errors give the cell's line numbers.
//
// DuckDB refuses DESCRIBE, SHOW and SUMMARIZE after AS but takes them as a
// subquery. It runs a PIVOT without IN list as several statements, the last
// of which is the CREATE TABLE but answers no row count: the rows are
// counted in the table made.
func (e *Engine) materialize(ctx context.Context, q execQuerier, spec execSpec, stmt string) (int64, error) {
	rel := e.Relation(spec.schema, spec.name)
	body := stmt + "\n"
	if spec.show {
		// The parenthesis on a line of its own: a trailing -- comment
		// must not swallow it.
		body = "FROM (" + stmt + "\n)"
	}
	ctas := "CREATE OR REPLACE TABLE " + rel + " AS " + body
	prefix := len(ctas) - len(body) // the cell's line 1 starts there: see unwrapPosition
	if spec.show {
		prefix += len("FROM (")
	}
	var n int64 // CREATE TABLE AS answers with the number of rows
	if !spec.expands {
		err := q.QueryRowContext(ctx, ctas).Scan(&n)
		return n, unwrapPosition(err, ctas, prefix)
	}
	if _, err := q.ExecContext(ctx, ctas); err != nil {
		return 0, unwrapPosition(err, ctas, prefix)
	}
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+rel).Scan(&n)
	return n, err
}

// searchPathIs reports whether the connection's search_path is path.
func (e *Engine) searchPathIs(conn any, path string) bool {
	p, ok := e.searchPaths.Load(conn)
	return ok && p == path
}

// splitStatements splits a cell into its statements, without the
// semicolons that end them and the comments after the last one. Each
// statement is padded with the newlines and spaces that preceded it in the
// cell, so the line numbers in DuckDB's errors are the cell's. A cell with
// no statement is returned whole.
func splitStatements(text string) []string {
	spans := sqlparse.Statements(text)
	if len(spans) == 0 {
		return []string{text}
	}
	stmts := make([]string, len(spans))
	for i, sp := range spans {
		line, col := cells.LineColumn(text, sp.Start)
		stmts[i] = strings.Repeat("\n", line-1) + strings.Repeat(" ", col-1) + text[sp.Start:sp.End]
	}
	return stmts
}
