package materialize

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// scannable reports whether cellsd_scan loads Arrow type t.
func scannable(t arrow.DataType) error {
	switch t := t.(type) {
	case *arrow.BooleanType, *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
		*arrow.Float32Type, *arrow.Float64Type, *arrow.StringType, *arrow.LargeStringType,
		*arrow.BinaryType, *arrow.LargeBinaryType, *arrow.Date32Type, *arrow.TimestampType,
		*arrow.Time32Type, *arrow.Time64Type, *arrow.MonthDayNanoIntervalType:
		return nil
	case *arrow.FixedSizeBinaryType:
		if t.ByteWidth == 16 {
			return nil // a UUID
		}
	case *arrow.Decimal128Type:
		if t.Precision >= 1 && t.Precision <= 38 && t.Scale >= 0 && t.Scale <= t.Precision {
			return nil
		}
	case *arrow.ListType:
		switch e := t.Elem().(type) {
		case *arrow.BooleanType, *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
			*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
			*arrow.Float32Type, *arrow.Float64Type, *arrow.StringType, *arrow.LargeStringType,
			*arrow.BinaryType, *arrow.Date32Type, *arrow.TimestampType, *arrow.Time64Type, *arrow.MonthDayNanoIntervalType:
			return nil
		case *arrow.FixedSizeBinaryType:
			if e.ByteWidth == 16 {
				return nil
			}
		}
	}
	return fmt.Errorf("Arrow type %s is not supported", t)
}

// checkRecord checks that each column's buffers hold the values its
// length and offsets promise, so that a malformed batch from a remote is
// an error here rather than a crash inside DuckDB's scan.
func checkRecord(rec arrow.RecordBatch) error {
	for c, col := range rec.Columns() {
		if err := checkArray(col.Data()); err != nil {
			return fmt.Errorf("column %s: malformed Arrow data: %w", rec.ColumnName(c), err)
		}
	}
	return nil
}

func checkArray(d arrow.ArrayData) error {
	off, n := int64(d.Offset()), int64(d.Len())
	bufs := d.Buffers()
	blen := func(i int) int64 {
		if i >= len(bufs) || bufs[i] == nil {
			return 0
		}
		return int64(bufs[i].Len())
	}
	if off < 0 || n < 0 {
		return errors.New("negative offset or length")
	}
	if len(bufs) > 0 && bufs[0] != nil && blen(0) < (off+n+7)/8 {
		return errors.New("validity bitmap too short")
	}
	if n == 0 {
		return nil
	}
	switch t := d.DataType().(type) {
	case *arrow.BooleanType:
		if blen(1) < (off+n+7)/8 {
			return errors.New("data buffer too short")
		}
	case *arrow.StringType, *arrow.BinaryType:
		return checkOffsets(bufs, blen, off, n, 4, blen(2))
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		return checkOffsets(bufs, blen, off, n, 8, blen(2))
	case *arrow.ListType:
		children := d.Children()
		if len(children) != 1 {
			return errors.New("a list without its values")
		}
		if err := checkOffsets(bufs, blen, off, n, 4, int64(children[0].Len())); err != nil {
			return err
		}
		return checkArray(children[0])
	case arrow.FixedWidthDataType:
		if blen(1) < (off+n)*int64(t.BitWidth()/8) {
			return errors.New("data buffer too short")
		}
	}
	return nil
}

// checkOffsets checks a variable-length array's offsets: in bounds,
// non-decreasing, and at most limit (the length of its data).
func checkOffsets(bufs []*memory.Buffer, blen func(int) int64, off, n, width, limit int64) error {
	if blen(1) < (off+n+1)*width {
		return errors.New("offsets buffer too short")
	}
	b := bufs[1].Bytes()
	at := func(i int64) int64 {
		if width == 4 {
			return int64(int32(binary.LittleEndian.Uint32(b[i*4:])))
		}
		return int64(binary.LittleEndian.Uint64(b[i*8:]))
	}
	prev := at(off)
	if prev < 0 {
		return errors.New("negative offset")
	}
	for i := off + 1; i <= off+n; i++ {
		cur := at(i)
		if cur < prev {
			return errors.New("offsets decrease")
		}
		prev = cur
	}
	if prev > limit {
		return errors.New("offsets beyond the data")
	}
	return nil
}
