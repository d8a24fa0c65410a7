package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// BenchmarkRefreshIncremental refreshes a Postgres cell over a 2,000,000
// row table (an index on its watermark column, as an incremental source
// has) after 1,000 rows were added: once with refresh
// "incremental:updated_at", which fetches only the new rows and appends
// them, and once as a full refetch of the same query (an on-change cell
// run by name), in the same iteration. It reports the medians and
// incremental/full (target: at most 1/50, 0.02).
func BenchmarkRefreshIncremental(b *testing.B) {
	const rows, added = 2_000_000, 1_000
	pool := pgtest.Pool(b)
	schema := pgtest.Schema(b, pool)
	pgExec(b, pool, fmt.Sprintf(`CREATE TABLE %[1]s.events AS
			SELECT i AS id, timestamptz '2026-01-01' + i * interval '1 second' AS updated_at,
				md5(i::text) AS name, (i %% 10000)::numeric(12,2) AS amount
			FROM generate_series(1, %[2]d) i;
		CREATE INDEX ON %[1]s.events (updated_at);
		ANALYZE %[1]s.events`, schema, rows))
	src := `SELECT id, updated_at, name, amount FROM ` + schema + `.events`
	reg := pgRegistry(b, nil)
	inc := openPGSession(b, parseNotebook(b, art(withRefresh(pgCell("c", "events", src), "incremental:updated_at", ""))), reg, engine.SessionOptions{})
	full := openPGSession(b, parseNotebook(b, art(pgCell("c", "events", src))), reg, engine.SessionOptions{})
	refresh := func(s *engine.Session, want int64) time.Duration {
		start := time.Now()
		mustRunSession(b, s, engine.RunRequest{CellID: "c"})
		d := time.Since(start)
		if ev := statusOf(s)["c"]; ev.Status != engine.StatusSuccess || ev.Rows == nil || *ev.Rows != want {
			b.Fatalf("refresh: %s %q rows %v, want %d", ev.Status, ev.Err, ev.Rows, want)
		}
		return d
	}
	total := int64(rows)
	refresh(inc, total) // the first load is a full one
	var incs, fulls []time.Duration
	for b.Loop() {
		pgExec(b, pool, fmt.Sprintf(`INSERT INTO %[1]s.events
			SELECT i, timestamptz '2027-01-01' + i * interval '1 second', md5(i::text), 0
			FROM generate_series(%[2]d, %[3]d) i`, schema, total+1, total+added))
		total += added
		incs = append(incs, refresh(inc, total))
		if got := statusOf(inc)["c"].Reason; got != "incremental: 1000 new rows" {
			b.Fatalf("incremental refresh: reason %q", got)
		}
		fulls = append(fulls, refresh(full, total))
	}
	i, f := measure.Median(incs), measure.Median(fulls)
	b.ReportMetric(float64(i.Microseconds())/1000, "incremental-ms")
	b.ReportMetric(float64(f.Microseconds())/1000, "full-ms")
	b.ReportMetric(float64(i)/float64(f), "incremental/full")
}
