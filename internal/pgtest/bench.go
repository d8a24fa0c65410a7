package pgtest

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// WideTable creates <schema>.wide: rows rows of 9 columns (bigint, int,
// text, numeric(12,2), timestamptz, bool, float8, date, uuid), the table
// the data-path benchmarks move, and returns the query that reads it.
func WideTable(tb testing.TB, pool *pgxpool.Pool, schema string, rows int) string {
	tb.Helper()
	if _, err := pool.Exec(context.Background(), fmt.Sprintf(`
		CREATE TABLE %[1]s.wide AS
		SELECT g::bigint AS id, (g %% 1000)::int AS k, 'customer ' || g AS name,
		       ((g %% 100000) / 100.0)::numeric(12,2) AS amount,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at,
		       g %% 2 = 0 AS flag, g / 7.0::float8 AS ratio, date '2024-01-01' + (g %% 366) AS day,
		       md5(g::text)::uuid AS u
		FROM generate_series(1, %[2]d) AS g;
		ANALYZE %[1]s.wide;`, schema, rows)); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("SELECT * FROM %s.wide", schema)
}

// CopyFloor times the physical floor of moving query's rows out of
// Postgres: the query as COPY ... TO STDOUT (FORMAT binary), drained into
// io.Discard.
func CopyFloor(tb testing.TB, pool *pgxpool.Pool, query string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Release()
	start := time.Now()
	if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY ("+query+") TO STDOUT (FORMAT binary)"); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}
