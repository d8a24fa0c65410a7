package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
)

// withRefresh sets a cell's refresh policy and, when key is not empty,
// its unique_key.
func withRefresh(c nbCell, policy, key string) nbCell {
	d := c["data"].(map[string]any)
	d["refresh"] = policy
	if key != "" {
		d["unique_key"] = key
	}
	return c
}

// pgExec runs SQL on the test Postgres or fails the test.
func pgExec(t testing.TB, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// count is a DuckDB query's single integer.
func count(t testing.TB, s *engine.Session, sql string) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRow(sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestRefresh_IncrementalAppendAndUpsert gives a Postgres table three
// rounds of inserts and updates: the append cell gains the rows whose
// watermark moved (an updated row again, as documented), the upsert cell
// holds each id once with its latest value, and a DuckDB cell downstream
// reruns only when rows were added.
func TestRefresh_IncrementalAppendAndUpsert(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	pgExec(t, pool, `CREATE TABLE `+schema+`.events (id int PRIMARY KEY, updated_at timestamptz NOT NULL, val text);
		INSERT INTO `+schema+`.events SELECT i, timestamptz '2026-01-01' + i * interval '1 second', 'v0' FROM generate_series(1, 5000) i`)
	src := `SELECT id, updated_at, val FROM ` + schema + `.events`
	nb := parseNotebook(t, art(
		withRefresh(pgCell("a", "appended", src), "incremental:updated_at", ""),
		withRefresh(pgCell("u", "upserted", src), "incremental:updated_at", "id"),
		sqlCell("d", "latest", "SELECT count(DISTINCT id) AS ids, max(val) AS val FROM upserted"),
	))
	s := openPGSession(t, nb, pgRegistry(t, nil), engine.SessionOptions{Concurrency: 4})
	mustRunSession(t, s, engine.RunRequest{})
	if got := statusOf(s)["a"].Reason; got != "executed" {
		t.Fatalf("first run of a: reason %q, want a full load (executed)", got)
	}
	wantAppended, wantIDs := int64(5000), int64(5000)
	for round := 1; round <= 3; round++ {
		// 1,000 new rows and 100 old rows updated, their watermark moved.
		pgExec(t, pool, fmt.Sprintf(`INSERT INTO %[1]s.events SELECT i, timestamptz '2026-06-0%[2]d' + i * interval '1 second', 'v%[2]d'
				FROM generate_series(%[3]d, %[4]d) i;
			UPDATE %[1]s.events SET updated_at = timestamptz '2026-06-0%[2]d 12:00' + id * interval '1 second', val = 'v%[2]d'
				WHERE id BETWEEN %[5]d AND %[6]d`,
			schema, round, 5000+1000*(round-1)+1, 5000+1000*round, 100*round, 100*round+99))
		mustRunSession(t, s, engine.RunRequest{})
		wantAppended += 1100
		wantIDs += 1000
		st := statusOf(s)
		if st["a"].Reason != "incremental: 1100 new rows" || st["u"].Reason != "incremental: 1100 new rows" {
			t.Errorf("round %d: reasons a %q, u %q, want 1100 new rows each", round, st["a"].Reason, st["u"].Reason)
		}
		if got := count(t, s, "SELECT count(*) FROM "+resultsOf("appended")); got != wantAppended {
			t.Errorf("round %d: appended has %d rows, want %d", round, got, wantAppended)
		}
		if got := count(t, s, "SELECT count(*) FROM "+resultsOf("upserted")); got != wantIDs {
			t.Errorf("round %d: upserted has %d rows, want %d (each id once)", round, got, wantIDs)
		}
		if got := count(t, s, fmt.Sprintf("SELECT count(*) FROM "+resultsOf("upserted")+" WHERE val = 'v%d'", round)); got != 1100 {
			t.Errorf("round %d: %d rows of upserted carry this round's value, want 1100", round, got)
		}
		if st["d"].Cached || *st["d"].Rows != 1 {
			t.Errorf("round %d: downstream d %+v, want it run again", round, st["d"])
		}
	}
	// Nothing new: no rows added, and the downstream cell is cached.
	mustRunSession(t, s, engine.RunRequest{})
	st := statusOf(s)
	if st["u"].Reason != "incremental: 0 new rows" || !st["d"].Cached {
		t.Errorf("run without new rows: u %q, d cached %v; want 0 new rows and d cached", st["u"].Reason, st["d"].Cached)
	}
	if got := count(t, s, "SELECT count(*) FROM "+resultsOf("appended")); got != wantAppended {
		t.Errorf("appended has %d rows after a run without new rows, want %d", got, wantAppended)
	}
	var mark string
	var added int64
	if err := s.DB().QueryRow(`SELECT watermark, rows_added FROM __sqlrooms_ephemeral.main.cellsd_provenance WHERE cell_id = 'u' AND rows_added IS NOT NULL ORDER BY finished_at DESC LIMIT 1 OFFSET 1`).Scan(&mark, &added); err != nil {
		t.Fatalf("provenance: %v", err)
	}
	if added != 1100 || !strings.HasPrefix(mark, "2026-06-03 12:") {
		t.Errorf("provenance of round 3: watermark %q, rows_added %d; want the watermark of round 3's last update and 1100", mark, added)
	}
}

// resultsOf is the relation of artifact nb's result name.
func resultsOf(name string) string { return "__sqlrooms_ephemeral.artifact_nb." + name }

// TestRefresh_IncrementalFaults: a missing or unordered watermark column,
// duplicates of the unique key and a fetch failing mid-stream are cell
// errors that leave the previous result as it was.
func TestRefresh_IncrementalFaults(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	pgExec(t, pool, `CREATE TABLE `+schema+`.t (id int, w int, doc json);
		INSERT INTO `+schema+`.t SELECT i, i, '{}' FROM generate_series(1, 100) i`)
	good := `SELECT id, w, doc FROM ` + schema + `.t`
	nb := parseNotebook(t, art(withRefresh(pgCell("c", "res", good), "incremental:w", "id")))
	s := openPGSession(t, nb, pgRegistry(t, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	intact := func(what string, want int64) {
		t.Helper()
		if got := count(t, s, "SELECT count(*) FROM "+resultsOf("res")); got != want {
			t.Errorf("%s: res has %d rows, want the previous %d", what, got, want)
		}
	}
	for _, tc := range []struct{ name, sql, want string }{
		{"Missing", `SELECT id FROM ` + schema + `.t`, `incremental refresh: watermark the result has no column "w"`},
		{"JSON", `SELECT id, doc AS w FROM ` + schema + `.t`, `incremental refresh: watermark column "w" is JSON, a type without an order`},
		{"DuplicateKey", `SELECT 1 AS id, w FROM ` + schema + `.t`, `unique_key "id": 100 rows of the result have id = '1'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c", SQL: &tc.sql}))
			ev := statusOf(s)["c"]
			if ev.Status != engine.StatusError || !strings.Contains(ev.Err, tc.want) {
				t.Errorf("status %s, error %q; want an error with %q", ev.Status, ev.Err, tc.want)
			}
			intact(tc.name, 100)
		})
	}
	// Back to the good SQL (a full load), then an increment that fails
	// after two batches of rows have streamed: nothing of it lands.
	wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c", SQL: ptr(`SELECT id, w, 10 / (id - 20000) AS x FROM ` + schema + `.t`)}))
	if ev := statusOf(s)["c"]; ev.Status != engine.StatusSuccess {
		t.Fatalf("full load: %s %s", ev.Status, ev.Err)
	}
	pgExec(t, pool, `INSERT INTO `+schema+`.t SELECT i, i, '{}' FROM generate_series(101, 20000) i`)
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["c"]; ev.Status != engine.StatusError || !strings.Contains(ev.Err, "division by zero") {
		t.Errorf("failing increment: %s %q, want a division by zero error", ev.Status, ev.Err)
	}
	intact("failed increment", 100)
	if got := count(t, s, "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '__cellsd_staging_%'"); got != 0 {
		t.Errorf("%d staging tables left", got)
	}
}

// TestRefresh_ManualSkippedByRunAll: a manual cell keeps its result
// through run-all and cascades; a run of the cell fetches it again.
func TestRefresh_ManualSkippedByRunAll(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	pgExec(t, pool, `CREATE TABLE `+schema+`.t AS SELECT i FROM generate_series(1, 10) i`)
	nb := parseNotebook(t, art(
		withRefresh(pgCell("m", "snap", `SELECT i FROM `+schema+`.t`), "manual", ""),
		sqlCell("d", "n", "SELECT count(*) AS n FROM snap"),
	))
	s := openPGSession(t, nb, pgRegistry(t, nil), engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	pgExec(t, pool, `INSERT INTO `+schema+`.t SELECT i FROM generate_series(11, 15) i`)
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["m"]; ev.Reason != "manual refresh" || !ev.Cached {
		t.Errorf("run-all: m %q cached %v, want skipped with reason manual refresh", ev.Reason, ev.Cached)
	}
	if got := count(t, s, "SELECT count(*) FROM "+resultsOf("snap")); got != 10 {
		t.Errorf("after run-all snap has %d rows, want the first fetch's 10", got)
	}
	mustRunSession(t, s, engine.RunRequest{CellID: "m"})
	if got := count(t, s, "SELECT n FROM "+resultsOf("n")); got != 15 {
		t.Errorf("after run m, n = %d, want 15 (refetched, downstream rerun)", got)
	}
}

// fastClock is the real clock run speed times faster: a ttl of a minute
// passes in 60/speed seconds of the test.
type fastClock struct {
	start time.Time
	speed time.Duration
}

func (c fastClock) Now() time.Time { return c.start.Add(time.Since(c.start) * c.speed) }
func (c fastClock) AfterFunc(d time.Duration, f func()) engine.Timer {
	return time.AfterFunc(d/c.speed, f)
}

// TestRefresh_TTL: a ttl result is marked stale when it ages, and in
// autorun mode fetched again with its downstream; a run-all before that
// serves it from cache; Close stops the timers.
func TestRefresh_TTL(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	pgExec(t, pool, `CREATE TABLE `+schema+`.t AS SELECT i FROM generate_series(1, 3) i`)
	verify := leaktest.Start(t)
	nb := parseNotebook(t, art(
		withRefresh(pgCell("p", "recent", `SELECT i FROM `+schema+`.t`), "ttl:1m", ""),
		sqlCell("d", "n", "SELECT count(*) AS n FROM recent"),
	))
	var mu sync.Mutex
	var stale []string
	rec := &recorder{on: func(ev engine.Event) {
		if ev.Status == engine.StatusStale {
			mu.Lock()
			stale = append(stale, ev.Cell+": "+ev.Reason)
			mu.Unlock()
		}
	}}
	clock := fastClock{start: time.Now(), speed: 200} // a minute is 300ms
	srcs := testSources(t)
	s, err := engine.OpenSession(context.Background(), engine.Config{Connections: pgRegistry(t, nil), Sources: srcs}, nb,
		engine.SessionOptions{Clock: clock, Observe: rec.observe})
	if err != nil {
		t.Fatal(err)
	}
	mustRunSession(t, s, engine.RunRequest{})
	mustRunSession(t, s, engine.RunRequest{})
	if ev := statusOf(s)["p"]; !ev.Cached {
		t.Errorf("run-all within the ttl: p %q, want cached", ev.Reason)
	}
	pgExec(t, pool, `INSERT INTO `+schema+`.t VALUES (4)`)
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() error {
		var n int64
		if err := s.DB().QueryRow("SELECT n FROM " + resultsOf("n")).Scan(&n); err != nil || n != 4 {
			return fmt.Errorf("the aged result is not refetched with its downstream: n = %d (%v)", n, err)
		}
		return nil
	})
	mu.Lock()
	got := append([]string(nil), stale...)
	mu.Unlock()
	if len(got) == 0 || got[0] != "p: older than 1m" {
		t.Errorf("stale events %q, want p: older than 1m first", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	srcs.Close()
	verify()
}

// TestRefresh_PersistentDB runs a notebook as `cellsd run --db FILE
// --materialization schema` does, four times, each on an engine of its
// own as four processes would: what the database kept stands for a ttl
// result younger than its ttl, a manual result and an incremental one
// (which continues from the rows it holds); an on-change cell is fetched
// again every time; a result whose provenance says it aged past its ttl
// is fetched again; and NoCache fetches everything.
func TestRefresh_PersistentDB(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	pgExec(t, pool, `CREATE TABLE `+schema+`.t (id int, at int); INSERT INTO `+schema+`.t SELECT i, i FROM generate_series(1, 100) i`)
	src := `SELECT id, at FROM ` + schema + `.t`
	nb := parseNotebook(t, art(
		withRefresh(pgCell("ttl", "by_ttl", src), "ttl:1h", ""),
		withRefresh(pgCell("man", "by_manual", src), "manual", ""),
		withRefresh(pgCell("inc", "by_increment", src), "incremental:at", ""),
		pgCell("chg", "by_change", src),
		sqlCell("d", "total", "SELECT (SELECT count(*) FROM by_ttl) + (SELECT count(*) FROM by_manual) AS n"),
	))
	reg, srcs, path := pgRegistry(t, nil), testSources(t), t.TempDir()+"/core.duckdb"
	type outcome struct {
		reason string
		rows   int64
	}
	run := func(opts engine.RunOptions) map[string]outcome {
		t.Helper()
		eng := engine.New(engine.Config{DBPath: path, Materialization: engine.SchemaStrategy, Connections: reg, Sources: srcs})
		if err := eng.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		plan, err := eng.Planner().Plan(context.Background(), nb)
		if err != nil {
			t.Fatal(err)
		}
		report, err := eng.Run(context.Background(), plan, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]outcome{}
		for _, c := range report.Artifacts[0].Cells {
			if c.Status != engine.StatusSuccess {
				t.Fatalf("cell %s: %s %v", c.ID, c.Status, c.Err)
			}
			out[c.ID] = outcome{c.Reason, *c.Rows}
		}
		return out
	}
	check := func(round string, got map[string]outcome, want map[string]outcome) {
		t.Helper()
		for id, w := range want {
			if g := got[id]; g.rows != w.rows || !strings.HasPrefix(g.reason, w.reason) {
				t.Errorf("%s: cell %s: %q with %d rows, want %q… with %d", round, id, g.reason, g.rows, w.reason, w.rows)
			}
		}
	}
	check("first run", run(engine.RunOptions{}), map[string]outcome{
		"ttl": {"executed", 100}, "man": {"executed", 100}, "inc": {"executed", 100}, "chg": {"executed", 100}, "d": {"executed", 1}})

	pgExec(t, pool, `INSERT INTO `+schema+`.t SELECT i, i FROM generate_series(101, 110) i`)
	check("second run", run(engine.RunOptions{}), map[string]outcome{
		"ttl": {"cached: fetched 0s ago, ttl:1h", 100}, "man": {"manual refresh", 100},
		"inc": {"incremental: 10 new rows", 110}, "chg": {"executed", 110},
		"d": {"executed", 1}})

	// Two hours pass for the ttl result; the manual one is kept however old.
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE main.cellsd_provenance SET finished_at = finished_at - INTERVAL 2 HOUR`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	check("two hours later", run(engine.RunOptions{}), map[string]outcome{
		"ttl": {"executed", 110}, "man": {"manual refresh", 100}, "inc": {"incremental: 0 new rows", 110}, "d": {"executed", 1}})

	pgExec(t, pool, `INSERT INTO `+schema+`.t SELECT i, i FROM generate_series(111, 115) i`)
	check("--no-cache", run(engine.RunOptions{NoCache: true}), map[string]outcome{
		"ttl": {"executed", 115}, "man": {"executed", 115}, "inc": {"executed", 115}, "chg": {"executed", 115}})
}
