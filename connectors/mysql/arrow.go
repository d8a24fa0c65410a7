package mysql

import (
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BatchRows is how many rows a batch holds: DuckDB's vector size.
const BatchRows = 2048

type arrowRecord = arrow.RecordBatch

// Column is one column of a result.
type Column struct {
	// Name is the column's name, made unique within the result the way
	// DuckDB does it (a second "id" becomes "id_1").
	Name string
	// DuckDBType is the DuckDB type the column lands in.
	DuckDBType string
	// MySQLType names the MySQL type as the server describes it, for
	// messages.
	MySQLType string
	// Arrow is the type the column's values travel as. DATE, DATETIME and
	// TIMESTAMP travel as date32 and µs timestamps (TIMESTAMP with time
	// zone UTC), TIME as a month-day-nano interval, JSON as a string.
	Arrow  arrow.DataType
	append func(b array.Builder, v driver.Value) error
}

// Schema returns the Arrow schema of cols.
func Schema(cols []Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Arrow, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// columnTyper is what go-sql-driver's rows say about their columns.
type columnTyper interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypePrecisionScale
}

func columns(rows driver.Rows) ([]Column, error) {
	ct, ok := rows.(columnTyper)
	if !ok {
		return nil, errors.New("the MySQL driver does not describe its columns")
	}
	names := rows.Columns()
	cols := make([]Column, len(names))
	seen := map[string]bool{} // DuckDB column names are case-insensitive
	for i, n := range names {
		name := n
		if name == "" {
			name = fmt.Sprintf("column%d", i)
		}
		base := name
		for k := 1; seen[strings.ToLower(name)]; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		seen[strings.ToLower(name)] = true
		p, s, _ := ct.ColumnTypePrecisionScale(i)
		c := columnOf(ct.ColumnTypeDatabaseTypeName(i), p, s)
		c.Name = name
		cols[i] = c
	}
	return cols, nil
}

// columnOf maps a MySQL column type (go-sql-driver's DatabaseTypeName)
// to its DuckDB type and the conversion of its values.
func columnOf(typ string, prec, scale int64) Column {
	c := Column{MySQLType: typ}
	set := func(duck string, t arrow.DataType, f func(array.Builder, driver.Value) error) Column {
		c.DuckDBType, c.Arrow, c.append = duck, t, f
		return c
	}
	switch typ {
	case "TINYINT":
		return set("TINYINT", arrow.PrimitiveTypes.Int8, appendInt(math.MinInt8, math.MaxInt8, func(b array.Builder, v int64) { b.(*array.Int8Builder).Append(int8(v)) }))
	case "UNSIGNED TINYINT":
		return set("UTINYINT", arrow.PrimitiveTypes.Uint8, appendInt(0, math.MaxUint8, func(b array.Builder, v int64) { b.(*array.Uint8Builder).Append(uint8(v)) }))
	case "SMALLINT":
		return set("SMALLINT", arrow.PrimitiveTypes.Int16, appendInt(math.MinInt16, math.MaxInt16, func(b array.Builder, v int64) { b.(*array.Int16Builder).Append(int16(v)) }))
	case "UNSIGNED SMALLINT":
		return set("USMALLINT", arrow.PrimitiveTypes.Uint16, appendInt(0, math.MaxUint16, func(b array.Builder, v int64) { b.(*array.Uint16Builder).Append(uint16(v)) }))
	case "YEAR": // 1901..2155, and 0 for the zero year
		return set("SMALLINT", arrow.PrimitiveTypes.Int16, appendInt(0, 9999, func(b array.Builder, v int64) { b.(*array.Int16Builder).Append(int16(v)) }))
	case "MEDIUMINT", "INT":
		return set("INTEGER", arrow.PrimitiveTypes.Int32, appendInt(math.MinInt32, math.MaxInt32, func(b array.Builder, v int64) { b.(*array.Int32Builder).Append(int32(v)) }))
	case "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		return set("UINTEGER", arrow.PrimitiveTypes.Uint32, appendInt(0, math.MaxUint32, func(b array.Builder, v int64) { b.(*array.Uint32Builder).Append(uint32(v)) }))
	case "BIGINT":
		return set("BIGINT", arrow.PrimitiveTypes.Int64, appendInt(math.MinInt64, math.MaxInt64, func(b array.Builder, v int64) { b.(*array.Int64Builder).Append(v) }))
	case "UNSIGNED BIGINT":
		return set("UBIGINT", arrow.PrimitiveTypes.Uint64, appendUint64)
	case "BIT":
		return set("UBIGINT", arrow.PrimitiveTypes.Uint64, appendBit)
	case "FLOAT":
		return set("FLOAT", arrow.PrimitiveTypes.Float32, appendFloat[float32, *array.Float32Builder])
	case "DOUBLE":
		return set("DOUBLE", arrow.PrimitiveTypes.Float64, appendFloat[float64, *array.Float64Builder])
	case "DECIMAL":
		p, s := int32(prec), int32(scale)
		if p < s {
			p = s
		}
		if p < 1 {
			p = 1
		}
		if p > 38 {
			return set("DOUBLE", arrow.PrimitiveTypes.Float64, appendDecimalFloat)
		}
		return set(fmt.Sprintf("DECIMAL(%d,%d)", p, s), &arrow.Decimal128Type{Precision: p, Scale: s}, appendDecimal(p, s))
	case "DATE":
		return set("DATE", arrow.FixedWidthTypes.Date32, appendDate)
	case "DATETIME":
		return set("TIMESTAMP", &arrow.TimestampType{Unit: arrow.Microsecond}, appendDateTime)
	case "TIMESTAMP":
		return set("TIMESTAMPTZ", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, appendDateTime)
	case "TIME":
		return set("INTERVAL", arrow.FixedWidthTypes.MonthDayNanoInterval, appendTime)
	case "JSON":
		return set("JSON", arrow.BinaryTypes.String, appendText)
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY", "VECTOR":
		return set("BLOB", arrow.BinaryTypes.Binary, appendBytes)
	case "NULL":
		return set("INTEGER", arrow.PrimitiveTypes.Int32, func(array.Builder, driver.Value) error {
			return errors.New("a value in a column of type NULL")
		})
	}
	// CHAR, VARCHAR, the TEXTs, ENUM, SET and anything else the driver
	// does not name: text, utf8mb4 (the connection's character set).
	return set("VARCHAR", arrow.BinaryTypes.String, appendText)
}

func appendInt(lo, hi int64, put func(array.Builder, int64)) func(array.Builder, driver.Value) error {
	return func(b array.Builder, v driver.Value) error {
		var n int64
		switch v := v.(type) {
		case int64:
			n = v
		case []byte:
			var err error
			if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected value %T", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d does not fit", n)
		}
		put(b, n)
		return nil
	}
}

func appendUint64(b array.Builder, v driver.Value) error {
	switch v := v.(type) {
	case uint64:
		b.(*array.Uint64Builder).Append(v)
	case int64:
		if v < 0 {
			return fmt.Errorf("%d does not fit", v)
		}
		b.(*array.Uint64Builder).Append(uint64(v))
	case []byte:
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return err
		}
		b.(*array.Uint64Builder).Append(n)
	default:
		return fmt.Errorf("unexpected value %T", v)
	}
	return nil
}

// appendBit reads BIT(n), sent as ceil(n/8) big-endian bytes.
func appendBit(b array.Builder, v driver.Value) error {
	raw, ok := v.([]byte)
	if !ok || len(raw) > 8 {
		return fmt.Errorf("unexpected BIT value %T of %d bytes", v, len(raw))
	}
	var buf [8]byte
	copy(buf[8-len(raw):], raw)
	b.(*array.Uint64Builder).Append(binary.BigEndian.Uint64(buf[:]))
	return nil
}

// appendFloat appends a FLOAT or DOUBLE value as T.
func appendFloat[T float32 | float64, B interface{ Append(T) }](b array.Builder, v driver.Value) error {
	switch v := v.(type) {
	case float32:
		b.(B).Append(T(v))
	case float64:
		b.(B).Append(T(v))
	default:
		return fmt.Errorf("unexpected value %T", v)
	}
	return nil
}

func appendDecimalFloat(b array.Builder, v driver.Value) error {
	raw, ok := v.([]byte)
	if !ok {
		return fmt.Errorf("unexpected value %T", v)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return err
	}
	b.(*array.Float64Builder).Append(f)
	return nil
}

// appendDecimal parses MySQL's decimal text ("-12.340") exactly into the
// unscaled integer DuckDB keeps.
func appendDecimal(p, s int32) func(array.Builder, driver.Value) error {
	return func(b array.Builder, v driver.Value) error {
		raw, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("unexpected value %T", v)
		}
		n, err := parseDecimal(raw, p, s)
		if err != nil {
			return err
		}
		b.(*array.Decimal128Builder).Append(n)
		return nil
	}
}

func parseDecimal(raw []byte, p, s int32) (decimal128.Num, error) {
	txt := raw
	neg := len(txt) > 0 && txt[0] == '-'
	if neg || len(txt) > 0 && txt[0] == '+' {
		txt = txt[1:]
	}
	digits := make([]byte, 0, 40)
	frac := int32(-1)
	for _, c := range txt {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return decimal128.Num{}, fmt.Errorf("%q is not a decimal", raw)
		}
	}
	if frac < 0 {
		frac = 0
	}
	if frac > s {
		return decimal128.Num{}, fmt.Errorf("%s has more than %d decimals", raw, s)
	}
	for ; frac < s; frac++ {
		digits = append(digits, '0')
	}
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	if int32(len(digits)) > p {
		return decimal128.Num{}, fmt.Errorf("%s does not fit DECIMAL(%d,%d)", raw, p, s)
	}
	if len(digits) <= 18 {
		var n int64
		for _, c := range digits {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return decimal128.FromI64(n), nil
	}
	i, _ := new(big.Int).SetString(string(digits), 10)
	if neg {
		i.Neg(i)
	}
	return decimal128.FromBigInt(i), nil
}

// ErrInvalidDate is wrapped when a date is not a calendar date: MySQL
// keeps such dates under ALLOW_INVALID_DATES or with a zero month or day.
// The all-zero date 0000-00-00 is not one of them: it lands as NULL.
var ErrInvalidDate = errors.New("not a calendar date")

// civil parses "YYYY-MM-DD" at the start of raw into days since 1970; zero
// reports the all-zero date.
func civil(raw []byte) (days int64, zero bool, err error) {
	if len(raw) < 10 || raw[4] != '-' || raw[7] != '-' {
		return 0, false, fmt.Errorf("%q is not a date", raw)
	}
	y, e1 := atoi(raw[0:4])
	m, e2 := atoi(raw[5:7])
	d, e3 := atoi(raw[8:10])
	if e1 || e2 || e3 {
		return 0, false, fmt.Errorf("%q is not a date", raw)
	}
	if y == 0 && m == 0 && d == 0 {
		return 0, true, nil
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false, fmt.Errorf("%s: %w", raw[:10], ErrInvalidDate)
	}
	return daysFromCivil(y, m, d), false, nil
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil counts days from 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm), without a time.Time per value.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func atoi(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, true
		}
		n = n*10 + int(c-'0')
	}
	return n, false
}

// dateOf reads the date of a DATE or DATETIME value, as days since 1970.
// MySQL's zero date is appended to b as NULL, and null is set.
func dateOf(b array.Builder, v driver.Value) (raw []byte, days int64, null bool, err error) {
	raw, ok := v.([]byte)
	if !ok {
		return nil, 0, false, fmt.Errorf("unexpected value %T", v)
	}
	days, zero, err := civil(raw)
	if err == nil && zero {
		b.AppendNull()
	}
	return raw, days, zero, err
}

func appendDate(b array.Builder, v driver.Value) error {
	_, days, null, err := dateOf(b, v)
	if err != nil || null {
		return err
	}
	b.(*array.Date32Builder).Append(arrow.Date32(days))
	return nil
}

// appendDateTime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" (DATETIME, and
// TIMESTAMP in the session's UTC) into µs since 1970.
func appendDateTime(b array.Builder, v driver.Value) error {
	raw, days, null, err := dateOf(b, v)
	if err != nil || null {
		return err
	}
	var us int64
	if len(raw) > 10 {
		if len(raw) < 19 || raw[10] != ' ' {
			return fmt.Errorf("%q is not a datetime", raw)
		}
		if us, err = clock(raw[11:]); err != nil {
			return fmt.Errorf("%q is not a datetime", raw)
		}
	}
	b.(*array.TimestampBuilder).Append(arrow.Timestamp(days*86400_000_000 + us))
	return nil
}

// clock parses "H+:MM:SS[.ffffff]" into µs.
func clock(raw []byte) (int64, error) {
	i := 0
	for i < len(raw) && raw[i] != ':' {
		i++
	}
	if i == 0 || len(raw) < i+6 || raw[i+3] != ':' {
		return 0, errors.New("bad clock")
	}
	h, e1 := atoi(raw[:i])
	m, e2 := atoi(raw[i+1 : i+3])
	s, e3 := atoi(raw[i+4 : i+6])
	if e1 || e2 || e3 {
		return 0, errors.New("bad clock")
	}
	us := (int64(h)*3600 + int64(m)*60 + int64(s)) * 1_000_000
	if rest := raw[i+6:]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) > 7 {
			return 0, errors.New("bad fraction")
		}
		f, e := atoi(rest[1:])
		if e {
			return 0, errors.New("bad fraction")
		}
		for k := len(rest) - 1; k < 6; k++ {
			f *= 10
		}
		us += int64(f)
	}
	return us, nil
}

// appendTime reads TIME ("-838:59:59.000000" .. "838:59:59.000000"): a
// duration, not a time of day, so it lands as an INTERVAL.
func appendTime(b array.Builder, v driver.Value) error {
	raw, ok := v.([]byte)
	if !ok {
		return fmt.Errorf("unexpected value %T", v)
	}
	neg := len(raw) > 0 && raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	us, err := clock(raw)
	if err != nil {
		return fmt.Errorf("%q is not a TIME", raw)
	}
	if neg {
		us = -us
	}
	b.(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{Nanoseconds: us * 1000})
	return nil
}

func appendText(b array.Builder, v driver.Value) error {
	raw, ok := v.([]byte)
	if !ok {
		return fmt.Errorf("unexpected value %T", v)
	}
	if !utf8.Valid(raw) {
		return errors.New("text that is not valid UTF-8")
	}
	b.(*array.StringBuilder).BinaryBuilder.Append(raw)
	return nil
}

func appendBytes(b array.Builder, v driver.Value) error {
	raw, ok := v.([]byte)
	if !ok {
		return fmt.Errorf("unexpected value %T", v)
	}
	b.(*array.BinaryBuilder).Append(raw)
	return nil
}

// batcher builds Arrow record batches from driver rows. The buffers of
// its fixed-width columns come from a pool: a batch's buffers go back to
// it when the consumer releases the batch, and later batches reuse them,
// so a long result does not allocate (and the GC does not collect) most of
// ~150 KB per batch. Text and binary columns allocate afresh, because
// their values (array.String's Value) alias the buffer and consumers keep
// them; their value bytes are reserved at the size the last batch needed.
type batcher struct {
	cols   []Column
	schema *arrow.Schema
	bs     []array.Builder
	data   map[int]*array.BinaryBuilder // by index in bs
	last   map[int]int
	n      int
}

func newBatcher(cols []Column) *batcher {
	schema := Schema(cols)
	b := &batcher{cols: cols, schema: schema, bs: make([]array.Builder, len(cols)),
		data: map[int]*array.BinaryBuilder{}, last: map[int]int{}}
	p := newPool()
	for i, f := range schema.Fields() {
		var mem memory.Allocator = p
		if arrow.IsBaseBinary(f.Type.ID()) {
			mem = memory.DefaultAllocator
		}
		b.bs[i] = array.NewBuilder(mem, f.Type)
		switch f := b.bs[i].(type) {
		case *array.StringBuilder:
			b.data[i] = f.BinaryBuilder
		case *array.BinaryBuilder:
			b.data[i] = f
		}
	}
	b.reserve()
	return b
}

func (b *batcher) reserve() {
	for _, f := range b.bs {
		f.Reserve(BatchRows)
	}
	for i, d := range b.data {
		d.ReserveData(b.last[i])
	}
}

// append adds row number n (1-based, for messages).
func (b *batcher) append(vals []driver.Value, n int64) error {
	for i, v := range vals {
		if v == nil {
			b.bs[i].AppendNull()
			continue
		}
		if err := b.cols[i].append(b.bs[i], v); err != nil {
			// Keep the builders' columns of equal length.
			return fmt.Errorf("column %s (%s), row %d: %w", b.cols[i].Name, b.cols[i].MySQLType, n, err)
		}
	}
	b.n++
	return nil
}

func (b *batcher) flush(sink ArrowSink) error {
	arrs := make([]arrow.Array, len(b.bs))
	for i, f := range b.bs {
		if d, ok := b.data[i]; ok {
			b.last[i] = d.DataLen()
		}
		arrs[i] = f.NewArray()
	}
	rec := array.NewRecordBatch(b.schema, arrs, int64(b.n))
	for _, a := range arrs {
		a.Release()
	}
	defer rec.Release()
	b.reserve()
	b.n = 0
	return sink.Record(rec)
}

func (b *batcher) release() {
	for _, f := range b.bs {
		f.Release()
	}
}

// pool is an Arrow allocator that keeps freed buffers, by power-of-two
// capacity, for the next Allocate; it holds at most poolBytes. Buffers
// are zeroed before reuse, as fresh Go memory is. It is safe for
// concurrent use: the consumer frees a batch's buffers on its goroutine.
type pool struct {
	mu   sync.Mutex
	free [64][][]byte
	held int
}

const poolBytes = 16 << 20

func newPool() *pool { return &pool{} }

func class(size int) int { return bits.Len(uint(max(size, 64) - 1)) }

func (p *pool) Allocate(size int) []byte {
	c := class(size)
	p.mu.Lock()
	if l := p.free[c]; len(l) > 0 {
		buf := l[len(l)-1]
		p.free[c] = l[:len(l)-1]
		p.held -= cap(buf)
		p.mu.Unlock()
		buf = buf[:cap(buf)]
		clear(buf)
		return buf[:size]
	}
	p.mu.Unlock()
	buf := make([]byte, 1<<c)
	if uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%64 != 0 { // not seen: Go aligns power-of-two sizes
		return memory.DefaultAllocator.Allocate(size)
	}
	return buf[:size]
}

func (p *pool) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *pool) Free(b []byte) {
	c := cap(b)
	if c < 64 || c&(c-1) != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b[:c])))%64 != 0 {
		return // not one of ours: the GC takes it
	}
	p.mu.Lock()
	if p.held+c <= poolBytes {
		k := bits.Len(uint(c - 1))
		p.free[k] = append(p.free[k], b[:c])
		p.held += c
	}
	p.mu.Unlock()
}
