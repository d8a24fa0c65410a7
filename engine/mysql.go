package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
)

// renderCell renders a cell's {{var}} placeholders. A MySQL cell is
// rendered by its connection just before each statement runs, in the
// lexing of the session's sql_mode; here its placeholders are only checked
// (unknown variables, values that cannot be rendered), and its SQL is kept
// as written.
func renderCell(cp *CellPlan, values map[string]any) (string, error) {
	if cp.Connection.Engine == connectors.EngineMySQL {
		if _, err := cells.RenderMySQL(cp.Cell.SQL, values, cells.MySQLMode{}); err != nil {
			return "", err
		}
		if _, err := cells.RenderMySQL(cp.Cell.SQL, values, cells.MySQLMode{NoBackslashEscapes: true}); err != nil {
			return "", err
		}
		return cp.Cell.SQL, nil
	}
	return cells.Render(cp.Cell.SQL, values)
}

// runMySQL runs a MySQL or MariaDB cell remotely and materializes its
// result as a Postgres cell's is: Arrow batches stream through
// cellsd_scan into a staging table while the server still sends, then one
// transaction replaces the result with it.
func (e *Engine) runMySQL(ctx context.Context, spec execSpec, guard func(context.Context, func() error) error) (rows *int64, err error) {
	src, err := e.mysqls.Get(spec.conn)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", spec.conn.ID, err)
	}
	if !spec.hasResult {
		if err := src.Query(ctx, spec.sql, spec.values, nil); err != nil {
			return nil, mysqlError(spec, err)
		}
		return nil, nil
	}
	st, err := e.openStaging(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() { st.release(ctx, err != nil) }()
	sink := &mysqlSink{scan: &scanSink{e: e, ctx: ctx, conn: st.conn, stagingRel: st.rel, received: spec.received}}
	qerr := src.Query(ctx, spec.sql, spec.values, sink)
	if qerr == nil && sink.scan.st == nil {
		qerr = errors.New("the last statement returned no result set")
	}
	if err := sink.scan.finish(qerr); err != nil {
		if qerr != nil {
			return nil, mysqlError(spec, err)
		}
		return nil, fmt.Errorf("load result: %w", err)
	}
	loaded := sink.scan.rows
	if err := e.swapIn(ctx, st.conn, spec, st.rel, guard); err != nil {
		return nil, err
	}
	return &loaded, nil
}

// mysqlError names the connection and, for an error the server reports at
// a position, the line and column in the cell's SQL. The *mysql.MySQLError
// stays reachable.
func mysqlError(spec execSpec, err error) error {
	var me *mysql.Error
	if errors.As(err, &me) && me.Offset >= 0 {
		line, col := cells.LineColumn(spec.sql, me.Offset)
		return fmt.Errorf("connection %s: %w (at line %d, column %d)", spec.conn.ID, err, line, col)
	}
	return fmt.Errorf("connection %s: %w", spec.conn.ID, err)
}

// mysqlSink starts the load of a MySQL result into DuckDB once its columns
// are known; dates and timestamps cross as integers and become dates and
// timestamps in the load's SELECT.
type mysqlSink struct{ scan *scanSink }

func (s *mysqlSink) Columns(cols []mysql.Column) error {
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = loadColumn(c.Name, c.DuckDBType)
	}
	s.scan.start(mysql.Schema(cols), sel)
	return nil
}

func (s *mysqlSink) Record(rec arrow.RecordBatch) error { return s.scan.Record(rec) }
