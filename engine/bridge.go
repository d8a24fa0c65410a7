package engine

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cellsd/cellsd/connectors/bridge"
)

// arrowStreamer is what the engine needs of a connector whose results
// arrive as Arrow record batches with their schema: a bridge.
type arrowStreamer interface {
	QueryArrow(ctx context.Context, sql string, sink bridge.Sink) (sawSchema bool, err error)
	Exec(ctx context.Context, sql string) error
}

// runBridge runs a cell on a remote bridge and materializes its result
// like a Postgres cell's: the batches stream through cellsd_scan into a
// staging table, which then replaces the result in one transaction.
func (e *Engine) runBridge(ctx context.Context, spec execSpec, guard func(context.Context, func() error) error) (*int64, error) {
	cl, err := e.bridges.Get(spec.conn)
	if err != nil {
		return nil, err
	}
	return e.runArrowStream(ctx, spec, cl, guard)
}

func (e *Engine) runArrowStream(ctx context.Context, spec execSpec, src arrowStreamer, guard func(context.Context, func() error) error) (rows *int64, err error) {
	if !spec.hasResult {
		return nil, src.Exec(ctx, spec.sql)
	}
	st, err := e.openStaging(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer func() { st.release(ctx, err != nil) }()
	sink := &arrowSink{scan: &scanSink{e: e, ctx: ctx, conn: st.conn, stagingRel: st.rel, received: spec.received}}
	sawSchema, qerr := src.QueryArrow(ctx, spec.sql, sink)
	if qerr == nil && !sawSchema {
		qerr = fmt.Errorf("connection %s: the bridge sent no batch, so the result's columns are unknown", spec.conn.ID)
	}
	if err := sink.scan.finish(qerr); err != nil {
		if qerr != nil {
			return nil, err
		}
		return nil, fmt.Errorf("load result: %w", err)
	}
	loaded := sink.scan.rows
	if err := e.swapIn(ctx, st.conn, spec, st.rel, guard); err != nil {
		return nil, err
	}
	return &loaded, nil
}

// swapIn replaces a cell's result with its staging table in one
// transaction, through guard when there is one.
func (e *Engine) swapIn(ctx context.Context, conn *sql.Conn, spec execSpec, stagingRel string, guard func(context.Context, func() error) error) error {
	swap := func() error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+e.Relation(spec.schema, spec.name)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+stagingRel+" RENAME TO "+quoteIdent(spec.name)); err != nil {
			return err
		}
		return tx.Commit()
	}
	var err error
	if guard == nil {
		err = swap()
	} else {
		err = guard(ctx, swap)
	}
	if err != nil {
		return fmt.Errorf("swap in result: %w", err)
	}
	return nil
}

// arrowSink loads a result that arrives with its Arrow schema (a bridge's)
// through a scanSink: it checks the types, makes column names unique and
// cuts records to DuckDB's vector size.
type arrowSink struct {
	scan   *scanSink
	schema *arrow.Schema
}

// maxChunkRows is DuckDB's vector size, the most rows a chunk holds.
const maxChunkRows = 2048

func (s *arrowSink) Schema(schema *arrow.Schema) error {
	fields := make([]arrow.Field, schema.NumFields())
	sel := make([]string, len(fields))
	seen := map[string]bool{} // DuckDB column names are case-insensitive
	for i, f := range schema.Fields() {
		base := f.Name
		if base == "" {
			base = "column" + strconv.Itoa(i)
		}
		name := base
		for n := 1; seen[strings.ToLower(name)]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		seen[strings.ToLower(name)] = true
		if err := scannable(f.Type); err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		fields[i] = arrow.Field{Name: name, Type: f.Type, Nullable: true}
		q := quoteIdent(name)
		switch t := f.Type.(type) {
		case *arrow.Date32Type:
			sel[i] = "CAST(DATE '1970-01-01' + " + q + " AS DATE) AS " + q
		case *arrow.TimestampType:
			if t.TimeZone != "" {
				sel[i] = "make_timestamptz(" + q + ") AS " + q
			} else {
				sel[i] = "make_timestamp(" + q + ") AS " + q
			}
		default:
			sel[i] = q
		}
	}
	if len(fields) == 0 {
		return errors.New("the result has no columns")
	}
	s.schema = arrow.NewSchema(fields, nil)
	s.scan.start(s.schema, sel)
	return nil
}

func (s *arrowSink) Record(rec arrow.RecordBatch) error {
	if err := checkRecord(rec); err != nil {
		return err
	}
	n := rec.NumRows()
	if n <= maxChunkRows {
		return s.scan.Record(rec)
	}
	for off := int64(0); off < n; off += maxChunkRows {
		sl := rec.NewSlice(off, min(off+maxChunkRows, n))
		err := s.scan.Record(sl)
		sl.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

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
			*arrow.BinaryType, *arrow.Date32Type, *arrow.TimestampType:
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
