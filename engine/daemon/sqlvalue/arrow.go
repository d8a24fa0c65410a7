package sqlvalue

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// FromArrow is value r of an Arrow column as a Go value, of the type
// database/sql scans from DuckDB for a column of dbType, so that JSON
// renders it as it renders DuckDB's.
func FromArrow(a arrow.Array, r int, dbType string) any {
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
			out[i] = FromArrow(a.ListValues(), int(start)+i, elem)
		}
		return out
	}
	return a.ValueStr(r)
}
