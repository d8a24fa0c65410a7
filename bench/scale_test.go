package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cellsd/cellsd/internal/measure"
)

// BenchmarkScale is issue 19's scale target: `cellsd run` (a cold process:
// load, plan and run) of a chain and a fan-out of 1,000, 2,000, 5,000 and
// 10,000 cells, with the process's peak resident memory. It prints the
// curve and t(10,000)/t(1,000) (target: at most 12, no quadratic step)
// and, for scale, the same ratio of the baseline program running the
// statements (DuckDB's own growth). Rounds: CELLSD_BENCH_SCALE_ROUNDS,
// default 3 (a round of both shapes takes about half a minute on a quiet
// 2-core machine).
func BenchmarkScale(b *testing.B) {
	cellsd, baseline := binary(b, "./cmd/cellsd"), binary(b, "./bench/baseline")
	n := 3
	if s := os.Getenv("CELLSD_BENCH_SCALE_ROUNDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("CELLSD_BENCH_SCALE_ROUNDS=%q: want a positive integer", s)
		}
	}
	sizes := []int{1000, 2000, 5000, 10000}
	for _, shape := range []string{"chain", "fanout"} {
		b.Run("shape="+shape, func(b *testing.B) {
			dir := b.TempDir()
			nbs, sqls := map[int]string{}, map[int]string{}
			for _, size := range sizes {
				nb, stmts := trivialNotebook(b, shape, size)
				nbs[size] = writeFile(b, dir, fmt.Sprintf("nb%d.json", size), nb)
				sqls[size] = writeFile(b, dir, fmt.Sprintf("nb%d.sql", size), []byte(stmts))
			}
			walls, bases := map[int][]time.Duration{}, map[int][]time.Duration{}
			peaks := map[int]int64{}
			for range n {
				for _, size := range sizes {
					u := timed(b, cellsd, "run", "-q", nbs[size])
					walls[size] = append(walls[size], u.wall)
					peaks[size] = max(peaks[size], u.peak)
					if size == sizes[0] || size == sizes[len(sizes)-1] {
						bases[size] = append(bases[size], timed(b, baseline, sqls[size]).wall)
					}
				}
			}
			lo, hi := sizes[0], sizes[len(sizes)-1]
			for _, size := range sizes {
				m := measure.Median(walls[size])
				b.Logf("%s %6d cells: median %8.1f ms (%.2f ms a cell, %.2fx the 1,000-cell time), peak RSS %.0f MiB",
					shape, size, ms(m), ms(m)/float64(size), float64(m)/float64(measure.Median(walls[lo])), float64(peaks[size])/1024)
			}
			ratio := float64(measure.Median(walls[hi])) / float64(measure.Median(walls[lo]))
			baseRatio := float64(measure.Median(bases[hi])) / float64(measure.Median(bases[lo]))
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ratio, "t10k/t1k")
			b.ReportMetric(baseRatio, "baseline-t10k/t1k")
			b.ReportMetric(float64(peaks[hi])/1024, "peak-RSS-MiB")
			b.Logf("%s: t(%d)/t(%d) %.2f (target <= 12), baseline program %.2f; peak RSS at %d cells %.0f MiB (target <= 1024); %d rounds, load average %s",
				shape, hi, lo, ratio, baseRatio, hi, float64(peaks[hi])/1024, n, loadAverage())
		})
	}
}
