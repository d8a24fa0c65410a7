package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cellsd/cellsd/connectors"
)

// arrowColumn decodes one column's values into an Arrow builder.
type arrowColumn struct {
	typ    arrow.DataType
	decode func(b array.Builder, raw []byte) error
}

var stringType = arrow.BinaryTypes.String

// fixed checks that a binary value has the width of its type before
// decoding it, so a malformed value is an error, never a panic.
func fixed(width int, decode func(array.Builder, []byte) error) func(array.Builder, []byte) error {
	return func(b array.Builder, r []byte) error {
		if len(r) != width {
			return fmt.Errorf("binary value of %d bytes, want %d", len(r), width)
		}
		return decode(b, r)
	}
}

// Schema returns the Arrow schema of cols.
func Schema(cols []Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.arrow.typ, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// stream decodes rows into Arrow builders and hands w a record batch per
// BatchRows rows: Begin first, even for a result without rows.
func stream(rows pgx.Rows, cols []Column, w connectors.ResultWriter) error {
	schema := Schema(cols)
	dst := make([]connectors.Column, len(cols))
	for i, c := range cols {
		dst[i] = connectors.Column{Name: c.Name, DuckDBType: c.DuckDBType}
	}
	if err := w.Begin(schema, dst); err != nil {
		return err
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	rb.Reserve(BatchRows)
	n := 0
	flush := func() error {
		rec := rb.NewRecordBatch()
		rb.Reserve(BatchRows)
		n = 0
		return w.Write(rec) // w releases it
	}
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			b := rb.Field(i)
			if raw == nil {
				b.AppendNull()
				continue
			}
			if err := cols[i].arrow.decode(b, raw); err != nil {
				return fmt.Errorf("column %s (%s): %w", cols[i].Name, cols[i].PGType, err)
			}
		}
		if n++; n == BatchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		return flush()
	}
	return nil
}

// listOf decodes a one-dimensional array in Postgres's binary format
// (dimensions, then each element's length and bytes) into a list of elem.
func listOf(elem *arrowColumn) *arrowColumn {
	be := binary.BigEndian
	short := errors.New("short array")
	return &arrowColumn{arrow.ListOf(elem.typ), func(b array.Builder, r []byte) error {
		if len(r) < 12 {
			return short
		}
		lb := b.(*array.ListBuilder)
		switch ndim := int32(be.Uint32(r)); {
		case ndim == 0:
			lb.Append(true)
			return nil
		case ndim != 1:
			return errors.New("multi-dimensional arrays are not supported")
		}
		if len(r) < 20 {
			return short
		}
		n, p := int(int32(be.Uint32(r[12:]))), 20
		lb.Append(true)
		vb := lb.ValueBuilder()
		for range n {
			if len(r) < p+4 {
				return short
			}
			l := int(int32(be.Uint32(r[p:])))
			p += 4
			if l < 0 {
				vb.AppendNull()
				continue
			}
			if len(r) < p+l {
				return short
			}
			if err := elem.decode(vb, r[p:p+l]); err != nil {
				return err
			}
			p += l
		}
		return nil
	}}
}

// pgEpoch is 2000-01-01, where Postgres counts dates and timestamps from.
const (
	pgEpochDays   = 10957           // days from 1970-01-01
	pgEpochMicros = 946684800000000 // µs from 1970-01-01
)

var errInfinite = errors.New("infinite dates and timestamps are not supported")

// arrowOf returns the Arrow decoding of a type asked for in binary.
func arrowOf(oid uint32, typmod int32) *arrowColumn {
	be := binary.BigEndian
	switch oid {
	case pgtype.BoolOID:
		return &arrowColumn{arrow.FixedWidthTypes.Boolean, fixed(1, func(b array.Builder, r []byte) error {
			b.(*array.BooleanBuilder).Append(r[0] != 0)
			return nil
		})}
	case pgtype.Int2OID:
		return &arrowColumn{arrow.PrimitiveTypes.Int16, fixed(2, func(b array.Builder, r []byte) error {
			b.(*array.Int16Builder).Append(int16(be.Uint16(r)))
			return nil
		})}
	case pgtype.Int4OID:
		return &arrowColumn{arrow.PrimitiveTypes.Int32, fixed(4, func(b array.Builder, r []byte) error {
			b.(*array.Int32Builder).Append(int32(be.Uint32(r)))
			return nil
		})}
	case pgtype.Int8OID:
		return &arrowColumn{arrow.PrimitiveTypes.Int64, fixed(8, func(b array.Builder, r []byte) error {
			b.(*array.Int64Builder).Append(int64(be.Uint64(r)))
			return nil
		})}
	case pgtype.Float4OID:
		return &arrowColumn{arrow.PrimitiveTypes.Float32, fixed(4, func(b array.Builder, r []byte) error {
			b.(*array.Float32Builder).Append(math.Float32frombits(be.Uint32(r)))
			return nil
		})}
	case pgtype.Float8OID:
		return &arrowColumn{arrow.PrimitiveTypes.Float64, fixed(8, func(b array.Builder, r []byte) error {
			b.(*array.Float64Builder).Append(math.Float64frombits(be.Uint64(r)))
			return nil
		})}
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return &arrowColumn{arrow.BinaryTypes.String, appendText}
	case pgtype.ByteaOID:
		return &arrowColumn{arrow.BinaryTypes.Binary, func(b array.Builder, r []byte) error {
			b.(*array.BinaryBuilder).Append(r)
			return nil
		}}
	case pgtype.DateOID:
		return &arrowColumn{arrow.FixedWidthTypes.Date32, fixed(4, func(b array.Builder, r []byte) error {
			d := int32(be.Uint32(r))
			if d == math.MaxInt32 || d == math.MinInt32 {
				return errInfinite
			}
			b.(*array.Date32Builder).Append(arrow.Date32(d + pgEpochDays))
			return nil
		})}
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		tz := ""
		if oid == pgtype.TimestamptzOID {
			tz = "UTC"
		}
		return &arrowColumn{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz}, fixed(8, func(b array.Builder, r []byte) error {
			t := int64(be.Uint64(r))
			if t == math.MaxInt64 || t == math.MinInt64 {
				return errInfinite
			}
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t + pgEpochMicros))
			return nil
		})}
	case pgtype.TimeOID:
		return &arrowColumn{arrow.FixedWidthTypes.Time64us, fixed(8, func(b array.Builder, r []byte) error {
			b.(*array.Time64Builder).Append(arrow.Time64(be.Uint64(r)))
			return nil
		})}
	case pgtype.IntervalOID:
		return &arrowColumn{arrow.FixedWidthTypes.MonthDayNanoInterval, fixed(16, func(b array.Builder, r []byte) error {
			b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{
				Nanoseconds: int64(be.Uint64(r)) * 1000, Days: int32(be.Uint32(r[8:])), Months: int32(be.Uint32(r[12:]))})
			return nil
		})}
	case pgtype.UUIDOID:
		return &arrowColumn{&arrow.FixedSizeBinaryType{ByteWidth: 16}, fixed(16, func(b array.Builder, r []byte) error {
			b.(*array.FixedSizeBinaryBuilder).Append(r)
			return nil
		})}
	case pgtype.NumericOID:
		if p, s, ok := decimalOf(typmod); ok {
			return &arrowColumn{&arrow.Decimal128Type{Precision: p, Scale: s}, func(b array.Builder, r []byte) error {
				n, err := decodeNumeric(r, p, s)
				if err != nil {
					return err
				}
				b.(*array.Decimal128Builder).Append(n)
				return nil
			}}
		}
		return &arrowColumn{arrow.PrimitiveTypes.Float64, func(b array.Builder, r []byte) error {
			f, err := numericFloat64(r)
			if err != nil {
				return err
			}
			b.(*array.Float64Builder).Append(f)
			return nil
		}}
	}
	return &arrowColumn{stringType, appendText} // text, varchar, bpchar, name
}

func appendText(b array.Builder, r []byte) error {
	b.(*array.StringBuilder).BinaryBuilder.Append(r)
	return nil
}

// decodeNumeric decodes Postgres's binary numeric (base-10000 digits) of a
// numeric(precision, scale) column to its unscaled integer.
func decodeNumeric(r []byte, precision, scale int32) (decimal128.Num, error) {
	if len(r) < 8 {
		return decimal128.Num{}, errors.New("short numeric")
	}
	be := binary.BigEndian
	ndigits, weight, sign := int(be.Uint16(r)), int(int16(be.Uint16(r[2:]))), be.Uint16(r[4:])
	if sign == 0xC000 || sign >= 0xD000 {
		return decimal128.Num{}, errors.New("NaN or infinity does not fit a DECIMAL")
	}
	if len(r) < 8+2*ndigits {
		return decimal128.Num{}, errors.New("short numeric")
	}
	if ndigits <= 4 && precision <= 18 {
		// The common case fits an int64 (a numeric(p<=18) value does, and
		// so does every partial result): no big-integer arithmetic.
		var acc int64
		for i := 0; i < ndigits; i++ {
			acc = acc*10000 + int64(be.Uint16(r[8+2*i:]))
		}
		exp := int32(4 * (ndigits - 1 - weight))
		for ; exp < scale; exp++ {
			acc *= 10
		}
		for ; exp > scale; exp-- {
			acc /= 10
		}
		if sign == 0x4000 {
			acc = -acc
		}
		return decimal128.FromI64(acc), nil
	}
	// Wider values: exact big-integer arithmetic, as the digits may need
	// more than 128 bits before the scale is reduced.
	acc := new(big.Int)
	tenK := big.NewInt(10000)
	for i := 0; i < ndigits; i++ {
		acc.Mul(acc, tenK).Add(acc, big.NewInt(int64(be.Uint16(r[8+2*i:]))))
	}
	// acc is the value times 10^exp.
	exp := int32(4 * (ndigits - 1 - weight))
	ten := big.NewInt(10)
	switch {
	case scale > exp:
		acc.Mul(acc, new(big.Int).Exp(ten, big.NewInt(int64(scale-exp)), nil))
	case scale < exp:
		acc.Quo(acc, new(big.Int).Exp(ten, big.NewInt(int64(exp-scale)), nil))
	}
	if sign == 0x4000 {
		acc.Neg(acc)
	}
	return decimal128.FromBigInt(acc), nil
}

// numericFloat64 decodes Postgres's binary numeric to the nearest float64;
// NaN and the infinities keep their meaning.
func numericFloat64(r []byte) (float64, error) {
	if len(r) < 8 {
		return 0, errors.New("short numeric")
	}
	be := binary.BigEndian
	ndigits, weight, sign := int(be.Uint16(r)), int(int16(be.Uint16(r[2:]))), be.Uint16(r[4:])
	switch sign {
	case 0xC000:
		return math.NaN(), nil
	case 0xD000:
		return math.Inf(1), nil
	case 0xF000:
		return math.Inf(-1), nil
	}
	if len(r) < 8+2*ndigits {
		return 0, errors.New("short numeric")
	}
	// Parse the decimal text DuckDB would: exact digits, one rounding.
	var sb strings.Builder
	if sign == 0x4000 {
		sb.WriteByte('-')
	}
	for i := 0; i < ndigits; i++ {
		fmt.Fprintf(&sb, "%04d", be.Uint16(r[8+2*i:]))
	}
	fmt.Fprintf(&sb, "e%d", 4*(weight-ndigits+1))
	if ndigits == 0 {
		return 0, nil
	}
	return strconv.ParseFloat(sb.String(), 64)
}
