package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/pgtest"
)

// workerProc is a `cellsd worker` child process.
type workerProc struct {
	cmd     *exec.Cmd
	metrics string // its /metrics URL
	stderr  *syncBuffer
	exited  chan struct{}
}

// startWorker starts `cellsd worker` as a process of its own and waits
// until it takes jobs; it is killed, if still running, when the test ends.
func startWorker(t *testing.T, natsURL, conns, name string, extra ...string) *workerProc {
	t.Helper()
	port := natstest.FreePort(t)
	w := &workerProc{metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), stderr: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"worker", "--nats", natsURL, "--connections", conns, "--name", name, "--metrics", fmt.Sprintf("127.0.0.1:%d", port)}, extra...)
	w.cmd = exec.Command(os.Args[0], args...)
	w.cmd.Env = append(os.Environ(), asCellsd+"=1")
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.exited
		if t.Failed() {
			t.Logf("worker %s stderr:\n%s", name, w.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.stderr.String(), "worker ready") {
		select {
		case <-w.exited:
			t.Fatalf("worker %s exited:\n%s", name, w.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s not ready in 30 s:\n%s", name, w.stderr.String())
		}
	}
	return w
}

// kill kills the worker with SIGKILL and waits for it to be gone.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.exited
}

// scrape reads a /metrics page into "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out
}

func writeFileT(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pgWorkerConns writes a worker's connections file: pg, with its DSN.
func pgWorkerConns(t *testing.T, dir string) string {
	return writeFileT(t, filepath.Join(dir, "worker.toml"), "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ndsn = \""+pgtest.DSN(t)+"\"\n")
}

// daemonWorkersConns writes a daemon's connections file: pg, run by
// outside workers, without credentials.
func daemonWorkersConns(t *testing.T, dir string) string {
	return writeFileT(t, filepath.Join(dir, "daemon.toml"), "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ntitle = \"Warehouse\"\nworkers = true\n")
}

// sessionEvents collects a session's events.
type sessionEvents struct {
	mu  sync.Mutex
	evs []natsbus.Payload
}

func (s *sessionEvents) has(cell, status, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.evs {
		if ev.Cell == cell && ev.Status == status && (reason == "" || ev.Reason == reason) {
			return true
		}
	}
	return false
}

func (s *sessionEvents) of(cell string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.evs {
		if ev.Cell == cell {
			out = append(out, ev.Status+": "+ev.Reason)
		}
	}
	return out
}

func subscribeEvents(t *testing.T, nc *nats.Conn, session string) *sessionEvents {
	t.Helper()
	se := &sessionEvents{}
	sub, err := nc.Subscribe(natsbus.SessionSubject(session), func(m *nats.Msg) {
		var p natsbus.Payload
		json.Unmarshal(m.Data, &p)
		se.mu.Lock()
		se.evs = append(se.evs, p)
		se.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	nc.Flush()
	return se
}

// queryOne runs one read-only query in a session and returns its first
// row, every value as text.
func queryOne(t *testing.T, nc *nats.Conn, session, sql string) []string {
	t.Helper()
	var r jobapi.QueryReply
	apiRequest(t, nc, jobapi.SessionSubject(session, "query"), jobapi.QueryRequest{SQL: sql}, &r)
	if len(r.Rows) != 1 {
		t.Fatalf("%s: %d rows", sql, len(r.Rows))
	}
	out := make([]string, len(r.Rows[0]))
	for i, v := range r.Rows[0] {
		out[i] = fmt.Sprint(v)
	}
	return out
}

func cellStatus(t *testing.T, nc *nats.Conn, session, cell string) (jobapi.StatusCell, *jobapi.JobsStatus) {
	t.Helper()
	var st jobapi.StatusReply
	apiRequest(t, nc, jobapi.SessionSubject(session, "status"), nil, &st)
	for _, c := range st.Cells {
		if c.Cell == cell {
			return c, st.Jobs
		}
	}
	t.Fatalf("no cell %s in the status", cell)
	return jobapi.StatusCell{}, nil
}

// TestServe_OutsideWorkers: a daemon holding no credentials (workers =
// true) runs a Postgres cell on outside workers, real `cellsd worker`
// processes. The first result lands; the cell is changed to stream 2M
// rows; its worker is killed -9 mid-stream, with no other worker: the
// cell waits with the reason, the status op and /metrics say a job waits
// and no worker lives, the previous result stays readable; a second
// worker starts and finishes it: 2M rows exactly once, the staging table
// gone, provenance naming w2, the events saying it was retried.
func TestServe_OutsideWorkers(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.RunServer(t, -1, t.TempDir())
	defer srv.Shutdown()
	url := srv.ClientURL()
	workerConns := pgWorkerConns(t, dir)
	s := startServe(t, "--nats", url, "--connections", daemonWorkersConns(t, dir))
	if strings.Contains(s.stderr.String(), pgtest.DSN(t)) {
		t.Fatal("the daemon logs a DSN it was never given")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w1 := startWorker(t, url, workerConns, "w1")

	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{"big": map[string]any{"id": "big", "type": "sql", "data": map[string]any{"title": "Big", "connectorId": "pg", "resultName": "big",
			"sql": "SELECT g::bigint AS id, md5(g::text) AS s FROM generate_series(1, 1000) g"}}},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"big"}, "edges": []any{}}},
	})
	var opened struct{ SessionID string }
	apiRequest(t, nc, jobapi.OpenSubject, map[string]any{"notebook": json.RawMessage(nb), "sessionId": "workers"}, &opened)
	evs := subscribeEvents(t, nc, opened.SessionID)
	apiRequest(t, nc, jobapi.SessionSubject(opened.SessionID, "run"), nil, nil)
	waitFor(t, 60*time.Second, func() bool { return evs.has("big", "success", "") })
	if !evs.has("big", "running", "on worker w1") {
		t.Fatalf("events of big: %q", evs.of("big"))
	}
	const rel = "__sqlrooms_ephemeral.artifact_a.big"
	if got := queryOne(t, nc, opened.SessionID, "SELECT count(*)::VARCHAR FROM "+rel); got[0] != "1000" {
		t.Fatalf("first result: %v rows", got)
	}

	sql := "SELECT g::bigint AS id, md5(g::text) AS s, g * 2 AS v, (g % 7)::int AS k, now() AS t FROM generate_series(1, 2000000) g"
	apiRequest(t, nc, jobapi.SessionSubject(opened.SessionID, "update"), map[string]any{"cellId": "big", "sql": sql}, nil)
	waitFor(t, 60*time.Second, func() bool { return scrape(t, w1.metrics)[`cellsd_worker_rows_streamed_total{worker="w1"}`] >= 300_000 })
	w1.kill(t)

	reason := "waiting for a worker for pg: w1 lost"
	waitFor(t, 30*time.Second, func() bool {
		c, jobs := cellStatus(t, nc, opened.SessionID, "big")
		return c.Status == "queued" && c.Reason == reason && jobs != nil && jobs.Waiting["pg"] == 1 && len(jobs.Workers) == 0
	})
	m := scrape(t, s.HTTPURL+"/metrics")
	if m[`cellsd_jobs_waiting{connector="pg"}`] != 1 || m["cellsd_workers_alive"] != 0 {
		t.Errorf("metrics with no worker: waiting %v, alive %v", m[`cellsd_jobs_waiting{connector="pg"}`], m["cellsd_workers_alive"])
	}
	time.Sleep(time.Second) // no worker: it keeps waiting
	if c, _ := cellStatus(t, nc, opened.SessionID, "big"); c.Status != "queued" {
		t.Fatalf("with no worker the cell is %s (%s)", c.Status, c.Reason)
	}
	if got := queryOne(t, nc, opened.SessionID, "SELECT count(*)::VARCHAR FROM "+rel); got[0] != "1000" {
		t.Fatalf("the previous result while the cell waits: %v rows", got)
	}

	w2 := startWorker(t, url, workerConns, "w2")
	waitFor(t, 120*time.Second, func() bool {
		return evs.has("big", "success", "") && len(evs.of("big")) > 3 && evs.of("big")[len(evs.of("big"))-1] == "success: executed"
	})
	if !evs.has("big", "running", "retried on worker w2: w1 lost") {
		t.Errorf("events of big: %q", evs.of("big"))
	}
	got := queryOne(t, nc, opened.SessionID, "SELECT count(*)::VARCHAR, count(DISTINCT id)::VARCHAR, sum(id)::VARCHAR FROM "+rel)
	if want := []string{"2000000", "2000000", "2000001000000"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("result: count, distinct ids, sum %v, want %v", got, want)
	}
	if got := queryOne(t, nc, opened.SessionID, "SELECT count(*)::VARCHAR FROM duckdb_tables() WHERE table_name LIKE '__cellsd_staging%'"); got[0] != "0" {
		t.Errorf("%s staging tables left", got[0])
	}
	if got := queryOne(t, nc, opened.SessionID, "SELECT worker, rows::VARCHAR FROM __sqlrooms_ephemeral.main.cellsd_provenance WHERE cell_id = 'big' ORDER BY finished_at DESC LIMIT 1"); got[0] != "w2" || got[1] != "2000000" {
		t.Errorf("provenance: worker %s rows %s", got[0], got[1])
	}
	// The daemon hears a worker's counters in its presence, each second.
	waitFor(t, 5*time.Second, func() bool {
		return scrape(t, s.HTTPURL+"/metrics")[`cellsd_worker_rows_streamed_total{worker="w2"}`] == 2_000_000
	})
	m = scrape(t, s.HTTPURL+"/metrics")
	if m[`cellsd_worker_jobs_retried_total{worker="w2"}`] != 1 || m[`cellsd_worker_rows_streamed_total{worker="w2"}`] != 2_000_000 || m["cellsd_workers_alive"] != 1 {
		t.Errorf("daemon metrics of w2: retried %v rows %v alive %v", m[`cellsd_worker_jobs_retried_total{worker="w2"}`],
			m[`cellsd_worker_rows_streamed_total{worker="w2"}`], m["cellsd_workers_alive"])
	}
	if wm := scrape(t, w2.metrics); wm[`cellsd_worker_jobs_run_total{worker="w2"}`] != 1 || wm[`cellsd_worker_bytes_streamed_total{worker="w2"}`] == 0 {
		t.Errorf("w2's own metrics: %v", wm)
	}
}

// TestRun_OutsideWorkerLimits runs a notebook with `cellsd run --nats`
// and a daemon-side connections file without credentials, on an outside
// worker started with --max-result-bytes: a result over it fails clearly
// and leaves no table half written; a connection whose credentials are
// wrong fails with the database's message and not the secret.
func TestRun_OutsideWorkerLimits(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.RunServer(t, -1, t.TempDir())
	defer srv.Shutdown()
	dsn := pgtest.DSN(t)
	badDSN := "postgres://cellsd_nosuch_role:hunter2-secret@" + dsn[strings.Index(dsn, "@")+1:]
	if !strings.Contains(dsn, "@") {
		badDSN = strings.Replace(dsn, "postgres://", "postgres://cellsd_nosuch_role:hunter2-secret@", 1)
	}
	workerConns := writeFileT(t, filepath.Join(dir, "worker.toml"), "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\ndsn = \""+dsn+
		"\"\n[[db.connectors]]\nid = \"bad\"\nengine = \"postgres\"\ndsn = \""+badDSN+"\"\n")
	runConns := writeFileT(t, filepath.Join(dir, "run.toml"), "[[db.connectors]]\nid = \"pg\"\nengine = \"postgres\"\nworkers = true\n"+
		"[[db.connectors]]\nid = \"bad\"\nengine = \"postgres\"\nworkers = true\n")
	startWorker(t, srv.ClientURL(), workerConns, "w1", "--max-result-bytes", "1048576")
	nb := writeNotebook(t, `{"data": {
		"small": {"id": "small", "type": "sql", "data": {"title": "Small", "connectorId": "pg", "sql": "SELECT 42 AS answer"}},
		"huge": {"id": "huge", "type": "sql", "data": {"title": "Huge", "connectorId": "pg", "sql": "SELECT g::bigint AS id, md5(g::text) AS s FROM generate_series(1, 500000) g"}},
		"denied": {"id": "denied", "type": "sql", "data": {"title": "Denied", "connectorId": "bad", "sql": "SELECT 1 AS one"}}},
	  "artifacts": {"nb": {"id": "nb", "cellIds": ["small", "huge", "denied"]}}}`)
	db := filepath.Join(dir, "core.duckdb")
	report := filepath.Join(dir, "r.json")
	code, _, stderr := cellsd(t, "run", nb, "--connections", runConns, "--nats", srv.ClientURL(), "--db", db, "--materialization", "schema", "--report", report)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, want := range []string{
		"success  nb/Small (small)",
		"connection pg: result too large: over the limit of 1048576 bytes (--max-result-bytes)",
		"cellsd_nosuch_role",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "hunter2") {
		t.Errorf("the secret is in the output:\n%s", stderr)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "hunter2") {
		t.Error("the secret is in the report")
	}
	// Nothing half written: the database holds the small result only.
	tables := duckTables(t, db, "artifact_nb")
	if tables != "small" {
		t.Errorf("tables of artifact_nb: %q, want only small", tables)
	}
}

// TestRun_NoWorkerTimeout: a cell on a workers = true connection with no
// worker waits queued with the reason, and --timeout fails it.
func TestRun_NoWorkerTimeout(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.RunServer(t, -1, t.TempDir())
	defer srv.Shutdown()
	nb := writeNotebook(t, `{"data": {"q": {"id": "q", "type": "sql", "data": {"title": "Q", "connectorId": "pg", "sql": "SELECT 1 AS one"}}},
	  "artifacts": {"nb": {"id": "nb", "cellIds": ["q"]}}}`)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	evs := subscribeEvents(t, nc, "noworker")
	start := time.Now()
	code, _, stderr := cellsd(t, "run", nb, "--connections", daemonWorkersConns(t, dir), "--nats", srv.ClientURL(), "--session", "noworker", "--timeout", "2s")
	if code != exitFailed || !strings.Contains(stderr, "timed out after 2s") {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the run took %s", d)
	}
	waitFor(t, 5*time.Second, func() bool { return evs.has("q", "error", "") })
	if !evs.has("q", "queued", "waiting for a worker for pg") || evs.has("q", "running", "") {
		t.Errorf("events of q: %q", evs.of("q"))
	}
	// Without --nats no outside worker could take the job: refused.
	code, _, stderr = cellsd(t, "run", nb, "--connections", daemonWorkersConns(t, dir))
	if code != exitUsage || !strings.Contains(stderr, `connector "pg": workers = true: its cells wait for outside workers (cellsd worker); give --nats URL`) {
		t.Errorf("without --nats: exit %d:\n%s", code, stderr)
	}
}

// duckTables lists the tables of a schema of a DuckDB file.
func duckTables(t *testing.T, path, schema string) string {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables string
	if err := db.QueryRow("SELECT coalesce(string_agg(table_name, ',' ORDER BY table_name), '') FROM duckdb_tables() WHERE schema_name = ?", schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	return tables
}
