package engine

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellsd/cellsd/cells"
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

// ErrUnknownArtifact is returned for an artifact the notebook lacks.
var ErrUnknownArtifact = errors.New("unknown artifact")

// Run executes every runnable cell of the plan (or of one artifact) in
// dependency order, as one run of a session of its own, and returns the
// final state of every SQL cell. A cell whose upstream failed is blocked;
// independent branches keep running. Cancelling ctx cancels running cells
// and blocks the cells that wait for them. The error result is for a run
// that could not start; cell failures are in the report.
func (e *Engine) Run(ctx context.Context, plan *Plan, opts RunOptions) (*Report, error) {
	s, err := e.NewSession(ctx, plan, SessionOptions{Concurrency: opts.Concurrency, Timeout: opts.Timeout, NoCache: true, Observe: opts.Observe})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	r, err := s.Run(RunRequest{Artifact: opts.Artifact})
	if err != nil {
		return nil, err
	}
	if r.Wait(ctx) != nil {
		s.Cancel("")
		<-r.Done()
	}
	s.Flush()
	return s.Report(opts.Artifact), nil
}

// runDuckDB runs a DuckDB cell on its own connection, with the artifact's
// search_path. A query cell's last statement replaces its result table, in
// one transaction with its provenance row, committed through commit so
// that a superseded execution never lands; a DDL cell's statements run as
// written.
func (e *Engine) runDuckDB(ctx context.Context, spec execSpec, commit func(context.Context, func() error) error) (rows *int64, err error) {
	stmts := splitStatements(spec.sql)
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A connection that saw an error or an interrupt, or ran statements
		// other than the materialized query, may hold session state (an
		// aborted transaction, a pending interrupt, temporary tables,
		// settings): discard it rather than hand it to the next cell.
		if err != nil || len(stmts) > 1 || !spec.hasResult {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, `SET search_path = `+quoteString(e.searchPath(spec.schema))); err != nil {
		return nil, fmt.Errorf("set search_path: %w", err)
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
	started := time.Now()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rel := e.Relation(spec.schema, spec.name)
	var n int64 // CREATE TABLE AS answers with the number of rows
	if err := tx.QueryRowContext(ctx, "CREATE OR REPLACE TABLE "+rel+" AS "+stmts[last]+"\n").Scan(&n); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(spec.sql))
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+e.provenanceTable()+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		e.relationName(spec.schema, spec.name), spec.artifact, spec.cell, spec.conn.ID, spec.conn.Engine,
		hex.EncodeToString(sum[:]), started, time.Now(), n); err != nil {
		return nil, fmt.Errorf("record provenance: %w", err)
	}
	if err := commit(ctx, tx.Commit); err != nil {
		return nil, err
	}
	return &n, nil
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
