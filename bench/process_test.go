package bench

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkProcess is issue 19's P2a: `cellsd run` of a 1,000-cell chain
// and a 1,000-cell fan-out, the built binary in a cold process, wall
// clock, against the baseline program (bench/baseline) running the same
// 1,000 CREATE TABLE ... AS statements on one DuckDB connection in a
// process of its own. The two alternate, round after round; it prints the
// medians and cellsd/baseline (target: at most 1.3) of the wall clock and,
// less moved by a loaded machine, of the CPU time.
func BenchmarkProcess(b *testing.B) {
	const n = 1000
	cellsd, baseline := binary(b, "./cmd/cellsd"), binary(b, "./bench/baseline")
	for _, shape := range []string{"chain", "fanout"} {
		b.Run(fmt.Sprintf("cells=%d/shape=%s", n, shape), func(b *testing.B) {
			dir := b.TempDir()
			nb, stmts := trivialNotebook(b, shape, n)
			nbPath, sqlPath := writeFile(b, dir, "nb.json", nb), writeFile(b, dir, "nb.sql", []byte(stmts))
			var got, base, gotCPU, baseCPU []time.Duration
			for i := range rounds(b) {
				runCellsd := func() {
					u := timed(b, cellsd, "run", nbPath)
					got, gotCPU = append(got, u.wall), append(gotCPU, u.cpu)
				}
				runBase := func() {
					u := timed(b, baseline, sqlPath)
					base, baseCPU = append(base, u.wall), append(baseCPU, u.cpu)
				}
				turnAbout(i, runCellsd, runBase)
			}
			report(b, "cellsd-run", "baseline", "wall", got, base, 1.3)
			// CPU time, all threads: what the machine's load moves least.
			report(b, "cellsd-run", "baseline", "cpu", gotCPU, baseCPU, 1.3)
		})
	}
}
