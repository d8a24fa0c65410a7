package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors/postgres"
)

var stagingSeq atomic.Int64

// staging is the table an external result is loaded into before it
// replaces the cell's result, and the DuckDB connection loading it.
type staging struct {
	conn      *sql.Conn
	name, rel string // the table's name, and its qualified relation
}

// openStaging takes a connection and names a staging table for spec's
// result in its artifact schema.
func (e *Engine) openStaging(ctx context.Context, spec execSpec) (*staging, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	name := "__cellsd_staging_" + spec.name + "_" + strconv.FormatInt(stagingSeq.Add(1), 10)
	return &staging{conn: conn, name: name, rel: quoteIdent(e.ResultDB()) + "." + quoteIdent(spec.schema) + "." + quoteIdent(name)}, nil
}

// release ends a load: after a failure it drops the staging table and
// discards the connection, which may hold an aborted transaction or a
// pending interrupt; then it returns the connection.
func (st *staging) release(ctx context.Context, failed bool) {
	if failed {
		st.conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+st.rel)
		st.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	st.conn.Close()
}

// runPostgres runs a Postgres cell remotely and materializes its result:
// rows stream into a staging table through DuckDB's appender, then one
// transaction replaces the result with it, so readers see the previous
// result until then and keep it if anything fails.
func (e *Engine) runPostgres(ctx context.Context, spec execSpec, guard func(context.Context, func() error) error) (rows *int64, err error) {
	src, err := e.sources.Get(spec.conn)
	if err != nil {
		return nil, err
	}
	if !spec.hasResult {
		// Nothing to materialize (a Postgres cell ending in SET and the
		// like): run it and drop what it returns.
		if err := src.Query(ctx, spec.sql, discard{}); err != nil {
			return nil, postgresError(spec, err)
		}
		return nil, nil
	}
	st, err := e.openStaging(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() { st.release(ctx, err != nil) }()
	// Columnar results stream as Arrow record batches through cellsd_scan
	// while Postgres still sends; the others go row by row through the
	// appender.
	scan := &scanSink{e: e, ctx: ctx, conn: st.conn, stagingRel: st.rel, received: spec.received}
	rowsSink := &appendSink{conn: st.conn, e: e, schema: spec.schema, table: st.name, rel: st.rel, ctx: ctx}
	defer rowsSink.close() // before release drops its table
	qerr := src.QueryArrow(ctx, spec.sql, scan, rowsSink)
	if err := scan.finish(qerr); err != nil {
		if qerr != nil {
			return nil, postgresError(spec, err)
		}
		return nil, fmt.Errorf("load result: %w", err)
	}
	if err := rowsSink.close(); err != nil {
		return nil, fmt.Errorf("load result: %w", err)
	}
	loaded := scan.rows + rowsSink.rows
	if err := e.swapIn(ctx, st.conn, spec, st.rel, guard); err != nil {
		return nil, err
	}
	return &loaded, nil
}

// postgresError names the connection and, for an error Postgres reports
// at a position, the line and column in the cell's SQL. The *PgError stays
// reachable.
func postgresError(spec execSpec, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		line, col := cells.LineColumn(spec.sql, cells.ByteOffset(spec.sql, int(pe.Position)-1))
		return fmt.Errorf("connection %s: %w (at line %d, column %d)%s", spec.conn.ID, err, line, col, postgresDetail(pe))
	}
	if pe != nil {
		return fmt.Errorf("connection %s: %w%s", spec.conn.ID, err, postgresDetail(pe))
	}
	return fmt.Errorf("connection %s: %w", spec.conn.ID, err)
}

// appendSink creates the staging table from the result's columns and
// appends each batch of rows to it.
type appendSink struct {
	ctx        context.Context
	e          *Engine
	conn       interface{ Raw(func(any) error) error }
	schema     string
	table, rel string
	appender   *duckdb.Appender
	rows       int64
	timetz     []string // columns loaded as text, to become TIMETZ
}

func (s *appendSink) Columns(cols []postgres.Column) error {
	defs := make([]string, len(cols))
	for i, c := range cols {
		t := c.DuckDBType
		if t == "TIMETZ" { // arrives as Postgres's text; cast once loaded
			t = "VARCHAR"
			s.timetz = append(s.timetz, c.Name)
		}
		defs[i] = quoteIdent(c.Name) + " " + t
	}
	return s.conn.Raw(func(dc any) error {
		conn := dc.(driver.ExecerContext)
		if _, err := conn.ExecContext(s.ctx, "CREATE TABLE "+s.rel+" ("+strings.Join(defs, ", ")+")", nil); err != nil {
			return fmt.Errorf("create staging table: %w", err)
		}
		a, err := duckdb.NewAppender(dc.(driver.Conn), s.e.ResultDB(), s.schema, s.table)
		if err != nil {
			return err
		}
		s.appender = a
		return nil
	})
}

func (s *appendSink) Rows(rows [][]any) error {
	for _, r := range rows {
		vals := make([]driver.Value, len(r))
		for i, v := range r {
			vals[i] = v
		}
		if err := s.appender.AppendRow(vals...); err != nil {
			return err
		}
	}
	s.rows += int64(len(rows))
	return nil
}

// close flushes and closes the appender and gives text-loaded columns
// their type; it is safe to call twice.
func (s *appendSink) close() error {
	if s.appender == nil {
		return nil
	}
	a := s.appender
	s.appender = nil
	if err := a.Close(); err != nil {
		return err
	}
	return s.conn.Raw(func(dc any) error {
		for _, c := range s.timetz {
			if _, err := dc.(driver.ExecerContext).ExecContext(s.ctx, "ALTER TABLE "+s.rel+" ALTER "+quoteIdent(c)+" SET DATA TYPE TIMETZ", nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// discard is a sink that keeps nothing.
type discard struct{}

func (discard) Columns([]postgres.Column) error { return nil }
func (discard) Rows([][]any) error              { return nil }
