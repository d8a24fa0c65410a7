package bridgeserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/apache/arrow-go/v18/arrow"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/engine/daemon/sqlvalue"
)

// MySQL and MariaDB connections are served like Postgres ones: queries run
// through mysql.Source (READ ONLY transactions and statements that only
// read, unless the connection says otherwise; KILL QUERY on cancel), and
// results travel as the Arrow batches the source builds.

// mysqlSource returns the connection's MySQL source, opening it once.
func (s *Server) mysqlSource(c connectors.Connection) (*mysql.Source, error) {
	src, err := s.mysqls.Get(c)
	if errors.Is(err, connectors.ErrClientsClosed) {
		return nil, &httpError{status: http.StatusServiceUnavailable, err: ErrServerClosed}
	}
	return src, err
}

// mysqlStatus is the HTTP status of a MySQL error, or 0 when it is none:
// 422 for errors of the SQL (the server's, and statements a read_only
// connection refuses), 502 when the server cannot be reached.
func mysqlStatus(err error) int {
	var me *mysqldriver.MySQLError
	switch {
	case errors.Is(err, mysql.ErrNotReadOnly), errors.As(err, &me) && me.Number != 1045 && me.Number != 1044:
		return http.StatusUnprocessableEntity
	case errors.As(err, &me), errors.Is(err, mysqldriver.ErrInvalidConn):
		return http.StatusBadGateway
	}
	return 0
}

// mysqlArrow adapts an arrowSink to the MySQL source.
type mysqlArrow struct{ sink arrowSink }

func (m mysqlArrow) Columns(cols []mysql.Column) error  { return m.sink.schema(mysql.Schema(cols)) }
func (m mysqlArrow) Record(rec arrow.RecordBatch) error { return m.sink.record(rec) }

// mysqlRows adapts a rowSink to the MySQL source: each batch's values as
// the Go values the core DuckDB's rows have.
type mysqlRows struct {
	sink rowSink
	cols []mysql.Column
	buf  [][]any
}

func (m *mysqlRows) Columns(cols []mysql.Column) error {
	m.cols = cols
	names, types := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i], types[i] = c.Name, c.DuckDBType
	}
	return m.sink.columns(names, types)
}

func (m *mysqlRows) Record(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	m.buf = m.buf[:0]
	for r := range n {
		row := make([]any, rec.NumCols())
		for c := range row {
			row[c] = sqlvalue.FromArrow(rec.Column(c), r, m.cols[c].DuckDBType)
		}
		m.buf = append(m.buf, row)
	}
	return m.sink.rows(m.buf)
}

// MySQL's catalog: a MySQL database is a schema of the catalog "def" (as
// information_schema calls it), so db.table reads as schema.table.
const (
	myUserSchema = `schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`
	myDatabases  = `SELECT 'def'`
	mySchemas    = `SELECT 'def', schema_name FROM information_schema.schemata WHERE ` + myUserSchema + ` ORDER BY 2`
	myTables     = `SELECT 'def', table_schema, table_name, table_type = 'VIEW' FROM information_schema.tables
		WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 2, 3`
)

func (s *Server) mysqlCatalog(ctx context.Context, t target) (bridge.CatalogResponse, error) {
	out := bridge.CatalogResponse{Databases: []bridge.CatalogDatabase{}, Schemas: []bridge.CatalogSchema{}, Tables: []bridge.CatalogTable{}}
	err := s.collect(ctx, t, myDatabases, func(row []any) error {
		out.Databases = append(out.Databases, bridge.CatalogDatabase{Database: str(row[0])})
		return nil
	})
	if err == nil {
		err = s.collect(ctx, t, mySchemas, func(row []any) error {
			out.Schemas = append(out.Schemas, bridge.CatalogSchema{Database: str(row[0]), Schema: str(row[1])})
			return nil
		})
	}
	if err == nil {
		err = s.collect(ctx, t, myTables, func(row []any) error {
			out.Tables = append(out.Tables, bridge.CatalogTable{Database: str(row[0]), Schema: str(row[1]), Table: str(row[2]), IsView: fmt.Sprint(row[3]) == "1"})
			return nil
		})
	}
	return out, err
}

// pingMySQL connects once with c and pings.
func pingMySQL(ctx context.Context, c connectors.Connection) error {
	src, err := mysql.Connect(c)
	if err != nil {
		return err
	}
	defer src.Close()
	return src.Ping(ctx)
}
