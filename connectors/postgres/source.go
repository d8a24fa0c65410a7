package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
)

// BatchRows is how many rows a batch holds: DuckDB's vector size.
const BatchRows = 2048

// Source runs queries on one Postgres connection through a pool. It
// implements connectors.Source.
type Source struct {
	cfg  *Config
	pool *pgxpool.Pool
}

var _ connectors.Source = (*Source)(nil)

// Open creates the connection's pool; it connects on first use.
func Open(cfg *Config) (*Source, error) {
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Pool)
	if err != nil {
		return nil, redact(cfg, fmt.Errorf("connection %s: %w", cfg.ID, err))
	}
	return &Source{cfg: cfg, pool: pool}, nil
}

// Close closes the pool, waiting for connections in use to be released.
func (s *Source) Close() error {
	s.pool.Close()
	return nil
}

// Column is one column of a result.
type Column struct {
	// Name is the column's name, made unique within the result the way
	// DuckDB does it (a second "id" becomes "id_1").
	Name string
	// DuckDBType is the DuckDB type the column lands in.
	DuckDBType string
	// PGType names the Postgres type, for messages.
	PGType string
	// arrow decodes the column's values into Arrow.
	arrow *arrowColumn
}

// Fetch runs q in a transaction of its own (READ ONLY unless the
// connection says otherwise, with the connection's statement timeout),
// q.Args bound as $1.., and streams the result to w in Arrow record
// batches of BatchRows rows, decoded from the wire without a Go value per
// cell, so memory does not grow with the result. Cancelling ctx cancels
// the query on the server. Errors the server reports are a
// *connectors.Error (with the *pgconn.PgError reachable and its position
// as a byte offset into q.SQL); no error carries the connection's secret.
//
// A query with Since runs wrapped as an incremental refresh asks (see
// sinceQuery); positions in errors stay in q.SQL.
func (s *Source) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	sql, args, shift := q.SQL, q.Args, 0
	if q.Since != nil {
		sql, args, shift = sinceQuery(q)
	}
	err := s.inTx(ctx, func(tx pgx.Tx, tm *pgtype.Map) error {
		rows, err := tx.Query(ctx, sql, append([]any{textFormats}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !q.HasResult {
			for rows.Next() { // nothing to materialize: drop what it returns
			}
			return rows.Err()
		}
		if len(rows.FieldDescriptions()) == 0 {
			rows.Close() // failed before it described its columns
			if err := rows.Err(); err != nil {
				return err
			}
		}
		cols, err := columns(rows.FieldDescriptions(), tm)
		if err != nil {
			return err
		}
		return stream(rows, cols, w)
	})
	if err == nil {
		return nil
	}
	off := -1
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		if off = cells.ByteOffset(sql, int(pe.Position)-1) - shift; off < 0 || off > len(q.SQL) {
			off = -1 // in the wrapper, not the cell's SQL
		}
	}
	return &connectors.Error{Connection: s.cfg.ID, Offset: off, Detail: detail(pe), Err: redact(s.cfg, err)}
}

// sinceQuery wraps q's SQL to keep the rows whose watermark column is
// greater than q.Since.Value, bound as the next $N parameter, never
// formatted into the SQL. Postgres infers the parameter's type from the
// column's, so the value travels as text. It returns the SQL, the
// arguments and the bytes the wrapper puts before q.SQL.
func sinceQuery(q connectors.Query) (string, []any, int) {
	const head = "SELECT * FROM (\n"
	col := pgx.Identifier{q.Since.Column}.Sanitize()
	body := strings.TrimRight(q.SQL, " \t\r\n;") // a subquery ends without its ;
	sql := head + body + "\n) AS cellsd_since WHERE cellsd_since." + col + " > $" + strconv.Itoa(len(q.Args)+1)
	return sql, append(slices.Clone(q.Args), q.Since.Value), len(head)
}

// detail is what Postgres said beyond its message: its DETAIL and HINT
// lines (the SQLSTATE is in the message).
func detail(pe *pgconn.PgError) string {
	if pe == nil {
		return ""
	}
	var b strings.Builder
	if pe.Detail != "" {
		b.WriteString("\nDETAIL: " + pe.Detail)
	}
	if pe.Hint != "" {
		b.WriteString("\nHINT: " + pe.Hint)
	}
	return b.String()
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
		pgtype.TimeArrayOID, pgtype.IntervalArrayOID,
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
		c := columnOf(fd, tm)
		c.Name = name
		cols[i] = c
	}
	return cols, nil
}

// columnOf maps a Postgres column to its DuckDB type and Arrow decoding.
// A one-dimensional array of a type decoded from binary becomes a list;
// every type asked for in text format arrives as its text.
func columnOf(fd pgconn.FieldDescription, tm *pgtype.Map) Column {
	pgName := strconv.FormatUint(uint64(fd.DataTypeOID), 10)
	binary := textFormats[fd.DataTypeOID] == pgx.BinaryFormatCode
	if t, ok := tm.TypeForOID(fd.DataTypeOID); ok {
		pgName = t.Name
		if at, ok := t.Codec.(*pgtype.ArrayCodec); ok && binary {
			elem := at.ElementType.OID
			return Column{PGType: pgName, DuckDBType: duckDBType(elem, -1) + "[]", arrow: listOf(arrowOf(elem, -1))}
		}
	}
	if !binary {
		return Column{PGType: pgName, DuckDBType: textDuckDBType(fd.DataTypeOID), arrow: &arrowColumn{stringType, appendText}}
	}
	return Column{PGType: pgName, DuckDBType: duckDBType(fd.DataTypeOID, fd.TypeModifier), arrow: arrowOf(fd.DataTypeOID, fd.TypeModifier)}
}

// textDuckDBType is the DuckDB type of a column that arrives as text:
// JSON stays JSON and TIMETZ becomes TIMETZ (the load casts the text;
// Postgres prints them as DuckDB reads them); the rest, inet and cidr,
// enums, domains and extensions' types, land as VARCHAR.
func textDuckDBType(oid uint32) string {
	switch oid {
	case pgtype.JSONOID, pgtype.JSONBOID:
		return "JSON"
	case timetzOID:
		return "TIMETZ"
	}
	return "VARCHAR"
}

// duckDBType is the DuckDB type of a type decoded from binary.
func duckDBType(oid uint32, typmod int32) string {
	switch oid {
	case pgtype.BoolOID:
		return "BOOLEAN"
	case pgtype.Int2OID:
		return "SMALLINT"
	case pgtype.Int4OID:
		return "INTEGER"
	case pgtype.Int8OID:
		return "BIGINT"
	case pgtype.Float4OID:
		return "FLOAT"
	case pgtype.Float8OID:
		return "DOUBLE"
	case pgtype.NumericOID:
		// numeric(p,s) with p <= 38 is DECIMAL(p,s), exactly; wider or
		// unconstrained numerics become DOUBLE, which rounds beyond about
		// 15 significant digits (NaN and infinities keep their meaning).
		if p, s, ok := decimalOf(typmod); ok {
			return fmt.Sprintf("DECIMAL(%d,%d)", p, s)
		}
		return "DOUBLE"
	case pgtype.ByteaOID:
		return "BLOB"
	case pgtype.DateOID:
		return "DATE"
	case pgtype.TimestampOID:
		return "TIMESTAMP"
	case pgtype.TimestamptzOID:
		return "TIMESTAMPTZ"
	case pgtype.TimeOID:
		return "TIME"
	case pgtype.IntervalOID:
		return "INTERVAL"
	case pgtype.UUIDOID:
		return "UUID"
	}
	return "VARCHAR"
}

// decimalOf is the precision and scale of a numeric(p,s) typmod that
// fits a DECIMAL.
func decimalOf(typmod int32) (p, s int32, ok bool) {
	if typmod < 4 {
		return 0, 0, false
	}
	p, s = (typmod-4)>>16, (typmod-4)&0xffff
	return p, s, p >= 1 && p <= 38 && s <= p
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
