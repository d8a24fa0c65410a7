package engine_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
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
	if _, err := pool.Exec(ctx, fmt.Sprintf(`
		CREATE TABLE %[1]s.wide AS
		SELECT g::bigint AS id, (g %% 1000)::int AS k, 'customer ' || g AS name,
		       ((g %% 100000) / 100.0)::numeric(12,2) AS amount,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS at,
		       g %% 2 = 0 AS flag, g / 7.0::float8 AS ratio, date '2024-01-01' + (g %% 366) AS day,
		       md5(g::text)::uuid AS u
		FROM generate_series(1, %[2]d) AS g;
		ANALYZE %[1]s.wide;`, schema, rows)); err != nil {
		b.Fatal(err)
	}
	query := fmt.Sprintf("SELECT * FROM %s.wide", schema)
	nb := parseNotebook(b, art(pgCell("c1", "wide", query)))
	eng := openEngine(b, engine.Config{Connections: pgRegistry(b, nil)})
	plan := mustPlan(b, eng, nb)

	floor := func() time.Duration {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Release()
		start := time.Now()
		if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY ("+query+") TO STDOUT (FORMAT binary)"); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
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
	var peak atomic.Uint64
	materialize := func() time.Duration {
		runtime.GC()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // sample the heap while the result streams
			defer wg.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		report, err := eng.Run(ctx, plan, engine.RunOptions{})
		d := time.Since(start)
		close(stop)
		wg.Wait()
		if err != nil || report.Summary.Success != 1 || *report.Artifacts[0].Cells[0].Rows != rows {
			b.Fatalf("materialize: %v %+v", err, report.Artifacts[0].Cells[0])
		}
		return d
	}
	var floors, drains, mats []time.Duration
	for b.Loop() {
		floors = append(floors, floor())
		drains = append(drains, rowsDrain())
		mats = append(mats, materialize())
	}
	f, m := median(floors), median(mats)
	b.ReportMetric(float64(median(drains))/float64(f), "rows-drain/copy-drain")
	b.ReportMetric(rows/m.Seconds(), "rows/s")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(m.Milliseconds()), "materialize-ms")
	b.ReportMetric(float64(m)/float64(f), "materialize/floor")
	b.ReportMetric(float64(peak.Load())/(1<<20), "heap-MiB")
}
