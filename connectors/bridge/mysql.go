package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
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
			row[c] = goValue(rec.Column(c), r, m.cols[c].DuckDBType)
		}
		m.buf = append(m.buf, row)
	}
	return m.sink.rows(m.buf)
}

// goValue is value r of an Arrow column as a Go value.
func goValue(a arrow.Array, r int, dbType string) any {
	if a.IsNull(r) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int8:
		return a.Value(r)
	case *array.Int16:
		return a.Value(r)
	case *array.Int32:
		return a.Value(r)
	case *array.Int64:
		return a.Value(r)
	case *array.Uint8:
		return a.Value(r)
	case *array.Uint16:
		return a.Value(r)
	case *array.Uint32:
		return a.Value(r)
	case *array.Uint64:
		return a.Value(r)
	case *array.Float32:
		return a.Value(r)
	case *array.Float64:
		return a.Value(r)
	case *array.Decimal128:
		t := a.DataType().(*arrow.Decimal128Type)
		return duckdb.Decimal{Width: uint8(t.Precision), Scale: uint8(t.Scale), Value: a.Value(r).BigInt()}
	case *array.String:
		if dbType == "JSON" {
			return json.RawMessage(a.Value(r))
		}
		return a.Value(r)
	case *array.Binary:
		return a.Value(r)
	case *array.Date32:
		return a.Value(r).ToTime()
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(r))).UTC()
	case *array.MonthDayNanoInterval:
		v := a.Value(r)
		return duckdb.Interval{Months: v.Months, Days: v.Days, Micros: v.Nanoseconds / 1000}
	case *array.Boolean:
		return a.Value(r)
	case *array.Time64:
		return time.UnixMicro(int64(a.Value(r))).UTC()
	case *array.FixedSizeBinary:
		if v := a.Value(r); len(v) == 16 {
			return [16]byte(v)
		}
	case *array.List:
		elem, _ := strings.CutSuffix(dbType, "[]")
		start, end := a.ValueOffsets(r)
		out := make([]any, end-start)
		for i := range out {
			out[i] = goValue(a.ListValues(), int(start)+i, elem)
		}
		return out
	}
	return a.ValueStr(r)
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

func (s *Server) mysqlCatalog(ctx context.Context, t target) (CatalogResponse, error) {
	out := CatalogResponse{Databases: []CatalogDatabase{}, Schemas: []CatalogSchema{}, Tables: []CatalogTable{}}
	err := s.collect(ctx, t, myDatabases, func(row []any) error {
		out.Databases = append(out.Databases, CatalogDatabase{Database: str(row[0])})
		return nil
	})
	if err == nil {
		err = s.collect(ctx, t, mySchemas, func(row []any) error {
			out.Schemas = append(out.Schemas, CatalogSchema{Database: str(row[0]), Schema: str(row[1])})
			return nil
		})
	}
	if err == nil {
		err = s.collect(ctx, t, myTables, func(row []any) error {
			out.Tables = append(out.Tables, CatalogTable{Database: str(row[0]), Schema: str(row[1]), Table: str(row[2]), IsView: fmt.Sprint(row[3]) == "1"})
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
