package materialize

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// scanFunction is the table function through which Arrow record batches
// streamed from an external connection reach DuckDB: cellsd_scan(id) reads
// the stream registered under id, one record batch per DuckDB chunk.
const scanFunction = "cellsd_scan"

// scanStream is one result on its way into DuckDB. The producer (the
// connection's reader) sends records; DuckDB pulls them through the table
// function until records is closed.
type scanStream struct {
	schema  *arrow.Schema
	records chan arrow.RecordBatch
	// err, set before records is closed, fails the scan.
	err error
	// stopped is closed when the consumer stops reading, early or not.
	stopped chan struct{}
}

// Materializer loads results into one DuckDB database through the
// cellsd_scan table function it registers there. It is safe for
// concurrent use.
type Materializer struct {
	db *sql.DB
	// streams holds the results on their way in through cellsd_scan, by id.
	streams sync.Map
}

// Register registers cellsd_scan on db and returns the Materializer that
// feeds it.
func Register(ctx context.Context, db *sql.DB) (*Materializer, error) {
	m := &Materializer{db: db}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	varchar, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return nil, err
	}
	err = duckdb.RegisterTableUDF(conn, scanFunction, duckdb.ChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.ChunkTableSource, error) {
			id, _ := args[0].(string)
			v, ok := m.streams.Load(id)
			if !ok {
				return nil, fmt.Errorf("%s: no stream %q", scanFunction, id)
			}
			return &scanSource{st: v.(*scanStream)}, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", scanFunction, err)
	}
	return m, nil
}

// scanSource is the DuckDB side of a scanStream.
type scanSource struct{ st *scanStream }

func (s *scanSource) ColumnInfos() []duckdb.ColumnInfo {
	infos := make([]duckdb.ColumnInfo, len(s.st.schema.Fields()))
	for i, f := range s.st.schema.Fields() {
		infos[i] = duckdb.ColumnInfo{Name: f.Name, T: typeInfoOf(f.Type)}
	}
	return infos
}

func (s *scanSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (s *scanSource) Init()                                {}

func (s *scanSource) FillChunk(chunk duckdb.DataChunk) error {
	rec, ok := <-s.st.records
	if !ok {
		if s.st.err != nil {
			return s.st.err
		}
		return chunk.SetSize(0)
	}
	defer rec.Release()
	n := int(rec.NumRows())
	for c := range int(rec.NumCols()) {
		if err := fillColumn(chunk, c, rec.Column(c), n); err != nil {
			return fmt.Errorf("column %s: %w", rec.ColumnName(c), err)
		}
	}
	return chunk.SetSize(n)
}

// typeInfoOf is the DuckDB type an Arrow column of the scan lands in.
func typeInfoOf(t arrow.DataType) duckdb.TypeInfo {
	var ti duckdb.TypeInfo
	switch t := t.(type) {
	case *arrow.Decimal128Type:
		ti, _ = duckdb.NewDecimalInfo(uint8(t.Precision), uint8(t.Scale))
		return ti
	case *arrow.ListType:
		ti, _ = duckdb.NewListInfo(listElemInfo(t.Elem()))
		return ti
	}
	types := map[arrow.Type]duckdb.Type{
		arrow.BOOL: duckdb.TYPE_BOOLEAN, arrow.INT8: duckdb.TYPE_TINYINT, arrow.INT16: duckdb.TYPE_SMALLINT,
		arrow.INT32: duckdb.TYPE_INTEGER, arrow.INT64: duckdb.TYPE_BIGINT,
		arrow.UINT8: duckdb.TYPE_UTINYINT, arrow.UINT16: duckdb.TYPE_USMALLINT, arrow.UINT32: duckdb.TYPE_UINTEGER,
		arrow.UINT64: duckdb.TYPE_UBIGINT, arrow.FLOAT32: duckdb.TYPE_FLOAT, arrow.FLOAT64: duckdb.TYPE_DOUBLE,
		// Dates and timestamps cross as their integer counts (days and µs
		// since 1970), which the load's SELECT turns back into dates and
		// timestamps: cheaper than a time.Time per value.
		arrow.DATE32: duckdb.TYPE_INTEGER, arrow.TIMESTAMP: duckdb.TYPE_BIGINT,
		arrow.STRING: duckdb.TYPE_VARCHAR, arrow.BINARY: duckdb.TYPE_BLOB,
		arrow.LARGE_STRING: duckdb.TYPE_VARCHAR, arrow.LARGE_BINARY: duckdb.TYPE_BLOB,
		arrow.TIME32: duckdb.TYPE_TIME, arrow.TIME64: duckdb.TYPE_TIME, arrow.INTERVAL_MONTH_DAY_NANO: duckdb.TYPE_INTERVAL,
		arrow.FIXED_SIZE_BINARY: duckdb.TYPE_UUID,
	}
	ti, _ = duckdb.NewTypeInfo(types[t.ID()])
	return ti
}

// listElemInfo is the DuckDB type of a list's elements: list elements
// cross as Go values, so dates and timestamps keep their types.
func listElemInfo(t arrow.DataType) duckdb.TypeInfo {
	var ti duckdb.TypeInfo
	switch t := t.(type) {
	case *arrow.Date32Type:
		ti, _ = duckdb.NewTypeInfo(duckdb.TYPE_DATE)
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			ti, _ = duckdb.NewTypeInfo(duckdb.TYPE_TIMESTAMP_TZ)
		} else {
			ti, _ = duckdb.NewTypeInfo(duckdb.TYPE_TIMESTAMP)
		}
	default:
		return typeInfoOf(t)
	}
	return ti
}

// listElemValue returns the Go value of element i of a list's values, for
// the element types listElemInfo maps; nil if the type is not one.
func listElemValue(vals arrow.Array) func(i int) any {
	switch a := vals.(type) {
	case *array.Boolean:
		return func(i int) any { return a.Value(i) }
	case *array.Int8:
		return func(i int) any { return a.Value(i) }
	case *array.Int16:
		return func(i int) any { return a.Value(i) }
	case *array.Int32:
		return func(i int) any { return a.Value(i) }
	case *array.Int64:
		return func(i int) any { return a.Value(i) }
	case *array.Uint8:
		return func(i int) any { return a.Value(i) }
	case *array.Uint16:
		return func(i int) any { return a.Value(i) }
	case *array.Uint32:
		return func(i int) any { return a.Value(i) }
	case *array.Uint64:
		return func(i int) any { return a.Value(i) }
	case *array.Float32:
		return func(i int) any { return a.Value(i) }
	case *array.Float64:
		return func(i int) any { return a.Value(i) }
	case *array.String:
		return func(i int) any { return a.Value(i) }
	case *array.LargeString:
		return func(i int) any { return a.Value(i) }
	case *array.Binary:
		return func(i int) any { return a.Value(i) }
	case *array.Date32:
		return func(i int) any { return a.Value(i).ToTime() }
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return func(i int) any { return a.Value(i).ToTime(unit) }
	case *array.FixedSizeBinary:
		if a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth == 16 {
			return func(i int) any { return duckdb.UUID(a.Value(i)) }
		}
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return func(i int) any { return a.Value(i).ToTime(unit).UTC() }
	case *array.MonthDayNanoInterval:
		return func(i int) any {
			v := a.Value(i)
			return duckdb.Interval{Months: v.Months, Days: v.Days, Micros: v.Nanoseconds / 1000}
		}
	}
	return nil
}

// fillColumn copies one Arrow column into a DuckDB chunk column through
// duckdb-go's typed setter: one type switch per column, no boxing per cell.
func fillColumn(chunk duckdb.DataChunk, c int, col arrow.Array, n int) error {
	switch a := col.(type) {
	case *array.Boolean:
		return fill(chunk, c, col, n, a.Value)
	case *array.Int8:
		return fill(chunk, c, col, n, a.Value)
	case *array.Uint8:
		return fill(chunk, c, col, n, a.Value)
	case *array.Uint16:
		return fill(chunk, c, col, n, a.Value)
	case *array.Uint32:
		return fill(chunk, c, col, n, a.Value)
	case *array.Uint64:
		return fill(chunk, c, col, n, a.Value)
	case *array.LargeString:
		return fill(chunk, c, col, n, a.Value)
	case *array.LargeBinary:
		return fill(chunk, c, col, n, a.Value)
	case *array.Int16:
		return fill(chunk, c, col, n, a.Value)
	case *array.Int32:
		return fill(chunk, c, col, n, a.Value)
	case *array.Int64:
		return fill(chunk, c, col, n, a.Value)
	case *array.Float32:
		return fill(chunk, c, col, n, a.Value)
	case *array.Float64:
		return fill(chunk, c, col, n, a.Value)
	case *array.String:
		return fill(chunk, c, col, n, a.Value)
	case *array.Binary:
		return fill(chunk, c, col, n, a.Value)
	case *array.Date32:
		return fill(chunk, c, col, n, func(r int) int32 { return int32(a.Value(r)) })
	case *array.Timestamp:
		switch unit := a.DataType().(*arrow.TimestampType).Unit; unit {
		case arrow.Microsecond:
			return fill(chunk, c, col, n, func(r int) int64 { return int64(a.Value(r)) })
		case arrow.Nanosecond:
			return fill(chunk, c, col, n, func(r int) int64 {
				v := int64(a.Value(r))
				us := v / 1000
				if v%1000 < 0 { // round down before 1970 too
					us--
				}
				return us
			})
		default: // seconds and milliseconds
			m := int64(unit.Multiplier() / time.Microsecond)
			return fill(chunk, c, col, n, func(r int) int64 { return int64(a.Value(r)) * m })
		}
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return fill(chunk, c, col, n, func(r int) time.Time { return a.Value(r).ToTime(unit).UTC() })
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return fill(chunk, c, col, n, func(r int) time.Time { return a.Value(r).ToTime(unit).UTC() })
	case *array.MonthDayNanoInterval:
		return fill(chunk, c, col, n, func(r int) duckdb.Interval {
			v := a.Value(r)
			return duckdb.Interval{Months: v.Months, Days: v.Days, Micros: v.Nanoseconds / 1000}
		})
	case *array.FixedSizeBinary:
		return fill(chunk, c, col, n, func(r int) duckdb.UUID { return duckdb.UUID(a.Value(r)) })
	case *array.List:
		vals := a.ListValues()
		elem := listElemValue(vals)
		if elem == nil {
			break
		}
		return fill(chunk, c, col, n, func(r int) []any {
			start, end := a.ValueOffsets(r)
			out := make([]any, end-start)
			for i := range out {
				if j := int(start) + i; !vals.IsNull(j) {
					out[i] = elem(j)
				}
			}
			return out
		})
	case *array.Decimal128:
		if a.DataType().(*arrow.Decimal128Type).Precision <= 18 {
			// DuckDB keeps DECIMAL(p<=18) as the unscaled int64.
			return fill(chunk, c, col, n, func(r int) int64 { return int64(a.Value(r).LowBits()) })
		}
		return fill(chunk, c, col, n, func(r int) *big.Int { return a.Value(r).BigInt() })
	}
	return fmt.Errorf("unsupported Arrow type %s", col.DataType())
}

func fill[T any](chunk duckdb.DataChunk, c int, col arrow.Array, n int, value func(int) T) error {
	for r := range n {
		var err error
		if col.IsNull(r) {
			err = duckdb.SetChunkValue[any](chunk, c, r, nil)
		} else {
			err = duckdb.SetChunkValue(chunk, c, r, value(r))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// recordBytes is the size of a batch's buffers: what it took on the wire,
// give or take the IPC framing.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		n += dataBytes(col.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
