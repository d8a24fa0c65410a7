package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
)

// BenchmarkSandbox runs the 1,000-cell chain of BenchmarkSchedulerOverhead
// through two engines in the same run, one sandboxed as cellsd serve
// sandboxes a session (memory_limit a fair share) and one not, turn about,
// and reports the medians, sandbox/plain (target: at most 1.05) and the
// median of the back-to-back pairs' ratios.
func BenchmarkSandbox(b *testing.B) {
	const n = 1000
	b.Run(fmt.Sprintf("cells=%d/shape=chain", n), func(b *testing.B) {
		ctx := context.Background()
		nb := trivialNotebook(b, "chain", n)
		plain := openEngine(b, engine.Config{})
		boxed := openEngine(b, engine.Config{Sandbox: &engine.Sandbox{MemoryLimit: engine.FairMemoryLimit()}})
		plainPlan, boxedPlan := mustPlan(b, plain, nb), mustPlan(b, boxed, nb)
		run := func(e *engine.Engine, p *engine.Plan) time.Duration {
			start := time.Now()
			report, err := e.Run(ctx, p, engine.RunOptions{})
			if err != nil || report.Summary.Success != n {
				b.Fatalf("run: %v, %+v", err, report.Summary)
			}
			return time.Since(start)
		}
		var plainTimes, boxedTimes []time.Duration
		i := 0
		for b.Loop() {
			if i%2 == 0 { // alternate which goes first
				plainTimes = append(plainTimes, run(plain, plainPlan))
				boxedTimes = append(boxedTimes, run(boxed, boxedPlan))
			} else {
				boxedTimes = append(boxedTimes, run(boxed, boxedPlan))
				plainTimes = append(plainTimes, run(plain, plainPlan))
			}
			i++
		}
		p, s := measure.Median(plainTimes), measure.Median(boxedTimes)
		// Each pair ran back to back, so its ratio is the one load on
		// the machine spares the least: the median of the pairs' ratios.
		ratios := make([]time.Duration, len(plainTimes))
		for i := range ratios {
			ratios[i] = time.Duration(float64(boxedTimes[i]) / float64(plainTimes[i]) * 1e6)
		}
		b.ReportMetric(float64(p.Microseconds())/1000, "plain-ms")
		b.ReportMetric(float64(s.Microseconds())/1000, "sandbox-ms")
		b.ReportMetric(float64(s)/float64(p), "sandbox/plain")
		b.ReportMetric(float64(measure.Median(ratios))/1e6, "pair-ratio")
	})
}
