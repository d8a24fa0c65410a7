// NOTICE (p19-perf, issue 19): this file holds the helpers every benchmark
// of package bench shares: the built binaries (binary), the rounds knob
// (rounds), the generated notebooks (trivialNotebook), the load average
// (loadAverage), resident memory (rssKiB, timed), alternation (turnAbout)
// and the ratio report (report); and in session_test.go, the daemon's
// (startDaemon, connect, request, openSession, runAll, closeSession).
// Add shared helpers here, not in a file of your own, and do not define
// these names again; TestMain is here too.

// Package bench holds issue 19's whole-process benchmarks: each measures
// cellsd and, in the same run, the baseline it is compared with, and
// prints the ratio. One command runs them all:
//
//	go test -run XXX -bench . ./bench/...
//
// CELLSD_BENCH_ROUNDS sets the rounds each median is taken over (default
// 5).
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellsd/cellsd/internal/measure"
)

// binDir holds the binaries the benchmarks build, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cellsd-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// binary builds the command at pkg (relative to the module root, e.g.
// "./cmd/cellsd") once per test process and returns its path.
func binary(tb testing.TB, pkg string) string {
	tb.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	bl := v.(*build)
	bl.once.Do(func() {
		bl.path = filepath.Join(binDir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", bl.path, pkg)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			bl.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if bl.err != nil {
		tb.Fatal(bl.err)
	}
	return bl.path
}

// rounds is how many rounds a median is taken over: CELLSD_BENCH_ROUNDS,
// default 5.
func rounds(tb testing.TB) int {
	s := os.Getenv("CELLSD_BENCH_ROUNDS")
	if s == "" {
		return 5
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("CELLSD_BENCH_ROUNDS=%q: want a positive integer", s)
	}
	return n
}

// trivialNotebook returns a notebook of n trivial DuckDB cells (c0 is
// SELECT 1 AS v; cell i reads t(i-1) in a chain, t0 in a fan-out) as
// cellsd reads it from a file, and the same work as the baseline runs it:
// the ATTACH and schema cellsd's default materialization makes, then the
// CREATE OR REPLACE TABLE ... AS statements cellsd runs, one a line.
func trivialNotebook(tb testing.TB, shape string, n int) (notebook []byte, statements string) {
	tb.Helper()
	type cell struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	data := map[string]cell{}
	ids := make([]string, n)
	var sql strings.Builder
	sql.WriteString("ATTACH ':memory:' AS __sqlrooms_ephemeral\n")
	sql.WriteString("CREATE SCHEMA __sqlrooms_ephemeral.artifact_nb\n")
	sql.WriteString("SET search_path = '__sqlrooms_ephemeral.artifact_nb,memory.main'\n")
	for i := range n {
		text := "SELECT 1 AS v"
		if i > 0 {
			from := "t0"
			if shape == "chain" {
				from = fmt.Sprintf("t%d", i-1)
			}
			text = fmt.Sprintf("SELECT v + %d AS v FROM %s", i, from)
		}
		id, name := fmt.Sprintf("c%d", i), fmt.Sprintf("t%d", i)
		ids[i] = id
		data[id] = cell{ID: id, Type: "sql", Data: map[string]any{"title": "Cell " + id, "sql": text, "resultName": name}}
		fmt.Fprintf(&sql, "CREATE OR REPLACE TABLE __sqlrooms_ephemeral.artifact_nb.%s AS %s\n", name, text)
	}
	nb, err := json.Marshal(map[string]any{
		"data":            data,
		"artifacts":       map[string]any{"nb": map[string]any{"id": "nb", "cellIds": ids, "edges": []any{}}},
		"tableDepSchemas": []string{"main"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return nb, sql.String()
}

// writeFile writes data to name in dir and returns its path.
func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// usage is what one process cost.
type usage struct {
	wall time.Duration // wall clock, start to exit
	cpu  time.Duration // user + system CPU time, all threads
	peak int64         // peak resident memory (VmHWM, sampled), KiB
}

// timed runs a command to its end and returns what it cost; a failure
// fails tb with its output.
//
// The peak is the process's VmHWM, read every 10 ms while it runs: the
// rusage of a child started by os/exec counts, before its exec, the
// resident memory of this process, whose address space it shared.
func timed(tb testing.TB, name string, args ...string) usage {
	tb.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if kib := statusKiB(status, "VmHWM:"); kib > peak.Load() {
				peak.Store(kib)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	err := cmd.Wait()
	d := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 2000))
	}
	return usage{wall: d, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), peak: peak.Load()}
}

// statusKiB reads the field (e.g. "VmRSS:") of a /proc status file, in
// KiB; 0 when the file or the field is not there (the process has ended).
func statusKiB(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// rssKiB is this process's resident memory (VmRSS) after collecting
// garbage and returning freed memory to the OS.
func rssKiB(tb testing.TB) int64 {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	kib := statusKiB("/proc/self/status", "VmRSS:")
	if kib == 0 {
		tb.Fatal("no VmRSS in /proc/self/status")
	}
	return kib
}

// turnAbout runs a and b, a first in even rounds and b first in odd ones,
// so that neither side always runs on the heels of the other.
func turnAbout(round int, a, b func()) {
	if round%2 == 1 {
		a, b = b, a
	}
	a()
	b()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// report prints one target's medians and ratio, as metrics of the
// benchmark and as a line of its log with the load average; ns/op, which
// means nothing here, is hidden. baseName names the baseline ("baseline",
// "batch"), unit what is measured ("wall", "cpu").
func report(b *testing.B, name, baseName, unit string, got, base []time.Duration, target float64) {
	b.Helper()
	g, bl := measure.Median(got), measure.Median(base)
	ratio := float64(g) / float64(bl)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(g), name+"-"+unit+"-ms")
	b.ReportMetric(ms(bl), baseName+"-"+unit+"-ms")
	b.ReportMetric(ratio, name+"/"+baseName+"-"+unit)
	b.Logf("%s (%s): median %.1f ms, %s median %.1f ms, ratio %.2f (target <= %.1f), %d rounds, load average %s, %d CPUs",
		name, unit, ms(g), baseName, ms(bl), ratio, target, len(got), loadAverage(), runtime.NumCPU())
}
