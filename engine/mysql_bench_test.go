package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/mysqltest"
)

// BenchmarkMySQLMaterialize moves 2,000,000 rows x 9 columns (BIGINT, INT,
// INT UNSIGNED, VARCHAR, DECIMAL(12,2), DATETIME(6), TINYINT, DOUBLE, DATE)
// from a MariaDB table into DuckDB through a MySQL cell, against the floor
// measured in the same run: the same query through the mariadb client,
// `mariadb --quick --batch -e '...' > /dev/null`. It reports rows/s, the
// ratio of the medians materialize/floor (target: at most 1.3) and the Go
// heap high-water (target: under 64 MiB). Run with -benchtime 3x.
func BenchmarkMySQLMaterialize(b *testing.B) {
	const rows = 2_000_000
	ctx := context.Background()
	name, db := mysqltest.Database(b)
	query := mysqltest.WideTable(b, db, rows)
	nb := parseNotebook(b, art(myCell("c1", "wide", query)))
	eng := openEngine(b, engine.Config{Connections: myRegistry(b, name, nil), Sources: testSources(b)})
	plan := mustPlan(b, eng, nb)
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
	var floors, mats []time.Duration
	for b.Loop() {
		floors = append(floors, mysqltest.CLIFloor(b, name, query))
		mats = append(mats, materialize())
	}
	f, m := measure.Median(floors), measure.Median(mats)
	b.ReportMetric(rows/m.Seconds(), "rows/s")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(m.Milliseconds()), "materialize-ms")
	b.ReportMetric(float64(m)/float64(f), "materialize/floor")
	b.ReportMetric(heap.MiB(), "heap-MiB")
}
