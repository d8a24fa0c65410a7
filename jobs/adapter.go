package jobs

// Until connectors/postgres and connectors/mysql implement
// connectors.Source themselves (issue 14, r2), the worker runs them
// through these adapters over their current APIs. They go when that
// lands: OpenSource then opens the connectors' own Sources.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/connectors/postgres"
)

// OpenSource opens the Source of a Postgres or MySQL connection.
func OpenSource(c connectors.Connection) (connectors.Source, error) {
	switch c.Engine {
	case connectors.EnginePostgres:
		s, err := postgres.Connect(c)
		if err != nil {
			return nil, err
		}
		return &pgSource{s: s}, nil
	case connectors.EngineMySQL:
		s, err := mysql.Connect(c)
		if err != nil {
			return nil, err
		}
		return &mysqlSource{s: s}, nil
	}
	return nil, fmt.Errorf("connection %s: engine %q does not run on a worker", c.ID, c.Engine)
}

type pgSource struct{ s *postgres.Source }

func (p *pgSource) Close() error { p.s.Close(); return nil }

func (p *pgSource) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	if len(q.Args) > 0 {
		return errors.New("query arguments need connectors/postgres's own connectors.Source")
	}
	if !q.HasResult {
		return p.s.Query(ctx, q.SQL, pgDiscard{})
	}
	sink := &pgSink{w: w}
	return p.s.QueryArrow(ctx, q.SQL, sink, sink)
}

type pgDiscard struct{}

func (pgDiscard) Columns([]postgres.Column) error { return nil }
func (pgDiscard) Rows([][]any) error              { return nil }

// pgSink passes columnar results through and builds Arrow batches from
// the row path's values (results with a column the columnar path does not
// decode).
type pgSink struct {
	w      connectors.ResultWriter
	schema *arrow.Schema
	rb     *array.RecordBuilder
}

func (s *pgSink) Columns(cols []postgres.Column) error {
	out := make([]connectors.Column, len(cols))
	for i, c := range cols {
		out[i] = connectors.Column{Name: c.Name, DuckDBType: c.DuckDBType}
	}
	if postgres.Columnar(cols) {
		s.schema = postgres.Schema(cols)
		return s.w.Begin(s.schema, out)
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		t, err := rowArrowType(c.DuckDBType)
		if err != nil {
			return fmt.Errorf("column %s (%s): %w", c.Name, c.PGType, err)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	s.schema = arrow.NewSchema(fields, nil)
	s.rb = array.NewRecordBuilder(memory.DefaultAllocator, s.schema)
	return s.w.Begin(s.schema, out)
}

func (s *pgSink) Record(rec arrow.RecordBatch) error {
	rec.Retain() // the source releases it when Record returns; the writer releases ours
	return s.w.Write(rec)
}

func (s *pgSink) Rows(rows [][]any) error {
	for _, r := range rows {
		for i, v := range r {
			if err := appendValue(s.rb.Field(i), v); err != nil {
				return fmt.Errorf("column %s: %w", s.schema.Field(i).Name, err)
			}
		}
	}
	return s.w.Write(s.rb.NewRecordBatch())
}

// rowArrowType is the Arrow type a row-path column travels as: the
// columnar path's type for the same DuckDB type, so the engine loads
// both alike.
func rowArrowType(duck string) (arrow.DataType, error) {
	switch duck {
	case "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean, nil
	case "SMALLINT":
		return arrow.PrimitiveTypes.Int16, nil
	case "INTEGER":
		return arrow.PrimitiveTypes.Int32, nil
	case "BIGINT":
		return arrow.PrimitiveTypes.Int64, nil
	case "FLOAT":
		return arrow.PrimitiveTypes.Float32, nil
	case "DOUBLE":
		return arrow.PrimitiveTypes.Float64, nil
	case "VARCHAR", "JSON", "TIMETZ":
		return arrow.BinaryTypes.String, nil
	case "BLOB":
		return arrow.BinaryTypes.Binary, nil
	case "DATE":
		return arrow.FixedWidthTypes.Date32, nil
	case "TIMESTAMP":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	case "TIMESTAMPTZ":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case "TIME":
		return arrow.FixedWidthTypes.Time64us, nil
	case "INTERVAL":
		return arrow.FixedWidthTypes.MonthDayNanoInterval, nil
	case "UUID":
		return &arrow.FixedSizeBinaryType{ByteWidth: 16}, nil
	}
	var p, sc int32
	if _, err := fmt.Sscanf(duck, "DECIMAL(%d,%d)", &p, &sc); err == nil {
		return &arrow.Decimal128Type{Precision: p, Scale: sc}, nil
	}
	return nil, fmt.Errorf("%s columns (arrays) run on a worker once connectors/postgres implements connectors.Source", duck)
}

func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Int16Builder:
		b.Append(v.(int16))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Float32Builder:
		b.Append(v.(float32))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.StringBuilder:
		switch v := v.(type) {
		case string:
			b.Append(v)
		default:
			b.Append(fmt.Sprint(v))
		}
	case *array.BinaryBuilder:
		b.Append(v.([]byte))
	case *array.Date32Builder:
		b.Append(arrow.Date32FromTime(v.(time.Time)))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
	case *array.Time64Builder:
		t := v.(time.Time)
		b.Append(arrow.Time64(t.Sub(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds()))
	case *array.MonthDayNanoIntervalBuilder:
		i := v.(duckdb.Interval)
		b.Append(arrow.MonthDayNanoInterval{Months: i.Months, Days: i.Days, Nanoseconds: i.Micros * 1000})
	case *array.FixedSizeBinaryBuilder:
		u := v.(duckdb.UUID)
		b.Append(u[:])
	case *array.Decimal128Builder:
		b.Append(decimal128.FromBigInt(v.(duckdb.Decimal).Value))
	default:
		return fmt.Errorf("no Arrow conversion of %T", v)
	}
	return nil
}

type mysqlSource struct{ s *mysql.Source }

func (m *mysqlSource) Close() error { m.s.Close(); return nil }

func (m *mysqlSource) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	if len(q.Args) > 0 {
		return errors.New("query arguments need connectors/mysql's own connectors.Source")
	}
	if !q.HasResult {
		return m.s.Query(ctx, q.SQL, q.Values, nil)
	}
	sink := &mysqlSink{w: w}
	if err := m.s.Query(ctx, q.SQL, q.Values, sink); err != nil {
		return err
	}
	if !sink.begun {
		return errors.New("the last statement returned no result set")
	}
	return nil
}

type mysqlSink struct {
	w     connectors.ResultWriter
	begun bool
}

func (s *mysqlSink) Columns(cols []mysql.Column) error {
	out := make([]connectors.Column, len(cols))
	for i, c := range cols {
		out[i] = connectors.Column{Name: c.Name, DuckDBType: c.DuckDBType}
	}
	s.begun = true
	return s.w.Begin(mysql.Schema(cols), out)
}

func (s *mysqlSink) Record(rec arrow.RecordBatch) error {
	rec.Retain()
	return s.w.Write(rec)
}
