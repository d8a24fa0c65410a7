package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
)

// generatedNotebook returns one artifact of n SQL cells shaped like a long
// analysis: a few sources, then cells that filter, join and aggregate
// earlier ones through CTEs, a parameter input, and some charts.
func generatedNotebook(tb testing.TB, n int) *cells.Notebook {
	cs := []nbCell{inputCell("limit", "limit", 100)}
	for i := range n {
		id, name := fmt.Sprintf("c%d", i), fmt.Sprintf("t%d", i)
		var sql string
		switch {
		case i < 5:
			sql = fmt.Sprintf("SELECT range AS id, range %% 7 AS k, 'x' || range AS label FROM range(%d)", 1000*(i+1))
		case i%3 == 0:
			sql = fmt.Sprintf("WITH base AS (SELECT * FROM t%d WHERE id < {{limit}}), other AS (SELECT id, k FROM t%d)\nSELECT base.*, other.k AS k2 FROM base JOIN other USING (id)", i-1, i/2)
		case i%3 == 1:
			sql = fmt.Sprintf("SELECT k, count(*) AS n, sum(id) AS total\nFROM t%d\nWHERE label LIKE 'x%%' AND id IN (SELECT id FROM t%d)\nGROUP BY k ORDER BY k", i-1, i-3)
		default:
			sql = fmt.Sprintf("SELECT * FROM t%d UNION ALL SELECT * FROM t%d -- keep both", i-2, i-2)
		}
		cs = append(cs, sqlCell(id, name, sql))
		if i%50 == 49 {
			cs = append(cs, vegaCell(fmt.Sprintf("v%d", i), id))
		}
	}
	return parseNotebook(tb, art(cs...))
}

// BenchmarkPlan measures the full graph build of a generated 2,000-cell
// notebook and a single-cell edit on it. The edit benchmark measures the
// build as its baseline in the same run and reports edit/build, the
// fraction of a full build one edit costs (target: under 0.01).
func BenchmarkPlan(b *testing.B) {
	const n = 2000
	eng := openEngine(b, engine.Config{})
	nb := generatedNotebook(b, n)
	ctx := context.Background()
	planner := eng.Planner()
	build := func() *engine.ArtifactPlan {
		ap, err := planner.PlanArtifact(ctx, nb, nb.Artifacts[0])
		if err != nil {
			b.Fatal(err)
		}
		if len(ap.Errors) > 0 || len(ap.Order) != n+1+n/50 {
			b.Fatalf("generated notebook plans with %d errors (%v) and %d cells in order", len(ap.Errors), ap.Errors, len(ap.Order))
		}
		return ap
	}

	b.Run(fmt.Sprintf("cells=%d/op=build", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			build()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "cells/s")
	})

	b.Run(fmt.Sprintf("cells=%d/op=edit", n), func(b *testing.B) {
		var builds []time.Duration
		var ap *engine.ArtifactPlan
		for range 5 {
			start := time.Now()
			ap = build()
			builds = append(builds, time.Since(start))
		}
		slices.Sort(builds)
		baseline := builds[len(builds)/2]

		// Alternate one mid-notebook cell between two versions that read
		// different upstream cells and rename its result, so every edit
		// re-parses and re-resolves.
		edits := [2]*cells.Cell{}
		for i, sql := range []string{"SELECT * FROM t10 JOIN t20 USING (id)", "SELECT * FROM t30 WHERE id > {{limit}}"} {
			c := *nb.Cells["c1000"]
			c.SQL, c.ResultName = sql, fmt.Sprintf("t1000_v%d", i)
			edits[i] = &c
		}
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			if _, err := ap.Update(ctx, edits[i%2]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perEdit := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(perEdit)/float64(baseline), "edit/build")
		b.ReportMetric(float64(baseline.Microseconds())/1000, "build-ms")
	})
}

// trivialNotebook returns n trivial cells shaped as a chain (each reads the
// one before) or a fan-out (all read the first).
func trivialNotebook(tb testing.TB, shape string, n int) *cells.Notebook {
	cs := []nbCell{sqlCell("c0", "t0", "SELECT 1 AS v")}
	for i := 1; i < n; i++ {
		from := "t0"
		if shape == "chain" {
			from = fmt.Sprintf("t%d", i-1)
		}
		cs = append(cs, sqlCell(fmt.Sprintf("c%d", i), fmt.Sprintf("t%d", i), fmt.Sprintf("SELECT v + %d AS v FROM %s", i, from)))
	}
	return parseNotebook(tb, art(cs...))
}

// BenchmarkSchedulerOverhead runs 1,000 trivial cells through the engine
// (plan made once, outside the timing) and, as the baseline in the same
// run, the same CREATE TABLE ... AS statements back to back on one DuckDB
// connection. It reports the median of each and engine/baseline (target:
// at most 1.3). engine is a batch run (Engine.Run, what `cellsd run`
// does); session is a run-all in an interactive session, whose results
// commit through the supersession guard (an explicit transaction).
func BenchmarkSchedulerOverhead(b *testing.B) {
	const n = 1000
	for _, shape := range []string{"chain", "fanout"} {
		b.Run(fmt.Sprintf("cells=%d/shape=%s", n, shape), func(b *testing.B) {
			ctx := context.Background()
			eng := openEngine(b, engine.Config{})
			nb := trivialNotebook(b, shape, n)
			plan := mustPlan(b, eng, nb)
			base := openEngine(b, engine.Config{})
			conn, err := base.DB().Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			stmts := []string{`CREATE SCHEMA IF NOT EXISTS __sqlrooms_ephemeral.artifact_nb`,
				`SET search_path = '__sqlrooms_ephemeral.artifact_nb,memory.main'`}
			for _, id := range nb.Artifacts[0].CellIDs {
				c := nb.Cells[id]
				stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE TABLE __sqlrooms_ephemeral.artifact_nb.%s AS %s", c.ResultName, c.SQL))
			}
			sess, err := eng.NewSession(ctx, plan, engine.SessionOptions{NoCache: true})
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			var engineTimes, sessionTimes, baseTimes []time.Duration
			for b.Loop() {
				start := time.Now()
				report, err := eng.Run(ctx, plan, engine.RunOptions{})
				if err != nil || report.Summary.Success != n {
					b.Fatalf("engine run: %v, %+v", err, report.Summary)
				}
				engineTimes = append(engineTimes, time.Since(start))
				start = time.Now()
				r, err := sess.Run(engine.RunRequest{})
				if err != nil {
					b.Fatal(err)
				}
				<-r.Done()
				sessionTimes = append(sessionTimes, time.Since(start))
				start = time.Now()
				for _, s := range stmts {
					if _, err := conn.ExecContext(ctx, s); err != nil {
						b.Fatal(err)
					}
				}
				baseTimes = append(baseTimes, time.Since(start))
			}
			e, ss, bl := measure.Median(engineTimes), measure.Median(sessionTimes), measure.Median(baseTimes)
			b.ReportMetric(float64(e.Microseconds())/1000, "engine-ms")
			b.ReportMetric(float64(bl.Microseconds())/1000, "baseline-ms")
			b.ReportMetric(float64(e)/float64(bl), "engine/baseline")
			b.ReportMetric(float64(ss)/float64(bl), "session/baseline")
		})
	}
}

// BenchmarkReactivity measures, on a 1,000-cell notebook that has run once,
// the time from an edit call to the first downstream cell starting
// (target: median under 5 ms).
func BenchmarkReactivity(b *testing.B) {
	const n = 1000
	nb := trivialNotebook(b, "chain", n)
	started := make(chan time.Time, 1)
	s, err := engine.OpenSession(context.Background(), engine.Config{}, nb, engine.SessionOptions{Observe: func(ev engine.Event) {
		if ev.Cell == "c501" && ev.Status == engine.StatusRunning {
			select {
			case started <- ev.Time:
			default:
			}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(engine.RunRequest{})
	if err != nil {
		b.Fatal(err)
	}
	<-r.Done()
	select {
	case <-started: // c501's start in the first run is no edit's
	default:
	}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		sql := fmt.Sprintf("SELECT v + %d AS v FROM t499", 1000+i) // c500, whose downstream starts at c501
		begin := time.Now()
		r, err := s.Update(context.Background(), engine.CellPatch{CellID: "c500", SQL: &sql})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-started).Sub(begin))
		b.StopTimer()
		s.Cancel("")
		<-r.Done()
		b.StartTimer()
	}
	b.ReportMetric(float64(measure.Median(lat).Microseconds())/1000, "edit-to-downstream-start-ms")
}

// BenchmarkParallelism runs 16 independent Postgres cells that each wait
// 200 ms on the server (pg_sleep), each with a DuckDB cell downstream and a
// fan-in at the end, at concurrency 1 and 8 in the same run, and reports
// the speed-up of the medians (target: at least 6).
func BenchmarkParallelism(b *testing.B) {
	cs := []nbCell{}
	var parts []string
	for i := range 16 {
		cs = append(cs,
			pgCell(fmt.Sprintf("p%d", i), fmt.Sprintf("remote_%d", i), fmt.Sprintf("SELECT %d AS id, pg_sleep(0.2) IS NULL AS slept", i)),
			sqlCell(fmt.Sprintf("d%d", i), fmt.Sprintf("local_%d", i), fmt.Sprintf("SELECT id * 2 AS twice FROM remote_%d", i)))
		parts = append(parts, fmt.Sprintf("SELECT twice FROM local_%d", i))
	}
	cs = append(cs, sqlCell("all", "everything", strings.Join(parts, " UNION ALL ")))
	nb := parseNotebook(b, art(cs...))
	eng := openEngine(b, engine.Config{Connections: pgRegistry(b, nil), Sources: testSources(b)})
	plan := mustPlan(b, eng, nb)
	runAt := func(concurrency int) time.Duration {
		start := time.Now()
		report, err := eng.Run(context.Background(), plan, engine.RunOptions{Concurrency: concurrency})
		if err != nil || report.Summary.Success != len(cs) {
			b.Fatalf("run at concurrency %d: %v %+v", concurrency, err, report)
		}
		return time.Since(start)
	}
	runAt(8) // warm the pool
	var one, eight []time.Duration
	for b.Loop() {
		one = append(one, runAt(1))
		eight = append(eight, runAt(8))
	}
	b.ReportMetric(float64(measure.Median(one).Milliseconds()), "concurrency1-ms")
	b.ReportMetric(float64(measure.Median(eight).Milliseconds()), "concurrency8-ms")
	b.ReportMetric(float64(measure.Median(one))/float64(measure.Median(eight)), "speedup")
}
