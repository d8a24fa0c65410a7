package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/cellsd/cellsd/sqlparse"
)

// ErrNoResult is returned by Result for a cell that has no result relation
// of its own (a DDL cell, a cell that is not SQL).
var ErrNoResult = errors.New("no result relation")

// CheckQuery returns nil when text is exactly one query, as DuckDB's parser
// on the session's DuckDB reads it, else an error wrapping
// sqlparse.ErrNotQuery (see sqlparse.DuckDB.CheckQuery).
func (s *Session) CheckQuery(ctx context.Context, text string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return sqlparse.NewDuckDB(s.e.db).CheckQuery(ctx, text)
}

// ReadOnly calls fn with a connection of the session's DuckDB inside a
// read-only transaction, which it rolls back afterwards: nothing fn runs
// can write. The connection's search_path is every artifact schema of the
// session, in notebook order, then the core database's main schema, so a
// result name unique in the session needs no qualification. fn must run
// only queries (check them with CheckQuery): settings are not
// transactional. The context of fn's queries ends with ctx and with Close,
// which waits for fn to return.
func (s *Session) ReadOnly(ctx context.Context, fn func(ctx context.Context, conn *sql.Conn) error) (err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	release, ok := s.spawn.hold()
	path := s.e.NotebookSearchPath(s.plan)
	s.mu.Unlock()
	if !ok {
		return ErrClosed
	}
	defer release()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(s.ctx, stop)()

	conn, err := s.e.db.Conn(ctx)
	if err != nil {
		return err
	}
	var key any
	conn.Raw(func(dc any) error { key = dc; return nil })
	discard := false
	defer func() {
		if discard {
			s.e.searchPaths.Delete(key)
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	if !s.e.searchPathIs(key, path) {
		// Cells check the cache too, so they set theirs again.
		s.e.searchPaths.Delete(key)
		if _, err := conn.ExecContext(ctx, `SET search_path = `+quoteString(path)); err != nil {
			discard = true
			return fmt.Errorf("set search_path: %w", err)
		}
		s.e.searchPaths.Store(key, path)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN TRANSACTION READ ONLY`); err != nil {
		discard = true
		return err
	}
	err = fn(ctx, conn)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil || err != nil {
		// An interrupted query may leave the connection in a state the
		// next user must not inherit.
		discard = true
	}
	return err
}

// Read calls fn with the session's DuckDB, for SQL that only reads and
// that cellsd writes itself (a page of a result relation, fully
// qualified): no transaction, no search_path. The context of fn's queries
// ends with ctx and with Close, which waits for fn to return.
func (s *Session) Read(ctx context.Context, fn func(ctx context.Context, db *sql.DB) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	release, ok := s.spawn.hold()
	s.mu.Unlock()
	if !ok {
		return ErrClosed
	}
	defer release()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(s.ctx, stop)()
	return fn(ctx, s.e.db)
}

// Schemas returns the catalog results are materialized in and the
// session's artifact schemas, in notebook order.
func (s *Session) Schemas() (catalog string, schemas []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ap := range s.plan.Artifacts {
		schemas = append(schemas, ap.Schema)
	}
	return s.e.ResultDB(), schemas
}

// Result returns a SQL cell's current state and the quoted relation its
// result is materialized in. It fails with ErrUnknownCell for a cell the
// notebook lacks and ErrNoResult for a cell without a result relation of
// its own; whether there is a result now is the state's status.
func (s *Session) Result(cellID string) (Event, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Event{}, "", ErrClosed
	}
	for _, ap := range s.plan.Artifacts {
		cp := ap.Cell(cellID)
		if cp == nil {
			continue
		}
		st := s.states[cellRef{ap.Artifact.ID, cellID}]
		if st == nil || !cp.HasResult() {
			return Event{}, "", fmt.Errorf("cell %s: %w (not a query cell)", cellID, ErrNoResult)
		}
		ev := st.last
		if ev.Seq == 0 {
			ev = s.eventOf(st)
		}
		return ev, s.e.Relation(ap.Schema, cp.Name), nil
	}
	return Event{}, "", fmt.Errorf("%w %q", ErrUnknownCell, cellID)
}
