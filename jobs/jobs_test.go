package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/measure"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
	"github.com/cellsd/cellsd/jobs"
)

// A child test process runs as a worker when these are set (see
// startChild), so a test can kill -9 a real worker process.
const (
	envChildNATS = "CELLSD_JOBS_CHILD_NATS"
	envChildDSN  = "CELLSD_JOBS_CHILD_DSN"
	envChildName = "CELLSD_JOBS_CHILD_NAME"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envChildNATS); url != "" {
		os.Exit(childWorker(url, os.Getenv(envChildDSN), os.Getenv(envChildName)))
	}
	os.Exit(m.Run())
}

// childWorker runs a worker until SIGTERM, then prints its Go heap's
// high-water mark ("heap-MiB 12.3").
func childWorker(url, dsn, name string) int {
	var heap measure.HeapPeak
	stopHeap := heap.Start()
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	w, err := jobs.NewWorker(nc, jobs.WorkerOptions{Name: name, Connections: []connectors.Connection{pgConn(dsn)}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := w.Open(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
	w.Close()
	stopHeap()
	fmt.Printf("heap-MiB %.1f\n", heap.MiB())
	return 0
}

func pgConn(dsn string) connectors.Connection {
	return connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: dsn}
}

// env is one test's NATS server, engine-side client and Postgres.
type env struct {
	t      testing.TB
	url    string
	dsn    string
	nc     *nats.Conn
	client *jobs.Client
}

func newEnv(t testing.TB, opts jobs.ClientOptions) *env {
	t.Helper()
	dsn := pgtest.DSN(t)
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := jobs.NewClient(nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, url: srv.ClientURL(), dsn: dsn, nc: nc, client: c}
}

// worker starts an in-process worker on its own connection.
func (e *env) worker(name string, conns ...connectors.Connection) *jobs.Worker {
	e.t.Helper()
	if len(conns) == 0 {
		conns = []connectors.Connection{pgConn(e.dsn)}
	}
	nc, err := nats.Connect(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := jobs.NewWorker(nc, jobs.WorkerOptions{Name: name, Connections: conns})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Open(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		w.Close()
		nc.Close()
	})
	return w
}

// child starts a worker in a child process and returns it once ready.
func (e *env) child(name string) *exec.Cmd { return e.childProc(name).cmd }

// childProcess is a worker child process and its stdout.
type childProcess struct {
	cmd *exec.Cmd
	out io.Reader
}

// stop ends the child with SIGTERM and returns its heap's high-water mark
// in MiB.
func (c *childProcess) stop(tb testing.TB) float64 {
	c.cmd.Process.Signal(syscall.SIGTERM)
	data, _ := io.ReadAll(c.out)
	c.cmd.Wait()
	var mib float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "heap-MiB %f", &mib); err != nil {
		tb.Fatalf("worker's heap: %q: %v", data, err)
	}
	return mib
}

func (e *env) childProc(name string) *childProcess {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildNATS+"="+e.url, envChildDSN+"="+e.dsn, envChildName+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		e.t.Fatalf("child worker %s: %q %v", name, buf, err)
	}
	return &childProcess{cmd: cmd, out: out}
}

func (e *env) source(c connectors.Connection) connectors.Source {
	s, err := e.client.Source(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// collector is a ResultWriter that counts what it gets, can start over
// and hears the job's statuses.
type collector struct {
	mu       sync.Mutex
	begun    int
	rows     int64
	sum      int64 // of the first column, when it is a BIGINT
	restarts int
	statuses []jobs.Status
	onWrite  func(rows int64) // called after each batch, without the lock
}

func (c *collector) Begin(*arrow.Schema, []connectors.Column) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begun++
	return nil
}

func (c *collector) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	c.mu.Lock()
	c.rows += rec.NumRows()
	if ids, ok := rec.Column(0).(*array.Int64); ok {
		for _, v := range ids.Int64Values() {
			c.sum += v
		}
	}
	rows := c.rows
	c.mu.Unlock()
	if c.onWrite != nil {
		c.onWrite(rows)
	}
	return nil
}

func (c *collector) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restarts++
	c.rows, c.sum, c.begun = 0, 0, 0
	return nil
}

func (c *collector) JobStatus(s jobs.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses = append(c.statuses, s)
}

func (c *collector) reasons() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.statuses {
		out = append(out, s.State+": "+s.Reason)
	}
	return out
}

func (c *collector) last() jobs.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.statuses) == 0 {
		return jobs.Status{}
	}
	return c.statuses[len(c.statuses)-1]
}

func hasReason(reasons []string, want string) bool {
	for _, r := range reasons {
		if r == want {
			return true
		}
	}
	return false
}

func fetchAsync(ctx context.Context, src connectors.Source, sql string, w connectors.ResultWriter) <-chan error {
	done := make(chan error, 1)
	go func() { done <- src.Fetch(ctx, connectors.Query{SQL: sql, HasResult: true}, w) }()
	return done
}

func wait(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("fetch still running after %s", d)
		return nil
	}
}

func TestJob_EndToEnd(t *testing.T) {
	t.Cleanup(leaktest.Start(t)) // runs after the other cleanups
	e := newEnv(t, jobs.ClientOptions{})
	e.worker("w1")
	var c collector
	err := e.source(pgConn(e.dsn)).Fetch(context.Background(), connectors.Query{HasResult: true,
		SQL: "SELECT g::bigint AS id, 'row ' || g AS s, (g / 3.0)::numeric(12,2) AS d, DATE '2026-01-01' + g AS day FROM generate_series(1, 10000) g"}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.rows != 10000 || c.sum != 10000*10001/2 || c.begun != 1 || c.restarts != 0 {
		t.Fatalf("rows %d sum %d begun %d restarts %d", c.rows, c.sum, c.begun, c.restarts)
	}
	rs := c.reasons()
	if !hasReason(rs, "queued: waiting for a worker for pg") || !hasReason(rs, "running: on worker w1") {
		t.Fatalf("statuses %q", rs)
	}
	last := c.last()
	if last.State != jobs.StateDone || last.Meta == nil || last.Meta.Worker != "w1" || last.Meta.Connector != "pg" {
		t.Fatalf("last status %+v", last)
	}
	// Record batches larger than the server's max payload cross in parts
	// and arrive whole.
	var big collector
	err = e.source(pgConn(e.dsn)).Fetch(context.Background(), connectors.Query{HasResult: true,
		SQL: "SELECT g::bigint AS id, repeat(md5(g::text), 40) AS s FROM generate_series(1, 6000) g"}, &big)
	if err != nil || big.rows != 6000 || big.sum != 6000*6001/2 || e.nc.MaxPayload() > 2048*1280 {
		t.Fatalf("batches in parts: %v, rows %d sum %d, max payload %d", err, big.rows, big.sum, e.nc.MaxPayload())
	}
	// A query without a result runs, and nothing reaches the writer.
	var c2 collector
	if err := e.source(pgConn(e.dsn)).Fetch(context.Background(), connectors.Query{SQL: "SELECT 1"}, &c2); err != nil || c2.begun != 0 {
		t.Fatalf("no-result query: %v, begun %d", err, c2.begun)
	}
	// A Postgres error keeps its position.
	err = e.source(pgConn(e.dsn)).Fetch(context.Background(), connectors.Query{SQL: "SELECT nosuch FROM generate_series(1,2)", HasResult: true}, &collector{})
	var pe interface{ SQLState() string }
	if err == nil || !strings.Contains(err.Error(), `column "nosuch" does not exist`) || !errors.As(err, &pe) || pe.SQLState() != "42703" {
		t.Fatalf("error %v", err)
	}
}

const rows2M = 2_000_000

// TestJob_WorkerKilled kills -9 a worker process in the middle of a
// 2M-row stream: a second worker finishes it, the writer sees exactly 2M
// rows once, the partial attempt dropped.
func TestJob_WorkerKilled(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	w1 := e.child("w1")
	killAt := make(chan struct{})
	var once sync.Once
	resume := make(chan struct{})
	c := &collector{}
	c.onWrite = func(rows int64) {
		if rows >= 300_000 {
			once.Do(func() {
				close(killAt)
				<-resume // the engine stalls; w1's window fills
			})
		}
	}
	done := fetchAsync(context.Background(), e.source(pgConn(e.dsn)),
		fmt.Sprintf("SELECT g::bigint AS id, g * 2 AS v, md5(g::text) AS s FROM generate_series(1, %d) g", rows2M), c)
	select {
	case <-killAt:
	case err := <-done:
		t.Fatalf("fetch ended before the kill: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no 300k rows in 60 s")
	}
	e.worker("w2")
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w1.Wait()
	close(resume)
	if err := wait(t, done, 120*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.rows != rows2M || c.sum != rows2M*(rows2M+1)/2 || c.restarts != 1 || c.begun != 1 {
		t.Fatalf("rows %d sum %d restarts %d begun %d", c.rows, c.sum, c.restarts, c.begun)
	}
	if rs := c.reasons(); !hasReason(rs, "running: retried on worker w2: w1 lost") {
		t.Fatalf("statuses %q", rs)
	}
	if m := c.last().Meta; m == nil || m.Worker != "w2" || m.Attempt != 2 {
		t.Fatalf("meta %+v", m)
	}
}

// TestJob_NoWorker: with no worker the job waits with the reason; it
// runs when one starts, and again when its only worker is killed.
func TestJob_NoWorker(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	stall := make(chan struct{})
	var once sync.Once
	killed := make(chan struct{})
	c := &collector{}
	c.onWrite = func(rows int64) {
		once.Do(func() {
			close(stall)
			<-killed
		})
	}
	done := fetchAsync(context.Background(), e.source(pgConn(e.dsn)),
		"SELECT g::bigint AS id, md5(g::text) AS s FROM generate_series(1, 200000) g", c)
	time.Sleep(time.Second)
	if rs := c.reasons(); len(rs) != 1 || rs[0] != "queued: waiting for a worker for pg" {
		t.Fatalf("statuses with no worker: %q", rs)
	}
	if n := e.client.Waiting()["pg"]; n != 1 {
		t.Fatalf("waiting %d", n)
	}
	w1 := e.child("w1")
	<-stall
	w1.Process.Signal(syscall.SIGKILL)
	w1.Wait()
	close(killed)
	poll.Until(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s := c.last(); s.Reason != "waiting for a worker for pg: w1 lost" {
			return fmt.Errorf("last status %+v", s)
		}
		return nil
	})
	time.Sleep(time.Second) // no worker: it keeps waiting
	if s := c.last(); s.State != jobs.StateQueued {
		t.Fatalf("status %+v", s)
	}
	e.worker("w2")
	if err := wait(t, done, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.rows != 200000 || c.restarts != 1 {
		t.Fatalf("rows %d restarts %d", c.rows, c.restarts)
	}
	if rs := c.reasons(); !hasReason(rs, "running: retried on worker w2: w1 lost") {
		t.Fatalf("statuses %q", rs)
	}
}

// TestJob_Cancel: the fetch's context ends mid-stream; the query is gone
// from pg_stat_activity within 1 s.
func TestJob_Cancel(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	e.worker("w1")
	marker := fmt.Sprintf("cellsd_cancel_%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan struct{})
	var once sync.Once
	c := &collector{onWrite: func(int64) { once.Do(func() { close(got) }) }}
	done := fetchAsync(ctx, e.source(pgConn(e.dsn)),
		"SELECT g::bigint AS id, pg_sleep(0.0002)::text AS z, '"+marker+"' AS m FROM generate_series(1, 1000000) g", c)
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("fetch ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no batch in 30 s")
	}
	pg, err := pgx.Connect(context.Background(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	active := func() int {
		var n int
		if err := pg.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", marker).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := active(); n != 1 {
		t.Fatalf("%d active queries before the cancel", n)
	}
	start := time.Now()
	cancel()
	if err := wait(t, done, 5*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch: %v", err)
	}
	for active() != 0 {
		if time.Since(start) > time.Second {
			t.Fatalf("query still active %s after the cancel", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("query gone %s after the cancel", time.Since(start))
}

// TestJob_ConnectorNotHeld: a job for a connection no worker holds is not
// taken; cancelled, it leaves the queue.
func TestJob_ConnectorNotHeld(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	e.worker("w1")
	other := pgConn(e.dsn)
	other.ID = "other"
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{}
	done := fetchAsync(ctx, e.source(other), "SELECT 1::bigint AS id", c)
	time.Sleep(1500 * time.Millisecond)
	if rs := c.reasons(); len(rs) != 1 || rs[0] != "queued: waiting for a worker for other" || c.begun != 0 {
		t.Fatalf("statuses %q, begun %d", rs, c.begun)
	}
	if w := e.client.Waiting(); w["other"] != 1 {
		t.Fatalf("waiting %v", w)
	}
	cancel()
	if err := wait(t, done, 5*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch: %v", err)
	}
	js, _ := jetstream.New(e.nc)
	st, err := js.Stream(context.Background(), jobs.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("%d jobs left in the queue", info.State.Msgs)
	}
	if w := e.client.Waiting(); len(w) != 0 {
		t.Fatalf("waiting %v", w)
	}
}

// TestJob_TooLarge: a result over the limit is a clear error.
func TestJob_TooLarge(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{MaxResultBytes: 256 << 10})
	e.worker("w1")
	err := e.source(pgConn(e.dsn)).Fetch(context.Background(), connectors.Query{HasResult: true,
		SQL: "SELECT g::bigint AS id, md5(g::text) AS s FROM generate_series(1, 1000000) g"}, &collector{})
	if !errors.Is(err, jobs.ErrTooLarge) || !strings.Contains(err.Error(), "over the limit of 262144 bytes (--max-result-bytes)") {
		t.Fatalf("error %v", err)
	}
}

// TestJob_WrongCredentials: the connection's message, never its secret.
func TestJob_WrongCredentials(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	bad := pgConn(e.dsn)
	bad.ID = "bad"
	bad.DSN = strings.Replace(e.dsn, "postgres://", "postgres://cellsd_nosuch_role:hunter2-secret@", 1)
	if strings.Contains(e.dsn, "@") {
		bad.DSN = "postgres://cellsd_nosuch_role:hunter2-secret@" + e.dsn[strings.Index(e.dsn, "@")+1:]
	}
	e.worker("w1", bad)
	err := e.source(bad).Fetch(context.Background(), connectors.Query{SQL: "SELECT 1 AS x", HasResult: true}, &collector{})
	if err == nil || !strings.Contains(err.Error(), "cellsd_nosuch_role") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
	t.Logf("error: %v", err)
}

// TestJob_NotRetried: a job on a connection with read_only = false whose
// worker is killed is not run again on another worker: the fetch fails.
func TestJob_NotRetried(t *testing.T) {
	e := newEnv(t, jobs.ClientOptions{})
	w1 := e.child("w1")
	got := make(chan struct{})
	var once sync.Once
	c := &collector{onWrite: func(int64) { once.Do(func() { close(got) }) }}
	rw := pgConn(e.dsn)
	rw.ReadOnly = new(bool)
	done := fetchAsync(context.Background(), e.source(rw),
		"SELECT g::bigint AS id, pg_sleep(0.00002)::text AS z FROM generate_series(1, 2000000) g", c)
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("fetch ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no batch in 30 s")
	}
	e.worker("w2") // free to take it, were it retried
	w1.Process.Signal(syscall.SIGKILL)
	w1.Wait()
	err := wait(t, done, 30*time.Second)
	if !errors.Is(err, jobs.ErrNotRetried) || !strings.Contains(err.Error(), "connection pg: worker w1: w1 lost; not retried: the connection is not read_only") {
		t.Fatalf("fetch: %v", err)
	}
	if rs := c.reasons(); hasReason(rs, "running: retried on worker w2: w1 lost") {
		t.Fatalf("statuses %q", rs)
	}
}
