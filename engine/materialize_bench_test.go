package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// BenchmarkPostgresMaterialize moves 2,000,000 rows x 9 columns (bigint,
// int, text, numeric(12,2), timestamptz, bool, float8, date, uuid) from a
// Postgres table into DuckDB through a Postgres cell, against the physical
// floor measured in the same run: the same query as COPY ... TO STDOUT
// (FORMAT binary) drained into io.Discard. It reports rows/s, the ratio of
// the medians materialize/floor (target: at most 1.3), the Go heap
// high-water (target: under 64 MiB), and how the query's binary result rows
// drained the same way compare with the COPY (rows-drain/copy-drain).
func BenchmarkPostgresMaterialize(b *testing.B) {
	const rows = 2_000_000
	ctx := context.Background()
	pool := pgtest.Pool(b)
	schema := pgtest.Schema(b, pool)
	query := pgtest.WideTable(b, pool, schema, rows)
	nb := parseNotebook(b, art(pgCell("c1", "wide", query)))
	eng := openEngine(b, engine.Config{Connections: pgRegistry(b, nil), Sources: testSources(b)})
	plan := mustPlan(b, eng, nb)

	// The other way rows can leave Postgres in binary: the query's own
	// result rows, drained the same way, for the choice between the two.
	rowsDrain := func() time.Duration {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Release()
		start := time.Now()
		rr := conn.Conn().PgConn().ExecParams(ctx, query, nil, nil, nil, []int16{1})
		for rr.NextRow() {
		}
		if _, err := rr.Close(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var heap measure.HeapPeak
	materialize := func() time.Duration {
		stop := heap.Start()
		start := time.Now()
		report, err := eng.Run(ctx, plan, engine.RunOptions{})
		d := time.Since(start)
		stop()
		if err != nil || report.Summary.Success != 1 || *report.Artifacts[0].Cells[0].Rows != rows {
			b.Fatalf("materialize: %v %+v", err, report.Artifacts[0].Cells[0])
		}
		return d
	}
	var floors, drains, mats []time.Duration
	for b.Loop() {
		floors = append(floors, pgtest.CopyFloor(b, pool, query))
		drains = append(drains, rowsDrain())
		mats = append(mats, materialize())
	}
	f, m := measure.Median(floors), measure.Median(mats)
	b.ReportMetric(float64(measure.Median(drains))/float64(f), "rows-drain/copy-drain")
	b.ReportMetric(rows/m.Seconds(), "rows/s")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(m.Milliseconds()), "materialize-ms")
	b.ReportMetric(float64(m)/float64(f), "materialize/floor")
	b.ReportMetric(heap.MiB(), "heap-MiB")
}
