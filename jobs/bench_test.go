package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/registry"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/jobs"
)

// benchNotebook is a notebook of Postgres cells on connection pg, one per
// SQL, in one artifact.
func benchNotebook(tb testing.TB, sqls ...string) *cells.Notebook {
	tb.Helper()
	data := map[string]any{}
	var ids []string
	for i, sql := range sqls {
		id := fmt.Sprintf("c%d", i+1)
		ids = append(ids, id)
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "connectorId": "pg", "resultName": "r" + id, "sql": sql}}
	}
	b, _ := json.Marshal(map[string]any{"data": data, "artifacts": map[string]any{"a": map[string]any{"id": "a", "cellIds": ids}}})
	nb, err := cells.Parse("bench.json", b)
	if err != nil {
		tb.Fatal(err)
	}
	return nb
}

// benchEngine is an engine on Sources whose connection pg is conn.
type benchEngine struct {
	eng  *engine.Engine
	plan *engine.Plan
}

func newBenchEngine(tb testing.TB, conn connectors.Connection, src connectors.Sources, nb *cells.Notebook) *benchEngine {
	tb.Helper()
	reg, err := connectors.NewRegistry(conn)
	if err != nil {
		tb.Fatal(err)
	}
	eng := engine.New(engine.Config{Connections: reg, Sources: src})
	if err := eng.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close() })
	plan, err := eng.Planner().Plan(context.Background(), nb)
	if err != nil {
		tb.Fatal(err)
	}
	return &benchEngine{eng: eng, plan: plan}
}

// run runs every cell and returns the wall time; each cell must succeed
// with wantRows rows (when >= 0).
func (b *benchEngine) run(tb testing.TB, concurrency int, wantRows int64) time.Duration {
	tb.Helper()
	start := time.Now()
	r, err := b.eng.Run(context.Background(), b.plan, engine.RunOptions{Concurrency: concurrency})
	d := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range r.Artifacts[0].Cells {
		if c.Status != engine.StatusSuccess || (wantRows >= 0 && (c.Rows == nil || *c.Rows != wantRows)) {
			tb.Fatalf("cell %s: %s %v %v", c.ID, c.Status, c.Rows, c.Err)
		}
	}
	return d
}

// jobsClient is an engine-side Client on its own NATS connection.
func (e *env) jobsClient() *jobs.Client {
	e.t.Helper()
	nc, err := nats.Connect(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	c, err := jobs.NewClient(nc, jobs.ClientOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkWorkerMaterialize is the P1 case, 2,000,000 rows x 9 typed
// columns from Postgres into DuckDB, three ways in one run: through an
// outside worker (a child process) and through the embedded worker (the
// one-binary default: the engine's own process runs the job over NATS),
// against the floor (the same query as COPY ... TO STDOUT (FORMAT binary)
// drained). It reports worker/floor (target: at most 1.3),
// embedded/floor, direct/floor (no jobs: the engine runs the Postgres
// source in its own process), and the Go heap high-water of the engine (which here
// also holds the NATS server, as cellsd serve does) and of the worker
// (targets: each under 64 MiB).
//
//	go test ./jobs -run '^$' -bench WorkerMaterialize -benchtime 3x
func BenchmarkWorkerMaterialize(b *testing.B) {
	const rows = 2_000_000
	e := newEnv(b, jobs.ClientOptions{})
	pool := pgtest.Pool(b)
	query := pgtest.WideTable(b, pool, pgtest.Schema(b, pool), rows)
	nb := benchNotebook(b, query)
	pg := pgConn(e.dsn)

	// Outside: the engine holds no credentials; a child process works.
	outside := newBenchEngine(b, connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, Workers: true},
		jobs.Sources{Client: e.jobsClient()}, nb)
	w := e.childProc("outside")
	// Embedded: the engine's own worker, as cellsd run and serve start it.
	nc, err := nats.Connect(e.url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	reg, _ := connectors.NewRegistry(pg)
	other := registry.New()
	b.Cleanup(func() { other.Close() })

	var floors, outs, embs []time.Duration
	var engineHeap measure.HeapPeak
	for b.Loop() {
		floors = append(floors, pgtest.CopyFloor(b, pool, query))
		stop := engineHeap.Start()
		outs = append(outs, outside.run(b, 1, rows))
		stop()
	}
	workerHeap := w.stop(b)
	// The embedded worker runs after the outside one is gone, so each
	// path has the queue to itself.
	local, err := jobs.StartLocal(context.Background(), e.nc, nc, jobs.LocalOptions{Connections: reg, Other: other, Name: "embedded"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { local.Close() })
	embedded := newBenchEngine(b, pg, local.Sources, nb)
	// Direct: no jobs, the engine's process runs the Postgres source
	// itself (cellsd query's path, and run's before jobs).
	direct := newBenchEngine(b, pg, other, nb)
	var dirs []time.Duration
	for range len(outs) {
		embs = append(embs, embedded.run(b, 1, rows))
		dirs = append(dirs, direct.run(b, 1, rows))
	}
	f, o, m := measure.Median(floors), measure.Median(outs), measure.Median(embs)
	b.ReportMetric(float64(measure.Median(dirs))/float64(f), "direct/floor")
	b.ReportMetric(float64(f.Milliseconds()), "floor-ms")
	b.ReportMetric(float64(o.Milliseconds()), "worker-ms")
	b.ReportMetric(float64(m.Milliseconds()), "embedded-ms")
	b.ReportMetric(float64(o)/float64(f), "worker/floor")
	b.ReportMetric(float64(m)/float64(f), "embedded/floor")
	b.ReportMetric(engineHeap.MiB(), "engine-heap-MiB")
	b.ReportMetric(workerHeap, "worker-heap-MiB")
}

// BenchmarkTwoWorkersSleep runs 16 Postgres cells of pg_sleep(0.2) on two
// outside workers (child processes, 4 jobs each) against the same
// notebook in one process at --concurrency 8 without jobs, in one run.
// It reports twoworkers/single (target: at most 1.2) and fails unless
// both workers took jobs.
//
//	go test ./jobs -run '^$' -bench TwoWorkersSleep -benchtime 5x
func BenchmarkTwoWorkersSleep(b *testing.B) {
	e := newEnv(b, jobs.ClientOptions{})
	var sqls []string
	for i := range 16 {
		sqls = append(sqls, fmt.Sprintf("SELECT pg_sleep(0.2)::text AS slept, %d AS i", i))
	}
	nb := benchNotebook(b, sqls...)
	reg := registry.New()
	b.Cleanup(func() { reg.Close() })
	single := newBenchEngine(b, pgConn(e.dsn), reg, nb)
	client := e.jobsClient()
	pool := newBenchEngine(b, connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, Workers: true}, jobs.Sources{Client: client}, nb)
	e.childProc("w1")
	e.childProc("w2")
	single.run(b, 8, 1) // the Postgres pool's connections opened
	pool.run(b, 16, 1)
	var singles, pools []time.Duration
	for b.Loop() {
		singles = append(singles, single.run(b, 8, 1))
		pools = append(pools, pool.run(b, 16, 1))
	}
	time.Sleep(2 * jobs.PresenceInterval) // the workers' latest counters
	ws := client.Workers()
	if len(ws) != 2 || ws[0].Run == 0 || ws[1].Run == 0 {
		b.Fatalf("workers: %+v", ws)
	}
	s, p := measure.Median(singles), measure.Median(pools)
	b.ReportMetric(float64(s.Milliseconds()), "single-c8-ms")
	b.ReportMetric(float64(p.Milliseconds()), "twoworkers-ms")
	b.ReportMetric(float64(p)/float64(s), "twoworkers/single")
	b.ReportMetric(float64(ws[0].Run), "w1-jobs")
	b.ReportMetric(float64(ws[1].Run), "w2-jobs")
}
