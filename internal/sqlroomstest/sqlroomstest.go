// Package sqlroomstest drives a cellsd SQLRooms DB bridge with the real
// published SQLRooms client, for end-to-end tests: the @sqlrooms/db
// package's dist/bridge.js, bundled by esbuild and run by node
// (engine/daemon/bridgeserver/testdata/sqlrooms/e2e.mjs), calls every method of
// createHttpDbBridge against a server, and Run checks what the client
// decoded against the rows in Postgres:
//
//	client := sqlroomstest.NewClient(t) // skips without node, npm
//	// start the server, sqlroomstest.People(t, pool, schema)
//	client.Run(t, sqlroomstest.Target{...})
//
// RunMySQL does the same for a MySQL connection (MySQLConnectionID,
// read-only, on the database MySQLPeople filled) with e2e_mysql.mjs, and
// checks against MariaDB.
//
// The server must serve the bridge under {URL}/api/db/ behind a bearer
// token, with the core DuckDB (connectors.CoreID, in memory) and a
// read-only Postgres connection named ConnectionID on the database of the
// test's pool; the tables the script reads are made by People.
//
// The first run installs the harness (npm pack, npm ci, esbuild) into the
// user cache directory; later runs reuse it. Without node or npm,
// NewClient skips the test with a message starting "SKIP:", except when the
// environment variable CI is set, where it fails the test; with -short it
// skips.
package sqlroomstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/bridge"
)

// Package is the published client the end-to-end test drives.
const Package = "@sqlrooms/db@0.29.0"

// ConnectionID is the id of the Postgres connection e2e.mjs queries. It
// must be read-only (the script checks that an INSERT is refused).
const ConnectionID = "pg"

// Target is a running bridge and the Postgres behind it.
type Target struct {
	// URL is the base URL; the bridge is under URL/api/db/.
	URL string
	// Token is the bearer token the bridge requires.
	Token string
	// Pool is on the database connection ConnectionID queries.
	Pool *pgxpool.Pool
	// Schema holds the tables People made.
	Schema string
	// Connections are the ids list-connections must answer, in order
	// (connectors.CoreID first).
	Connections []string
	// CoreDatabases are the databases list-catalog must answer for the
	// core DuckDB, in order: "memory", and those the server attaches.
	CoreDatabases []string
}

// People fills schema with table people, holding the scalar types the
// columnar path decodes, an array column the row path takes and NULLs, and
// view people_names.
func People(t testing.TB, pool *pgxpool.Pool, schema string) {
	t.Helper()
	sql := fmt.Sprintf(`
		CREATE TABLE %[1]s.people (id bigint PRIMARY KEY, name text, amount numeric(12,2), at timestamptz,
			flag bool, ratio float8, day date, u uuid, tags int[]);
		INSERT INTO %[1]s.people VALUES
			(1, 'Ada', 12.34, '2024-01-02 03:04:05.123456+00', true, 0.5, '2024-01-02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,2}'),
			(2, 'Grace', -0.5, '1999-12-31 23:59:59+00', false, -1.25, '1999-12-31', '00000000-0000-0000-0000-000000000001', '{}'),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
		CREATE VIEW %[1]s.people_names AS SELECT id, name FROM %[1]s.people;`, schema)
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Client is the SQLRooms client, installed and ready to run.
type Client struct {
	node string // the node binary
	dir  string // the harness, see Harness
}

// NewClient finds node and npm and installs the harness. It skips under
// -short, and without node or npm (see the package comment); call it
// before starting the server, so that a skip costs nothing.
func NewClient(t testing.TB) *Client {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: the SQLRooms end-to-end test runs node")
	}
	node, npm := NeedTool(t, "node"), NeedTool(t, "npm")
	return &Client{node: node, dir: Harness(t, npm)}
}

// Run runs e2e.mjs against tg and checks everything the client decoded:
// the rows equal those in Postgres, a streamed query comes in several
// batches, aborting a stream takes its query off the Postgres server, and
// errors carry the bridge's status.
func (c *Client) Run(t testing.TB, tg Target) *Result {
	t.Helper()
	marker := "e2e_abort_" + tg.Schema
	got := new(Result)
	c.runJSON(t, "e2e.mjs", got, "BRIDGE_URL="+tg.URL, "BRIDGE_TOKEN="+tg.Token, "PG_SCHEMA="+tg.Schema, "E2E_MARKER="+marker)
	logAbort(t, got.Abort)
	check(t, got, tg, marker)
	return got
}

// logAbort logs how aborting a stream went.
func logAbort(t testing.TB, ab AbortResult) {
	t.Helper()
	t.Logf("abort: first batch of %d rows; query seen after %d ms; aborted, %d more batches, then %q; query gone %d ms after the abort",
		ab.FirstBatchRows, ab.RunningAfterMs, ab.BatchesAfterAbort, ab.AfterAbort, ab.GoneAfterMs)
}

// runJSON runs the script name of the harness's source directory with the
// environment env and decodes what it prints into out. With E2E_DUMP set,
// the output is logged.
func (c *Client) runJSON(t testing.TB, name string, out any, env ...string) {
	t.Helper()
	stdout := c.RunScript(t, name, env...)
	if os.Getenv("E2E_DUMP") != "" {
		t.Logf("%s", stdout)
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("decode the client's output: %v\n%s", err, stdout)
	}
}

// wantPeople reads people with pgx and returns the rows as the client
// represents them: Arrow (64-bit integers as text, decimals at their
// scale, timestamps as JS dates, with ms, UUIDs as 16 bytes) and JSON
// (numbers, ISO text with µs, UUID text).
func wantPeople(t testing.TB, tg Target) (wantArrow, wantJSON [][]any) {
	t.Helper()
	rows, err := tg.Pool.Query(context.Background(), fmt.Sprintf(
		`SELECT id, name, amount::text, amount::float8, at, flag, ratio, day::text, u::text FROM %s.people ORDER BY id`, tg.Schema))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                   int64
			name, amount, day, u *string
			amountF, ratio       *float64
			at                   *time.Time
			flag                 *bool
		)
		if err := rows.Scan(&id, &name, &amount, &amountF, &at, &flag, &ratio, &day, &u); err != nil {
			t.Fatal(err)
		}
		var atArrow, atJSON, uArrow any
		if at != nil {
			atArrow = at.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
			atJSON = at.UTC().Format(time.RFC3339Nano)
		}
		if u != nil {
			uArrow = strings.ReplaceAll(*u, "-", "")
		}
		wantArrow = append(wantArrow, []any{fmt.Sprint(id), name, amount, atArrow, flag, ratio, day, uArrow})
		wantJSON = append(wantJSON, []any{id, name, amountF, atJSON, flag, ratio, day, u})
	}
	if err := rows.Err(); err != nil || len(wantJSON) != 3 {
		t.Fatalf("read people: %v (%d rows)", err, len(wantJSON))
	}
	return wantArrow, wantJSON
}

// check compares what the client decoded with what it should have.
func check(t testing.TB, got *Result, tg Target, marker string) {
	t.Helper()
	wantArrow, wantJSON := wantPeople(t, tg)
	tc := got.TestConnection
	expect(t, "testConnection", tc.PG && tc.Core, "pg %v, core %v", tc.PG, tc.Core)
	checkRefusals(t, tc.Unknown, tc.NoToken)

	pgCat := got.ListCatalog.PG
	expect(t, "listCatalog pg", len(pgCat.Databases) > 0 && slices.Contains(pgCat.Tables, bridge.CatalogTable{Database: pgCat.Databases[0].Database,
		Schema: tg.Schema, Table: "people_names", IsView: true}), "view people_names missing: %+v", pgCat)
	var coreDBs []string
	for _, d := range got.ListCatalog.Core.Databases {
		coreDBs = append(coreDBs, d.Database)
	}
	expect(t, "listCatalog core", slices.Equal(coreDBs, tg.CoreDatabases), "databases %q, want %q: %+v", coreDBs, tg.CoreDatabases, got.ListCatalog.Core)

	eq := got.ExecuteQuery
	var gotJSON [][]any
	for _, r := range eq.JSON {
		if at, ok := r["at"].(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, at); err == nil {
				r["at"] = ts.UTC().Format(time.RFC3339Nano)
			}
		}
		gotJSON = append(gotJSON, []any{r["id"], r["name"], r["amount"], r["at"], r["flag"], r["ratio"], r["day"], r["u"]})
	}
	expect(t, "executeQuery json", reflect.DeepEqual(normalize(t, gotJSON), normalize(t, wantJSON)), "got %v\nwant %v", gotJSON, wantJSON)
	expect(t, "executeQuery exec core", len(eq.CoreJSON) == 1 && fmt.Sprint(eq.CoreJSON[0]["answer"]) == "42", "%v", eq.CoreJSON)
	expect(t, "executeQuery read-only", strings.Contains(eq.ExecReadOnly, "(422)") && strings.Contains(eq.ExecReadOnly, "read-only transaction"), "%q", eq.ExecReadOnly)
	expect(t, "executeQuery SQL error", strings.Contains(eq.SQLError, "(422)") && strings.Contains(eq.SQLError, "nowhere"), "%q", eq.SQLError)

	fa := got.FetchArrow
	expect(t, "fetchArrow pg rows", reflect.DeepEqual(normalize(t, fa.PG.Rows), normalize(t, wantArrow)), "got %v\nwant %v", fa.PG.Rows, wantArrow)
	expect(t, "fetchArrow core", reflect.DeepEqual(normalize(t, fa.Core.Rows), normalize(t, [][]any{{"1", "x", "2.50", []any{1, 2}}})), "%v (fields %v)", fa.Core.Rows, fa.Core.Fields)
	expect(t, "fetchArrow SQL error", strings.Contains(fa.SQLError, "(422)"), "%q", fa.SQLError)

	checkStream(t, got.FetchArrowStream)
	ab := got.Abort
	checkAbort(t, ab, "pg_stat_activity")
	expect(t, "abort cancels the query", ab.GoneAfterMs >= 0, "the query still ran 10 s after the abort")
	if n := ActiveQueries(t, tg.Pool, marker); n != 0 {
		t.Errorf("%d backends still run the aborted query", n)
	}
	expect(t, "cancelQuery unknown", !got.CancelQuery.Unknown, "cancelled an unknown query")
	checkListConnections(t, got.ListConnections, tg.Connections)
}

// expect fails the test with the check's name and the message when ok is
// false.
func expect(t testing.TB, name string, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("%s: "+format, append([]any{name}, args...)...)
	}
}

// checkRefusals checks the errors of testConnection on an unknown
// connection and without the token.
func checkRefusals(t testing.TB, unknown, noToken string) {
	t.Helper()
	expect(t, "testConnection unknown", strings.Contains(unknown, "(404)") && strings.Contains(unknown, `unknown connection "nope"`), "%q", unknown)
	expect(t, "testConnection without token", strings.Contains(noToken, "(401)"), "%q", noToken)
}

// checkStream checks the batches of the streamed query: ids 1 to 10,500
// in order, in 11 batches, and the error of a stream of a missing table.
func checkStream(t testing.TB, st StreamResult) {
	t.Helper()
	total, next := 0, 1
	for _, b := range st.Batches {
		expect(t, "stream batch", b.First == next && b.Last == next+b.Rows-1, "batch %+v after id %d", b, next-1)
		total += b.Rows
		next += b.Rows
	}
	expect(t, "stream", len(st.Batches) == 11 && total == 10500, "%d batches, %d rows", len(st.Batches), total)
	expect(t, "stream SQL error", strings.Contains(st.SQLError, "nowhere"), "%q", st.SQLError)
}

// checkAbort checks what every bridge must do when a stream is aborted;
// activity names where the database lists running queries.
func checkAbort(t testing.TB, ab AbortResult, activity string) {
	t.Helper()
	expect(t, "abort first batch", ab.FirstBatchRows == 1000, "%d rows", ab.FirstBatchRows)
	expect(t, "abort running", ab.RunningAfterMs >= 0, "the query never showed in %s", activity)
	expect(t, "abort rejects", ab.AfterAbort != "", "the stream went on after the abort")
	expect(t, "abort cancel again", !ab.CancelAgain, "cancel-query after the end found the query")
}

// checkListConnections checks list-connections: the ids want, in order,
// the core DuckDB first.
func checkListConnections(t testing.TB, lc ListConnectionsResult, want []string) {
	t.Helper()
	var ids []string
	for _, c := range lc.Body.Connections {
		ids = append(ids, c.ID)
	}
	expect(t, "list-connections", lc.Status == 200 && slices.Equal(ids, want) && len(ids) > 0 && lc.Body.Connections[0].IsCore &&
		ids[0] == connectors.CoreID, "ids %q, want %q: %+v", ids, want, lc)
}

// ActiveQueries counts the Postgres backends running a query whose text
// contains marker (other than the one asking).
func ActiveQueries(t testing.TB, pool *pgxpool.Pool, marker string) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`,
		marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Result is what e2e.mjs prints.
type Result struct {
	TestConnection struct {
		PG, Core         bool
		Unknown, NoToken string
	}
	ListCatalog struct {
		PG, Core bridge.CatalogResponse
	}
	ExecuteQuery struct {
		JSON         []map[string]any `json:"json"`
		ExecCore     map[string]any
		CoreJSON     []map[string]any `json:"coreJson"`
		ExecReadOnly string
		SQLError     string `json:"sqlError"`
	}
	FetchArrow struct {
		PG, Core struct {
			Fields []struct{ Name, Type string }
			Rows   [][]any
		}
		SQLError string `json:"sqlError"`
	}
	FetchArrowStream StreamResult
	Abort            AbortResult
	CancelQuery      struct{ Unknown bool }
	ListConnections  ListConnectionsResult
}

// StreamResult is what a script saw of a streamed query: the first and
// last id of each batch.
type StreamResult struct {
	Batches []struct {
		Rows, First, Last int
	}
	SQLError string `json:"sqlError"`
}

// AbortResult is what a script saw when it aborted a stream.
type AbortResult struct {
	FirstBatchRows, RunningAfterMs, GoneAfterMs, TookMs, BatchesAfterAbort int
	AfterAbort                                                             string
	CancelAgain                                                            bool
}

// ListConnectionsResult is list-connections' status and body.
type ListConnectionsResult struct {
	Status int
	Body   bridge.ListConnectionsResponse
}

// normalize round-trips v through JSON, so values of different Go types
// that print alike compare equal.
func normalize(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// RunScript runs a script of the harness's source directory (a sibling of
// e2e.mjs, importing ./bridge.bundle.mjs) with node and the environment
// variables env ("NAME=value"), and returns what it prints on stdout.
func (c *Client) RunScript(t testing.TB, name string, env ...string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(SourceDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(c.dir, fmt.Sprintf("%s-%d.mjs", strings.TrimSuffix(name, ".mjs"), os.Getpid()))
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(script) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.node, script)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", name, err, stderr.String())
	}
	return stdout
}
