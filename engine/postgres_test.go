package engine_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/registry"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgRegistry returns a registry with connection "pg" to the test Postgres.
func pgRegistry(t testing.TB, mutate func(*connectors.Connection)) *connectors.Registry {
	t.Helper()
	return registryOf(t, connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)}, mutate)
}

// registryOf is a registry of c, changed by mutate first when not nil.
func registryOf(t testing.TB, c connectors.Connection, mutate func(*connectors.Connection)) *connectors.Registry {
	t.Helper()
	if mutate != nil {
		mutate(&c)
	}
	reg, err := connectors.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// testSources is a set of Sources closed when the test ends, after the
// sessions and engines opened later.
func testSources(t testing.TB) *registry.Sources {
	srcs := registry.New()
	t.Cleanup(func() {
		if err := srcs.Close(); err != nil {
			t.Errorf("close sources: %v", err)
		}
	})
	return srcs
}

func openPGSession(t testing.TB, nb *cells.Notebook, reg *connectors.Registry, opts engine.SessionOptions) *engine.Session {
	t.Helper()
	s, err := engine.OpenSession(context.Background(), engine.Config{Connections: reg, Sources: testSources(t)}, nb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPostgres_WarehouseFixture runs the README's Postgres notebook, moved
// into a schema of its own so that it cannot race with the check fixture
// that uses the same setup in another package's tests.
func TestPostgres_WarehouseFixture(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	setup, err := os.ReadFile(filepath.Join("..", "fixtures", "postgres", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	sql := strings.NewReplacer("DROP SCHEMA IF EXISTS warehouse CASCADE;", "", "CREATE SCHEMA warehouse;", "",
		"warehouse.", schema+".").Replace(string(setup))
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("setup: %v", err)
	}
	nb, err := cells.Load(filepath.Join("..", "fixtures", "notebooks", "warehouse.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range nb.Cells {
		c.SQL = strings.ReplaceAll(c.SQL, "warehouse.", schema+".")
	}
	s := openPGSession(t, nb, pgRegistry(t, func(c *connectors.Connection) { c.ID = "warehouse" }), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	for _, ev := range s.Status() {
		if ev.Status != engine.StatusSuccess {
			t.Errorf("%s: %s (%s %s)", ev.Cell, ev.Status, ev.Reason, ev.Err)
		}
	}
	var pgTotal, duckTotal string
	if err := pool.QueryRow(context.Background(), "SELECT sum(amount)::text FROM "+schema+".orders WHERE status IN ('paid', 'shipped')").Scan(&pgTotal); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().QueryRow("SELECT CAST(sum(revenue) AS VARCHAR) FROM __sqlrooms_ephemeral.artifact_warehouse.daily_orders").Scan(&duckTotal); err != nil {
		t.Fatal(err)
	}
	if pgTotal != duckTotal {
		t.Errorf("revenue is %s in Postgres, %s after the trip into DuckDB", pgTotal, duckTotal)
	}
}

// TestPostgres_Types reads one row of every supported type, and a row of
// NULLs, and compares what lands in DuckDB with what Postgres holds.
func TestPostgres_Types(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, fmt.Sprintf(`
		CREATE TYPE %[1]s.mood AS ENUM ('sad', 'happy');
		CREATE TABLE %[1]s.t (
			i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric(12,2), n38 numeric(38,10), nu numeric,
			tx text, vc varchar(10), ch char(3), b bool, d date, ts timestamp, tstz timestamptz, tm time, ttz timetz,
			iv interval, u uuid, j json, jb jsonb, by bytea, ai int4[], at text[], e %[1]s.mood, ip inet, cidr cidr);
		INSERT INTO %[1]s.t VALUES (
			-32768, 2147483647, -9223372036854775808, 1.5, 2.25, 1234567890.12, 1234567890123456789012345678.0123456789, 3.14159,
			'héllo ''q''', 'abc', 'xy', true, '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.5+02', '13:14:15.5', '13:14:15.5+02',
			'1 year 2 mons 3 days 04:05:06', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": null}', '\xdeadbeef',
			'{1,NULL,3}', '{"x","y z"}', 'happy', '192.168.0.1', '10.0.0.0/8');
		INSERT INTO %[1]s.t DEFAULT VALUES;`, schema)); err != nil {
		t.Fatal(err)
	}
	// With array columns the result takes the row path; without them, the
	// Arrow path. Both must land the same values.
	scalars := "i2, i4, i8, f4, f8, n, n38, nu, tx, vc, ch, b, d, ts, tstz, tm, ttz, iv, u, j, jb, by, e, ip, cidr"
	nb := parseNotebook(t, art(
		pgCell("c1", "types", fmt.Sprintf("SELECT * FROM %s.t ORDER BY i2 NULLS LAST", schema)),
		pgCell("c2", "types_columnar", fmt.Sprintf("SELECT %s FROM %s.t ORDER BY i2 NULLS LAST", scalars, schema)),
	))
	s := openPGSession(t, nb, pgRegistry(t, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	for _, id := range []string{"c1", "c2"} {
		if ev := statusOf(s)[id]; ev.Status != engine.StatusSuccess || *ev.Rows != 2 {
			t.Fatalf("%s: %s %s", id, ev.Status, ev.Err)
		}
	}
	// Each column as Postgres and DuckDB print it, normalised where the two
	// print the same value differently.
	checks := []struct{ col, pg, duck string }{
		{"i2", "i2::text", "CAST(i2 AS VARCHAR)"},
		{"i4", "i4::text", "CAST(i4 AS VARCHAR)"},
		{"i8", "i8::text", "CAST(i8 AS VARCHAR)"},
		{"f4", "f4::text", "CAST(f4 AS VARCHAR)"},
		{"f8", "f8::text", "CAST(f8 AS VARCHAR)"},
		{"n", "n::text", "CAST(n AS VARCHAR)"},
		{"n38", "n38::text", "CAST(n38 AS VARCHAR)"},
		{"nu", "nu::float8::text", "CAST(nu AS VARCHAR)"},
		{"tx", "tx", "tx"},
		{"vc", "vc", "vc"},
		{"ch", "ch::text", "rtrim(ch)"},
		{"b", "b::text", "CAST(b AS VARCHAR)"},
		{"d", "d::text", "CAST(d AS VARCHAR)"},
		{"ts", "to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US')", "strftime(ts, '%Y-%m-%d %H:%M:%S.%f')"},
		{"tstz", "extract(epoch FROM tstz)::numeric(20,6)::text", "CAST(CAST(epoch_us(tstz) AS DECIMAL(20,0)) / 1000000 AS DECIMAL(20,6))"},
		{"tm", "tm::text", "CAST(tm AS VARCHAR)"},
		{"ttz", "ttz::text", "CAST(ttz AS VARCHAR)"},
		{"iv", "(extract(year FROM iv) * 12 + extract(month FROM iv))::text || ' ' || extract(day FROM iv)::text || ' ' || (extract(epoch FROM iv - date_trunc('day', iv)) * 1000000)::bigint::text", "CAST(datepart('year', iv) * 12 + datepart('month', iv) AS VARCHAR) || ' ' || CAST(datepart('day', iv) AS VARCHAR) || ' ' || CAST(datepart('microseconds', iv) + 1000000 * (datepart('hour', iv) * 3600 + datepart('minute', iv) * 60) AS VARCHAR)"},
		{"u", "u::text", "CAST(u AS VARCHAR)"},
		{"j", "j::jsonb::text", "CAST(j AS VARCHAR)"},
		{"jb", "jb::text", "CAST(jb AS VARCHAR)"},
		{"by", "encode(by, 'hex')", `lower(hex("by"))`},
		{"ai", "array_to_string(ai, ',', 'NULL')", "array_to_string(list_transform(ai, x -> coalesce(CAST(x AS VARCHAR), 'NULL')), ',')"},
		{"at", "array_to_string(at, '|')", `array_to_string("at", '|')`},
		{"e", "e::text", "e"},
		{"ip", "host(ip)", "ip"},
		{"cidr", "cidr::text", "cidr"},
	}
	for _, rel := range []string{"types", "types_columnar"} {
		for _, c := range checks {
			if rel == "types_columnar" && (c.col == "ai" || c.col == "at") {
				continue
			}
			t.Run(rel+"/"+c.col, func(t *testing.T) {
				var pg []string
				rows, err := pool.Query(ctx, fmt.Sprintf("SELECT coalesce((%s)::text, 'NULL') FROM %s.t ORDER BY i2 NULLS LAST", c.pg, schema))
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var v string
					rows.Scan(&v)
					pg = append(pg, v)
				}
				rows.Close()
				var duck []string
				for _, r := range queryRows(t, s.DB(), fmt.Sprintf("SELECT coalesce(CAST(%s AS VARCHAR), 'NULL') FROM __sqlrooms_ephemeral.artifact_nb.%s ORDER BY i2 NULLS LAST", c.duck, rel)) {
					duck = append(duck, r[0])
				}
				if c.col == "j" || c.col == "jb" { // compare JSON values, not spacing
					for i := range duck {
						duck[i] = strings.ReplaceAll(duck[i], " ", "")
						pg[i] = strings.ReplaceAll(pg[i], " ", "")
					}
				}
				if !reflect.DeepEqual(pg, duck) {
					t.Errorf("%s: Postgres %q, DuckDB %q", c.col, pg, duck)
				}
			})
		}
	}
	types := queryRows(t, s.DB(), "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_catalog = '__sqlrooms_ephemeral' AND table_name LIKE 'types%' AND column_name IN ('n', 'n38', 'nu', 'u', 'ai', 'jb', 'tstz', 'ttz', 'iv', 'e') ORDER BY table_name, column_name")
	var want [][]string
	for _, rel := range []string{"types", "types_columnar"} {
		for _, ct := range [][2]string{{"ai", "INTEGER[]"}, {"e", "VARCHAR"}, {"iv", "INTERVAL"}, {"jb", "JSON"}, {"n", "DECIMAL(12,2)"}, {"n38", "DECIMAL(38,10)"}, {"nu", "DOUBLE"}, {"tstz", "TIMESTAMP WITH TIME ZONE"}, {"ttz", "TIME WITH TIME ZONE"}, {"u", "UUID"}} {
			if rel == "types_columnar" && ct[0] == "ai" {
				continue
			}
			want = append(want, []string{rel, ct[0], ct[1]})
		}
	}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("DuckDB types %v, want %v", types, want)
	}
}

func TestPostgres_Faults(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Pool(t)
	nb := parseNotebook(t, art(
		pgCell("c1", "remote", "SELECT g AS id, 1 AS id, 'x' AS \"select\" FROM generate_series(1, 3) AS g"),
		sqlCell("c2", "local", "SELECT count(*) AS n FROM remote"),
	))
	// A name of this test's own for its backends, so other tests' cellsd
	// backends on the same server do not count below.
	appName := "cellsd_faults_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	reg := pgRegistry(t, func(c *connectors.Connection) { c.DSN = withParam(c.DSN, "application_name", appName) })
	s := openPGSession(t, nb, reg, engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	if got := queryRows(t, s.DB(), `SELECT id, id_1, "select" FROM __sqlrooms_ephemeral.artifact_nb.remote ORDER BY id`); !reflect.DeepEqual(got, [][]string{{"1", "1", "x"}, {"2", "1", "x"}, {"3", "1", "x"}}) {
		t.Errorf("duplicate and keyword column names: %v", got)
	}

	t.Run("SQLErrorKeepsPreviousResult", func(t *testing.T) {
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT 1 AS a,\n  nope FROM generate_series(1, 3) AS g")}))
		ev := statusOf(s)["c1"]
		if ev.Status != engine.StatusError || !strings.Contains(ev.Err, `column "nope" does not exist`) || !strings.Contains(ev.Err, "line 2, column 3") || !strings.Contains(ev.Err, "connection pg") {
			t.Errorf("c1: %s %q", ev.Status, ev.Err)
		}
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.remote"); got[0][0] != "3" {
			t.Errorf("previous result lost: %v", got)
		}
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__cellsd_staging%'"); got[0][0] != "0" {
			t.Errorf("%s staging tables left", got[0][0])
		}
	})

	t.Run("CancelMidQuery", func(t *testing.T) {
		mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT pg_sleep(30), 1 AS id")})
		poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
			var n int
			pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'").Scan(&n)
			if n == 0 {
				return fmt.Errorf("query not running yet")
			}
			return nil
		})
		start := time.Now()
		if err := s.Cancel("c1"); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, time.Second, 10*time.Millisecond, func() error {
			var n int
			pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'").Scan(&n)
			if n > 0 || statusOf(s)["c1"].Status != engine.StatusCancel {
				return fmt.Errorf("%s after cancel: query still active on the server or c1 %s", time.Since(start), statusOf(s)["c1"].Status)
			}
			return nil
		})
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.remote"); got[0][0] != "3" {
			t.Errorf("previous result lost: %v", got)
		}
	})

	t.Run("BackendTerminated", func(t *testing.T) {
		mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT g, pg_sleep(0.001) FROM generate_series(1, 20000) AS g")})
		poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
			var n int
			pool.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'SELECT g, pg_sleep%' AND state = 'active'").Scan(&n)
			if n == 0 {
				return fmt.Errorf("query not running yet")
			}
			return nil
		})
		poll.Until(t, 5*time.Second, 10*time.Millisecond, func() error {
			if ev := statusOf(s)["c1"]; ev.Status != engine.StatusError {
				return fmt.Errorf("c1 is %s", ev.Status)
			}
			return nil
		})
		// The session's connections are back in the pool: none is still in
		// a transaction or a query on the server.
		poll.Until(t, 2*time.Second, 10*time.Millisecond, func() error {
			var n int
			pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'", appName).Scan(&n)
			if n > 0 {
				return fmt.Errorf("%d cellsd backends still busy", n)
			}
			return nil
		})
		if got := queryRows(t, s.DB(), "SELECT count(*) FROM __sqlrooms_ephemeral.artifact_nb.remote"); got[0][0] != "3" {
			t.Errorf("previous result lost: %v", got)
		}
	})
}

// TestPostgres_EmptyResult checks that a result without rows lands as an
// empty table with the right columns, on both paths.
func TestPostgres_EmptyResult(t *testing.T) {
	nb := parseNotebook(t, art(
		pgCell("c1", "columnar", "SELECT 1::int8 AS id, 'x'::text AS name, now() AS at WHERE false"),
		pgCell("c2", "rowwise", "SELECT 1::int8 AS id, ARRAY[1] AS list WHERE false"),
	))
	s := openPGSession(t, nb, pgRegistry(t, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	for _, id := range []string{"c1", "c2"} {
		if ev := statusOf(s)[id]; ev.Status != engine.StatusSuccess || *ev.Rows != 0 {
			t.Errorf("%s: %s rows %v %s", id, ev.Status, ev.Rows, ev.Err)
		}
	}
	got := queryRows(t, s.DB(), "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_catalog = '__sqlrooms_ephemeral' AND table_name IN ('columnar', 'rowwise') ORDER BY table_name, ordinal_position")
	want := [][]string{{"columnar", "id", "BIGINT"}, {"columnar", "name", "VARCHAR"}, {"columnar", "at", "TIMESTAMP WITH TIME ZONE"}, {"rowwise", "id", "BIGINT"}, {"rowwise", "list", "INTEGER[]"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("empty results' columns %v, want %v", got, want)
	}
}

func TestPostgres_SecretsStayOut(t *testing.T) {
	const secret = "s3cr3t-Zebra-9911"
	t.Setenv("CELLSD_TEST_SECRET", secret)
	reg := pgRegistry(t, func(c *connectors.Connection) {
		c.DSN = ""
		c.Host, c.Port, c.Database, c.User, c.PasswordEnv = "127.0.0.1", "1", "test", "postgres", "CELLSD_TEST_SECRET"
	})
	rec := &recorder{}
	s := openPGSession(t, parseNotebook(t, art(pgCell("c1", "remote", "SELECT 1"))), reg, engine.SessionOptions{Observe: rec.observe})
	mustRunSession(t, s, engine.RunRequest{})
	s.Flush()
	ev := statusOf(s)["c1"]
	if ev.Status != engine.StatusError || !strings.HasPrefix(ev.Err, "connection pg: ") || strings.Count(ev.Err, "connection pg:") != 1 {
		t.Errorf("c1: %s %q, want an error naming the connection once", ev.Status, ev.Err)
	}
	all := fmt.Sprintf("%+v %+v", rec.all(), s.Report(""))
	if strings.Contains(all, secret) {
		t.Errorf("the secret appears in events or the report: %s", all)
	}
}

// withParam adds a setting to a DSN, URL or key=value.
func withParam(dsn, key, value string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
