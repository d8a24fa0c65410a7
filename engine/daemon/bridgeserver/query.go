package bridgeserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/connectors/postgres"
	"github.com/cellsd/cellsd/engine/daemon/sqlvalue"
)

// batchRows is the size of the record batches built from Go values, the
// same as the Postgres columnar path's.
const batchRows = postgres.BatchRows

// target is a connection a request names, ready to query: the core DuckDB
// (src and session nil), a Postgres source or a session.
type target struct {
	conn    connectors.Connection
	src     *postgres.Source
	my      *mysql.Source // a MySQL or MariaDB connection's
	session SessionDB
}

// target resolves a connection id, opening its Postgres pool on first use.
func (s *Server) target(ctx context.Context, id string) (target, error) {
	if id == "" {
		return target{}, errorf(http.StatusBadRequest, "missing connectionId")
	}
	if strings.HasPrefix(id, SessionPrefix) {
		return s.sessionTarget(ctx, id)
	}
	c, ok := s.registry.Lookup(id)
	if !ok {
		return target{}, errorf(http.StatusNotFound, "unknown connection %q", id)
	}
	switch {
	case c.ID == connectors.CoreID:
		if s.cfg.Core == nil {
			return target{}, errorf(http.StatusServiceUnavailable, "connection %s: no core DuckDB configured", id)
		}
		return target{conn: c}, nil
	case c.Engine == connectors.EnginePostgres:
		src, err := s.source(c)
		if err != nil {
			return target{}, err
		}
		return target{conn: c, src: src}, nil
	case c.Engine == connectors.EngineMySQL:
		my, err := s.mysqlSource(c)
		if err != nil {
			return target{}, err
		}
		return target{conn: c, my: my}, nil
	}
	return target{}, errorf(http.StatusNotImplemented, "connection %s: the bridge does not serve engine %s (only the core DuckDB, postgres and mysql)", id, c.Engine)
}

// source returns the connection's Postgres source, opening it once.
func (s *Server) source(c connectors.Connection) (*postgres.Source, error) {
	src, err := s.sources.Get(c)
	if errors.Is(err, connectors.ErrClientsClosed) {
		return nil, &httpError{status: http.StatusServiceUnavailable, err: ErrServerClosed}
	}
	return src, err
}

// startQuery returns the context a request's query runs in: cancelled when
// the client goes away, by cancel-query (for a queryId) and by Close. done
// releases it.
func (s *Server) startQuery(w http.ResponseWriter, r *http.Request, queryID string) (ctx context.Context, done func(), err error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(s.ctx, func() {
		cancel(context.Cause(s.ctx))
		// A client that stopped reading must not hold Close up.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Second))
	})
	if queryID != "" {
		s.mu.Lock()
		_, dup := s.queries[queryID]
		if !dup {
			s.queries[queryID] = cancel
		}
		s.mu.Unlock()
		if dup {
			stop()
			cancel(nil)
			return nil, nil, errorf(http.StatusConflict, "query %q is already running", queryID)
		}
	}
	return ctx, func() {
		stop()
		if queryID != "" {
			s.mu.Lock()
			delete(s.queries, queryID)
			s.mu.Unlock()
		}
		cancel(nil)
	}, nil
}

// cancel stops the query with the given id; false if none runs.
func (s *Server) cancelByID(queryID string) bool {
	s.mu.Lock()
	cancel, ok := s.queries[queryID]
	s.mu.Unlock()
	if ok {
		cancel(ErrQueryCancelled)
	}
	return ok
}

// queryFailed names why a query failed: when its context was cancelled,
// the cause (cancel-query, Close) rather than the driver's report of it.
func queryFailed(ctx context.Context, t target, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
	}
	return fmt.Errorf("connection %s: %w", t.conn.ID, err)
}

// statusOf is the HTTP status an error answers with: 400 for malformed
// requests, 404 for unknown connections, 409 for a cancelled query, 413
// for oversized bodies, 422 for errors of the SQL (Postgres's and DuckDB's
// own), 502 when Postgres cannot be reached, 503 once the server is
// closing, 500 for the rest.
func statusOf(err error) int {
	var he *httpError
	var pgErr *pgconn.PgError
	var duckErr *duckdb.Error
	var connErr *pgconn.ConnectError
	if st := mysqlStatus(err); st != 0 {
		return st
	}
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, ErrServerClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrQueryCancelled):
		return http.StatusConflict
	case errors.As(err, &pgErr), errors.As(err, &duckErr):
		return http.StatusUnprocessableEntity
	case errors.As(err, &connErr):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// rowSink receives a result as Go values: its columns (names and DuckDB
// type names) once, then batches of at most batchRows rows, whose slices
// are reused after rows returns.
type rowSink interface {
	columns(names, dbTypes []string) error
	rows(rows [][]any) error
}

// arrowSink receives a result as Arrow: its schema once, then record
// batches, released after record returns.
type arrowSink interface {
	schema(s *arrow.Schema) error
	record(rec arrow.RecordBatch) error
}

// exec runs statements for their effect. On Postgres they run in a
// transaction of their own, READ ONLY unless the connection says
// otherwise.
func (s *Server) exec(ctx context.Context, t target, query string) error {
	if t.my != nil {
		return t.my.Query(ctx, query, nil, nil)
	}
	if t.session != nil {
		return sessionRows(ctx, t.session, query, discardRows{})
	}
	if t.src == nil {
		_, err := s.cfg.Core.ExecContext(ctx, query)
		return err
	}
	return pgFetch(ctx, t.src, query, nil)
}

// queryRows runs a query and hands its rows to sink as Go values.
func (s *Server) queryRows(ctx context.Context, t target, query string, sink rowSink) error {
	if t.my != nil {
		return t.my.Query(ctx, query, nil, &mysqlRows{sink: sink})
	}
	if t.session != nil {
		return sessionRows(ctx, t.session, query, sink)
	}
	if t.src == nil {
		return coreRows(ctx, s.cfg.Core, query, sink)
	}
	return pgFetch(ctx, t.src, query, &pgRows{sink: sink})
}

// queryArrow runs a query and hands its result to sink as Arrow record
// batches. Postgres results are decoded from the binary wire format
// straight into Arrow (postgres.Source.Fetch); the core DuckDB's are built
// from Go values.
func (s *Server) queryArrow(ctx context.Context, t target, query string, sink arrowSink) error {
	if t.my != nil {
		return t.my.Query(ctx, query, nil, mysqlArrow{sink})
	}
	rows := &rowsToArrow{out: sink}
	defer rows.release()
	if t.session != nil {
		return sessionRows(ctx, t.session, query, rows)
	}
	if t.src == nil {
		return coreRows(ctx, s.cfg.Core, query, rows)
	}
	return pgFetch(ctx, t.src, query, pgArrow{sink})
}

// coreRows runs a query on the core DuckDB and hands its rows to sink.
func coreRows(ctx context.Context, db *sql.DB, query string, sink rowSink) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scanRows(rows, sink)
}

// scanRows hands a result's rows to sink, in batches.
func scanRows(rows *sql.Rows, sink rowSink) error {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	names, types := make([]string, len(cts)), make([]string, len(cts))
	for i, ct := range cts {
		names[i], types[i] = ct.Name(), ct.DatabaseTypeName()
	}
	if err := sink.columns(names, types); err != nil {
		return err
	}
	n := len(cts)
	buf := make([]any, batchRows*n)
	batch := make([][]any, 0, batchRows)
	dest := make([]any, n)
	for rows.Next() {
		row := buf[len(batch)*n : (len(batch)+1)*n]
		for i := range row {
			dest[i] = &row[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		batch = append(batch, row)
		if len(batch) == batchRows {
			if err := sink.rows(batch); err != nil {
				return err
			}
			batch = batch[:0]
			clear(buf)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return sink.rows(batch)
	}
	return nil
}

// pgFetch runs a query on a Postgres source, its result (when w is not
// nil) to w. The caller names the connection, as for the other sources.
func pgFetch(ctx context.Context, src *postgres.Source, query string, w connectors.ResultWriter) error {
	err := src.Fetch(ctx, connectors.Query{SQL: query, HasResult: w != nil}, w)
	if ce := (*connectors.Error)(nil); errors.As(err, &ce) {
		return ce.Err
	}
	return err
}

// pgRows adapts a rowSink to the Postgres source's record batches: each
// batch's values as the Go values the core DuckDB's rows have.
type pgRows struct {
	sink  rowSink
	types []string
	buf   [][]any
}

func (p *pgRows) Begin(_ *arrow.Schema, cols []connectors.Column) error {
	names, types := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], types[i] = c.Name, c.DuckDBType
	}
	p.types = types
	return p.sink.columns(names, types)
}

func (p *pgRows) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	p.buf = p.buf[:0]
	for r := range int(rec.NumRows()) {
		row := make([]any, rec.NumCols())
		for c := range row {
			row[c] = sqlvalue.FromArrow(rec.Column(c), r, p.types[c])
		}
		p.buf = append(p.buf, row)
	}
	return p.sink.rows(p.buf)
}

// pgArrow adapts an arrowSink to the Postgres source's record batches.
type pgArrow struct{ sink arrowSink }

func (p pgArrow) Begin(schema *arrow.Schema, _ []connectors.Column) error {
	return p.sink.schema(schema)
}
func (p pgArrow) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	return p.sink.record(rec)
}

type discardRows struct{}

func (discardRows) columns([]string, []string) error { return nil }
func (discardRows) rows([][]any) error               { return nil }

// rowsToArrow builds a record batch from each batch of Go values.
type rowsToArrow struct {
	out  arrowSink
	cols []sqlvalue.Column
	rb   *array.RecordBuilder
}

func (r *rowsToArrow) columns(names, dbTypes []string) error {
	r.cols = make([]sqlvalue.Column, len(names))
	fields := make([]arrow.Field, len(names))
	for i := range names {
		r.cols[i] = sqlvalue.ColumnOf(names[i], dbTypes[i])
		fields[i] = arrow.Field{Name: names[i], Type: r.cols[i].Type, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	r.rb = array.NewRecordBuilder(memory.DefaultAllocator, schema)
	return r.out.schema(schema)
}

func (r *rowsToArrow) rows(rows [][]any) error {
	r.rb.Reserve(len(rows))
	for _, row := range rows {
		for i, v := range row {
			b := r.rb.Field(i)
			if v == nil {
				b.AppendNull()
				continue
			}
			if err := r.cols[i].Append(b, v); err != nil {
				return fmt.Errorf("column %s (%s): %w", r.cols[i].Name, r.cols[i].DBType, err)
			}
		}
	}
	rec := r.rb.NewRecordBatch()
	defer rec.Release()
	return r.out.record(rec)
}

func (r *rowsToArrow) release() {
	if r.rb != nil {
		r.rb.Release()
	}
}
