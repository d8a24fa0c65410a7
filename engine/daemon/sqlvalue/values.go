package sqlvalue

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/duckdb/duckdb-go/v2"
)

// Rows that arrive as Go values (the core DuckDB through database/sql, and
// Postgres results the columnar path cannot take) are described by their
// DuckDB type names, which both sources give: "INTEGER", "DECIMAL(12,2)",
// "TIMESTAMPTZ", "VARCHAR[]". The names are type names, not SQL: they are
// taken apart with plain string functions.

// Column turns one column's Go values into Arrow.
type Column struct {
	Name   string
	DBType string
	// Type is the Arrow type of the column's values.
	Type   arrow.DataType
	append func(b array.Builder, v any) error
}

// ColumnOf returns the Arrow mapping of a DuckDB type. Types without
// one (STRUCT, MAP, UNION, fixed-size ARRAY, HUGEINT, ...) travel as text:
// their JSON rendering.
func ColumnOf(name, dbType string) Column {
	c := Column{Name: name, DBType: dbType}
	c.Type, c.append = arrowOfValue(dbType)
	return c
}

// Append appends v, which is not nil, to b, a builder of c.Type.
func (c Column) Append(b array.Builder, v any) error { return c.append(b, v) }

func arrowOfValue(dbType string) (arrow.DataType, func(array.Builder, any) error) {
	if elem, ok := strings.CutSuffix(dbType, "[]"); ok {
		et, eappend := arrowOfValue(elem)
		return arrow.ListOf(et), func(b array.Builder, v any) error {
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%s value of Go type %T", dbType, v)
			}
			lb := b.(*array.ListBuilder)
			lb.Append(true)
			vb := lb.ValueBuilder()
			for _, e := range list {
				if e == nil {
					vb.AppendNull()
					continue
				}
				if err := eappend(vb, e); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if p, s, ok := decimalParams(dbType); ok && p <= 38 {
		return &arrow.Decimal128Type{Precision: p, Scale: s}, func(b array.Builder, v any) error {
			d, ok := v.(duckdb.Decimal)
			if !ok || d.Value == nil {
				return fmt.Errorf("%s value of Go type %T", dbType, v)
			}
			b.(*array.Decimal128Builder).Append(decimal128.FromBigInt(d.Value))
			return nil
		}
	}
	switch dbType {
	case "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean, func(b array.Builder, v any) error {
			x, ok := v.(bool)
			if !ok {
				return fmt.Errorf("BOOLEAN value of Go type %T", v)
			}
			b.(*array.BooleanBuilder).Append(x)
			return nil
		}
	case "TINYINT":
		return arrow.PrimitiveTypes.Int8, integers[int8, *array.Int8Builder]()
	case "SMALLINT":
		return arrow.PrimitiveTypes.Int16, integers[int16, *array.Int16Builder]()
	case "INTEGER":
		return arrow.PrimitiveTypes.Int32, integers[int32, *array.Int32Builder]()
	case "BIGINT":
		return arrow.PrimitiveTypes.Int64, integers[int64, *array.Int64Builder]()
	case "UTINYINT":
		return arrow.PrimitiveTypes.Uint8, integers[uint8, *array.Uint8Builder]()
	case "USMALLINT":
		return arrow.PrimitiveTypes.Uint16, integers[uint16, *array.Uint16Builder]()
	case "UINTEGER":
		return arrow.PrimitiveTypes.Uint32, integers[uint32, *array.Uint32Builder]()
	case "UBIGINT":
		return arrow.PrimitiveTypes.Uint64, integers[uint64, *array.Uint64Builder]()
	case "FLOAT":
		return arrow.PrimitiveTypes.Float32, func(b array.Builder, v any) error {
			x, ok := v.(float32)
			if !ok {
				return fmt.Errorf("FLOAT value of Go type %T", v)
			}
			b.(*array.Float32Builder).Append(x)
			return nil
		}
	case "DOUBLE":
		return arrow.PrimitiveTypes.Float64, func(b array.Builder, v any) error {
			switch x := v.(type) {
			case float64:
				b.(*array.Float64Builder).Append(x)
			case float32:
				b.(*array.Float64Builder).Append(float64(x))
			default:
				return fmt.Errorf("DOUBLE value of Go type %T", v)
			}
			return nil
		}
	case "VARCHAR", "ENUM", "BIT", "JSON", "TIMETZ":
		return arrow.BinaryTypes.String, func(b array.Builder, v any) error {
			s, err := textOf(dbType, v)
			if err != nil {
				return err
			}
			b.(*array.StringBuilder).Append(s)
			return nil
		}
	case "BLOB", "GEOMETRY":
		return arrow.BinaryTypes.Binary, func(b array.Builder, v any) error {
			x, ok := v.([]byte)
			if !ok {
				return fmt.Errorf("%s value of Go type %T", dbType, v)
			}
			b.(*array.BinaryBuilder).Append(x)
			return nil
		}
	case "UUID":
		return &arrow.FixedSizeBinaryType{ByteWidth: 16}, func(b array.Builder, v any) error {
			u, err := uuidBytes(v)
			if err != nil {
				return err
			}
			b.(*array.FixedSizeBinaryBuilder).Append(u)
			return nil
		}
	case "DATE":
		return arrow.FixedWidthTypes.Date32, timeAppender(dbType, func(b array.Builder, t time.Time) {
			y, m, d := t.Date()
			b.(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)))
		})
	case "TIME":
		return arrow.FixedWidthTypes.Time64us, timeAppender(dbType, func(b array.Builder, t time.Time) {
			b.(*array.Time64Builder).Append(arrow.Time64(microsOfDay(t)))
		})
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, timeAppender(dbType, func(b array.Builder, t time.Time) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
		})
	case "TIMESTAMP_NS":
		return &arrow.TimestampType{Unit: arrow.Nanosecond}, timeAppender(dbType, func(b array.Builder, t time.Time) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixNano()))
		})
	case "TIMESTAMPTZ":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, timeAppender(dbType, func(b array.Builder, t time.Time) {
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
		})
	case "INTERVAL":
		return arrow.FixedWidthTypes.MonthDayNanoInterval, func(b array.Builder, v any) error {
			i, ok := v.(duckdb.Interval)
			if !ok {
				return fmt.Errorf("INTERVAL value of Go type %T", v)
			}
			b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{Months: i.Months, Days: i.Days, Nanoseconds: i.Micros * 1000})
			return nil
		}
	}
	return arrow.BinaryTypes.String, func(b array.Builder, v any) error {
		s, err := textOf(dbType, v)
		if err != nil {
			return err
		}
		b.(*array.StringBuilder).Append(s)
		return nil
	}
}

// integers appends the Go integers the driver gives for a DuckDB integer
// type as T: a signed T takes signed values, an unsigned T unsigned ones.
func integers[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64, B interface{ Append(T) }]() func(array.Builder, any) error {
	unsigned := ^T(0) > 0
	return func(b array.Builder, v any) error {
		x, ok := integerOf[T](v, unsigned)
		switch {
		case !ok && unsigned:
			return fmt.Errorf("unsigned value of Go type %T", v)
		case !ok:
			return fmt.Errorf("integer value of Go type %T", v)
		}
		b.(B).Append(x)
		return nil
	}
}

// integerOf converts v, a Go integer of the signedness asked for, to T.
func integerOf[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](v any, unsigned bool) (T, bool) {
	switch v := v.(type) {
	case int8:
		return T(v), !unsigned
	case int16:
		return T(v), !unsigned
	case int32:
		return T(v), !unsigned
	case int64:
		return T(v), !unsigned
	case int:
		return T(v), !unsigned
	case uint8:
		return T(v), unsigned
	case uint16:
		return T(v), unsigned
	case uint32:
		return T(v), unsigned
	case uint64:
		return T(v), unsigned
	}
	return 0, false
}

func timeAppender(dbType string, put func(array.Builder, time.Time)) func(array.Builder, any) error {
	return func(b array.Builder, v any) error {
		t, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("%s value of Go type %T", dbType, v)
		}
		put(b, t)
		return nil
	}
}

// microsOfDay is a time of day in microseconds, whatever date t carries.
func microsOfDay(t time.Time) int64 {
	h, m, s := t.Clock()
	return (int64(h)*3600+int64(m)*60+int64(s))*1_000_000 + int64(t.Nanosecond()/1000)
}

// decimalParams parses "DECIMAL(p,s)".
func decimalParams(dbType string) (p, s int32, ok bool) {
	args, ok := strings.CutPrefix(dbType, "DECIMAL(")
	if !ok {
		return 0, 0, false
	}
	args, ok = strings.CutSuffix(args, ")")
	if !ok {
		return 0, 0, false
	}
	ps, ss, ok := strings.Cut(args, ",")
	if !ok {
		return 0, 0, false
	}
	pi, err1 := strconv.Atoi(strings.TrimSpace(ps))
	si, err2 := strconv.Atoi(strings.TrimSpace(ss))
	if err1 != nil || err2 != nil || pi < 1 || si < 0 || si > pi {
		return 0, 0, false
	}
	return int32(pi), int32(si), true
}

func uuidBytes(v any) ([]byte, error) {
	switch u := v.(type) {
	case duckdb.UUID:
		return u[:], nil
	case [16]byte:
		return u[:], nil
	case []byte:
		if len(u) == 16 {
			return u, nil
		}
	}
	return nil, fmt.Errorf("UUID value of Go type %T", v)
}

func uuidString(u []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}

// textOf is the text a value travels as in a text column: strings as they
// are, JSON as written, anything else as its JSON rendering.
func textOf(dbType string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.RawMessage:
		return string(x), nil
	case []byte:
		return string(x), nil
	}
	j := JSON(dbType, v)
	if s, ok := j.(string); ok {
		return s, nil // times, UUIDs
	}
	b, err := json.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("%s value: %w", dbType, err)
	}
	return string(b), nil
}

// JSON returns v as execute-query's jsonData carries it: numbers as
// numbers (DECIMAL and HUGEINT exactly, as JSON number text; NaN and the
// infinities as the strings "NaN", "Infinity", "-Infinity"), dates and
// times as ISO 8601 text, UUIDs in their usual form, INTERVAL as {months,
// days, micros}, BLOB as base64, JSON values as written, lists and structs
// as arrays and objects.
func JSON(dbType string, v any) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return v
	case float32:
		return floatJSON(float64(x))
	case float64:
		return floatJSON(x)
	case *big.Int:
		if x == nil {
			return nil
		}
		return json.Number(x.String())
	case duckdb.Decimal:
		if x.Value == nil {
			return nil
		}
		return json.Number(decimalText(x.Value, int(x.Scale)))
	case time.Time:
		return timeText(dbType, x)
	case duckdb.Interval:
		return map[string]int64{"months": int64(x.Months), "days": int64(x.Days), "micros": x.Micros}
	case duckdb.UUID:
		return uuidString(x[:])
	case [16]byte:
		return uuidString(x[:])
	case []byte:
		if dbType == "UUID" && len(x) == 16 {
			return uuidString(x)
		}
		return x // base64
	case json.RawMessage:
		return x
	case []any:
		elem, _ := strings.CutSuffix(dbType, "[]")
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = JSON(elem, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = JSON("", e)
		}
		return out
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		out := make(map[string]any, len(keys))
		for i, k := range keys {
			out[fmt.Sprint(JSON("", k))] = JSON("", vals[i])
		}
		return out
	case duckdb.Union:
		return JSON("", x.Value)
	}
	return fmt.Sprint(v)
}

func floatJSON(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// decimalText writes unscaled * 10^-scale exactly.
func decimalText(unscaled *big.Int, scale int) string {
	s := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if unscaled.Sign() < 0 {
		s = "-" + s
	}
	return s
}

func timeText(dbType string, t time.Time) string {
	switch dbType {
	case "DATE":
		return t.Format("2006-01-02")
	case "TIME":
		return t.Format("15:04:05.999999")
	case "TIMETZ":
		return t.Format("15:04:05.999999Z07:00")
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS":
		return t.Format("2006-01-02T15:04:05.999999")
	case "TIMESTAMP_NS":
		return t.Format("2006-01-02T15:04:05.999999999")
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}
