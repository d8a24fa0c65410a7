package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
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
			if err := ap.Update(ctx, edits[i%2]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perEdit := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(perEdit)/float64(baseline), "edit/build")
		b.ReportMetric(float64(baseline.Microseconds())/1000, "build-ms")
	})
}
