package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BatchRows is how many rows a batch holds: DuckDB's vector size.
const BatchRows = 2048

// Source runs queries on one Postgres connection through a pool.
type Source struct {
	cfg  *Config
	pool *pgxpool.Pool
}

// Open creates the connection's pool; it connects on first use.
func Open(cfg *Config) (*Source, error) {
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Pool)
	if err != nil {
		return nil, redact(cfg, fmt.Errorf("connection %s: %w", cfg.ID, err))
	}
	return &Source{cfg: cfg, pool: pool}, nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Source) Close() { s.pool.Close() }

// Column is one column of a result.
type Column struct {
	// Name is the column's name, made unique within the result the way
	// DuckDB does it (a second "id" becomes "id_1").
	Name string
	// DuckDBType is the DuckDB type the column lands in.
	DuckDBType string
	// PGType names the Postgres type, for messages.
	PGType  string
	convert func(any) (any, error)
	// raw columns take the column's bytes as text, in the text format
	// textFormats asks for: JSON as written, inet as Postgres prints it.
	raw bool
	// arrow decodes the column's binary values into Arrow, when it can.
	arrow *arrowColumn
}

// rawValue is a raw column's value: JSON text goes to the appender as
// json.RawMessage, which it stores as written.
func (c *Column) rawValue(b []byte) any {
	switch {
	case b == nil:
		return nil
	case c.DuckDBType == "JSON":
		return json.RawMessage(string(b))
	}
	return string(b)
}

// Sink receives a result: its columns once, then batches of rows of values
// converted for DuckDB's appender. A batch's slices are reused after Rows
// returns.
type Sink interface {
	Columns(cols []Column) error
	Rows(rows [][]any) error
}

// Query runs sql in a transaction of its own (READ ONLY unless the
// connection says otherwise, with the connection's statement timeout) and
// streams the result into sink, BatchRows rows at a time, so memory does
// not grow with the result. Cancelling ctx cancels the query on the server.
// A *pgconn.PgError stays reachable through errors.As; no error carries
// the connection's secret, nor its id: the caller names the connection.
func (s *Source) Query(ctx context.Context, sql string, sink Sink) error {
	return redact(s.cfg, s.queryArrow(ctx, sql, nil, sink))
}

// inTx runs fn in a transaction of its own on a pooled connection: READ
// ONLY unless the connection says otherwise, with its statement timeout.
func (s *Source) inTx(ctx context.Context, fn func(pgx.Tx, *pgtype.Map) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err // the caller names the connection
	}
	defer conn.Release()
	mode := pgx.ReadWrite
	if s.cfg.ReadOnly {
		mode = pgx.ReadOnly
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: mode})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if s.cfg.StatementTimeout > 0 {
		ms := strconv.FormatInt(s.cfg.StatementTimeout.Milliseconds(), 10)
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+ms); err != nil {
			return fmt.Errorf("set statement_timeout: %w", err)
		}
	}
	if err := fn(tx, conn.Conn().TypeMap()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// drainRows converts rows to Go values and hands them to sink in batches.
func drainRows(rows pgx.Rows, cols []Column, sink Sink) error {
	if err := sink.Columns(cols); err != nil {
		return err
	}
	batch := make([][]any, 0, BatchRows)
	buf := make([]any, 0, BatchRows*len(cols))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		raws := rows.RawValues()
		row := buf[len(buf) : len(buf)+len(cols)]
		buf = buf[:len(buf)+len(cols)]
		for i, v := range vals {
			if cols[i].raw {
				row[i] = cols[i].rawValue(raws[i])
				continue
			}
			if row[i], err = cols[i].convert(v); err != nil {
				return fmt.Errorf("column %s (%s), row %d: %w", cols[i].Name, cols[i].PGType, len(batch)+1, err)
			}
		}
		batch = append(batch, row)
		if len(batch) == BatchRows {
			if err := sink.Rows(batch); err != nil {
				return err
			}
			batch, buf = batch[:0], buf[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return sink.Rows(batch)
	}
	return nil
}

// textFormats sets the result format of each type: binary for the types
// decoded from it, text for those whose text is the value we keep (JSON as
// written, inet and cidr as Postgres prints them, timetz) and for every type
// not listed (enums and other unknown types arrive as their labels).
var textFormats = func() pgx.QueryResultFormatsByOID {
	m := pgx.QueryResultFormatsByOID{}
	for _, oid := range []uint32{
		pgtype.BoolOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID, pgtype.Float8OID,
		pgtype.NumericOID, pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID, pgtype.ByteaOID,
		pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.TimeOID, pgtype.IntervalOID, pgtype.UUIDOID,
		pgtype.BoolArrayOID, pgtype.Int2ArrayOID, pgtype.Int4ArrayOID, pgtype.Int8ArrayOID, pgtype.Float4ArrayOID,
		pgtype.Float8ArrayOID, pgtype.NumericArrayOID, pgtype.TextArrayOID, pgtype.VarcharArrayOID, pgtype.DateArrayOID,
		pgtype.TimestampArrayOID, pgtype.TimestamptzArrayOID, pgtype.UUIDArrayOID, pgtype.ByteaArrayOID,
	} {
		m[oid] = pgx.BinaryFormatCode
	}
	return m
}()

const timetzOID = 1266

func columns(fds []pgconn.FieldDescription, tm *pgtype.Map) ([]Column, error) {
	cols := make([]Column, len(fds))
	seen := map[string]bool{} // DuckDB column names are case-insensitive
	for i, fd := range fds {
		name := fd.Name
		for n := 1; seen[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s_%d", fd.Name, n)
		}
		seen[strings.ToLower(name)] = true
		c, err := columnOf(fd, tm)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", fd.Name, err)
		}
		c.Name = name
		cols[i] = c
	}
	return cols, nil
}

// columnOf maps a Postgres column to its DuckDB type and converter.
func columnOf(fd pgconn.FieldDescription, tm *pgtype.Map) (Column, error) {
	pgName := strconv.FormatUint(uint64(fd.DataTypeOID), 10)
	if t, ok := tm.TypeForOID(fd.DataTypeOID); ok {
		pgName = t.Name
		if at, ok := t.Codec.(*pgtype.ArrayCodec); ok {
			elem, err := scalar(at.ElementType.OID, -1)
			if err != nil {
				return Column{}, err
			}
			return Column{PGType: pgName, DuckDBType: elem.DuckDBType + "[]", convert: listOf(elem.convert)}, nil
		}
	}
	c, err := scalar(fd.DataTypeOID, fd.TypeModifier)
	c.PGType = pgName
	c.arrow = arrowOf(fd.DataTypeOID, fd.TypeModifier, c.raw)
	return c, err
}

func identity(v any) (any, error) { return v, nil }

// scalar maps a scalar type; unknown types (enums, domains, extensions)
// arrive as text and land as VARCHAR.
func scalar(oid uint32, typmod int32) (Column, error) {
	switch oid {
	case pgtype.BoolOID:
		return Column{DuckDBType: "BOOLEAN", convert: identity}, nil
	case pgtype.Int2OID:
		return Column{DuckDBType: "SMALLINT", convert: identity}, nil
	case pgtype.Int4OID:
		return Column{DuckDBType: "INTEGER", convert: identity}, nil
	case pgtype.Int8OID:
		return Column{DuckDBType: "BIGINT", convert: identity}, nil
	case pgtype.Float4OID:
		return Column{DuckDBType: "FLOAT", convert: identity}, nil
	case pgtype.Float8OID:
		return Column{DuckDBType: "DOUBLE", convert: identity}, nil
	case pgtype.NumericOID:
		return numericColumn(typmod), nil
	case pgtype.ByteaOID:
		return Column{DuckDBType: "BLOB", convert: identity}, nil
	case pgtype.DateOID:
		return Column{DuckDBType: "DATE", convert: finiteTime}, nil
	case pgtype.TimestampOID:
		return Column{DuckDBType: "TIMESTAMP", convert: finiteTime}, nil
	case pgtype.TimestamptzOID:
		return Column{DuckDBType: "TIMESTAMPTZ", convert: finiteTime}, nil
	case pgtype.TimeOID:
		return Column{DuckDBType: "TIME", convert: timeOfDay}, nil
	case pgtype.IntervalOID:
		return Column{DuckDBType: "INTERVAL", convert: interval}, nil
	case pgtype.UUIDOID:
		return Column{DuckDBType: "UUID", convert: uuidValue}, nil
	case pgtype.JSONOID, pgtype.JSONBOID:
		return Column{DuckDBType: "JSON", convert: text, raw: true}, nil
	case pgtype.InetOID, pgtype.CIDROID:
		return Column{DuckDBType: "VARCHAR", convert: text, raw: true}, nil
	case timetzOID:
		// Postgres prints it as DuckDB reads it ("13:14:15.5+02"); the load
		// casts the text.
		return Column{DuckDBType: "TIMETZ", convert: text, raw: true}, nil
	}
	return Column{DuckDBType: "VARCHAR", convert: text}, nil
}

// numericColumn maps numeric(p,s) with p <= 38 to DECIMAL(p,s), exactly;
// wider or unconstrained numerics become DOUBLE, which rounds beyond about
// 15 significant digits (NaN and infinities keep their meaning).
func numericColumn(typmod int32) Column {
	if typmod >= 4 {
		p, s := int((typmod-4)>>16), int((typmod-4)&0xffff)
		if p >= 1 && p <= 38 && s <= p {
			return Column{DuckDBType: fmt.Sprintf("DECIMAL(%d,%d)", p, s), convert: decimal(p, s)}
		}
	}
	return Column{DuckDBType: "DOUBLE", convert: numericFloat}
}

func decimal(p, s int) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		n, ok := v.(pgtype.Numeric)
		if !ok || !n.Valid {
			return nil, nil
		}
		if n.NaN || n.InfinityModifier != pgtype.Finite {
			return nil, errors.New("NaN or infinity does not fit a DECIMAL")
		}
		// value = Int * 10^Exp; DuckDB wants value * 10^s as an integer.
		i := new(big.Int).Set(n.Int)
		shift := int(n.Exp) + s
		ten := big.NewInt(10)
		if shift >= 0 {
			i.Mul(i, new(big.Int).Exp(ten, big.NewInt(int64(shift)), nil))
		} else {
			i.Quo(i, new(big.Int).Exp(ten, big.NewInt(int64(-shift)), nil))
		}
		return duckdb.Decimal{Width: uint8(p), Scale: uint8(s), Value: i}, nil
	}
}

func numericFloat(v any) (any, error) {
	n, ok := v.(pgtype.Numeric)
	if !ok || !n.Valid {
		return nil, nil
	}
	f, err := n.Float64Value()
	if err != nil {
		return nil, err
	}
	return f.Float64, nil
}

func finiteTime(v any) (any, error) {
	switch v := v.(type) {
	case nil, time.Time:
		return v, nil
	}
	return nil, fmt.Errorf("%v cannot be stored (infinite dates and timestamps are not supported)", v)
}

func timeOfDay(v any) (any, error) {
	t, ok := v.(pgtype.Time)
	if !ok || !t.Valid {
		return nil, nil
	}
	return time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(t.Microseconds) * time.Microsecond), nil
}

func interval(v any) (any, error) {
	i, ok := v.(pgtype.Interval)
	if !ok || !i.Valid {
		return nil, nil
	}
	return duckdb.Interval{Months: i.Months, Days: i.Days, Micros: i.Microseconds}, nil
}

func uuidValue(v any) (any, error) {
	switch u := v.(type) {
	case nil:
		return nil, nil
	case [16]byte:
		return duckdb.UUID(u), nil
	}
	return nil, fmt.Errorf("unexpected uuid value %T", v)
}

func text(v any) (any, error) {
	switch v := v.(type) {
	case nil, string:
		return v, nil
	case []byte:
		return string(v), nil
	case netip.Prefix:
		return v.String(), nil
	case fmt.Stringer:
		return v.String(), nil
	}
	return fmt.Sprint(v), nil
}

// listOf converts a one-dimensional array element by element.
func listOf(elem func(any) (any, error)) func(any) (any, error) {
	return func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		in, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("unexpected array value %T", v)
		}
		out := make([]any, len(in))
		for i, e := range in {
			if _, nested := e.([]any); nested {
				return nil, errors.New("multi-dimensional arrays are not supported")
			}
			var err error
			if out[i], err = elem(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// redact removes the connection's password from an error's text, keeping
// the error chain.
func redact(cfg *Config, err error) error {
	if err == nil || cfg.Pool.ConnConfig.Password == "" || !strings.Contains(err.Error(), cfg.Pool.ConnConfig.Password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), cfg.Pool.ConnConfig.Password, "********"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
