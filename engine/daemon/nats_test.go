package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
)

// chainNotebook is a notebook of n DuckDB cells, each reading the one
// before and doing work enough (work rows) to take a few milliseconds.
func chainNotebook(n, work int) json.RawMessage {
	data := map[string]any{}
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("c%03d", i)
		sql := fmt.Sprintf("SELECT count(*) AS n, sum(i %% 7) AS s FROM range(%d) t(i)", work)
		if i > 1 {
			sql = fmt.Sprintf("SELECT (SELECT n FROM r%03d) + count(*) AS n, sum(i %% 7) AS s FROM range(%d) t(i)", i-1, work)
		}
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "sql": sql, "resultName": fmt.Sprintf("r%03d", i)}}
		ids = append(ids, id)
	}
	nb, _ := json.Marshal(map[string]any{
		"data":      data,
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": ids, "edges": []any{}}},
	})
	return nb
}

func successes(evs []natsbus.Payload) int {
	n := 0
	for _, ev := range evs {
		if ev.Cell != natsbus.SessionToken && ev.Status == "success" {
			n++
		}
	}
	return n
}

// gatedChainNotebook is chainNotebook(n, work) with a Postgres cell,
// gate, that takes the advisory lock lock (in its transaction) and that
// cell gateAt reads: the chain stops there for as long as someone else
// holds the lock.
func gatedChainNotebook(n, work, gateAt int, lock int64) json.RawMessage {
	var nb map[string]any
	_ = json.Unmarshal(chainNotebook(n, work), &nb)
	data := nb["data"].(map[string]any)
	data["gate"] = map[string]any{"id": "gate", "type": "sql", "data": map[string]any{"title": "gate", "connectorId": "pg", "resultName": "gate",
		"sql": fmt.Sprintf("SELECT 1 AS opened FROM (SELECT pg_advisory_xact_lock(%d)) AS l", lock)}}
	id := fmt.Sprintf("c%03d", gateAt)
	cell := data[id].(map[string]any)["data"].(map[string]any)
	cell["sql"] = fmt.Sprintf("SELECT (SELECT n FROM r%03d) + (SELECT count(*) FROM gate) + count(*) AS n, sum(i %% 7) AS s FROM range(%d) t(i)", gateAt-1, work)
	a := nb["artifacts"].(map[string]any)["a"].(map[string]any)
	a["cellIds"] = append(a["cellIds"].([]any), "gate")
	out, _ := json.Marshal(nb)
	return out
}

// TestDaemon_LateSubscriber joins mid-run the way the README tells a
// frontend to: subscribe to the session's events, read the bucket, then
// apply the events newer than the bucket's state. It must miss nothing:
// every event it applies follows the state it had for that cell.
//
// The run is held at its middle (a Postgres cell waits for an advisory
// lock the test holds) until the subscriber has joined, so the subscriber
// joins while events are still arriving however loaded the machine is,
// and live events follow for certain once the lock is let go.
func TestDaemon_LateSubscriber(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Release()
	const lock = 0x6c617465 // "late"
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lock)); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_unlock($1)", int64(lock)); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer unlock()
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrency 2: the gate waits in one slot while the chain runs up
	// to it in the other.
	d := startDaemon(t, daemon.Config{Concurrency: 2, Connections: reg})
	nc := connect(t, d.NATSURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const cells, gateAt = 80, 41
	id := open(t, nc, jobapi.OpenRequest{Notebook: gatedChainNotebook(cells, 2_000_000, gateAt, lock), SessionID: "late"})
	witness, run := runUntil(t, nc, id, gateAt-5)

	// The late subscriber.
	ch := make(chan *nats.Msg, 100_000)
	sub, err := nc.ChanSubscribe(natsbus.SessionSubject(id), ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Read the bucket (not with the KV's ListKeys, which may end short
	// while a run writes the bucket: see natstest.BucketState).
	state, err := natstest.BucketState(ctx, js, id)
	if err != nil {
		t.Fatal(err)
	}
	fromKV := len(state)
	if fromKV == 0 {
		t.Fatal("the bucket holds nothing of a session that has run cells")
	}
	unlock() // the rest of the run, from the gate on, the subscriber sees live
	live := 0
	timeout := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case m := <-ch:
			var ev natsbus.Payload
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			have, known := state[ev.Cell]
			if known && ev.Seq <= have.Seq {
				continue // already in the state read from the bucket
			}
			if ev.Cell != natsbus.SessionToken {
				prev := "idle"
				if known {
					prev = have.Status
				}
				if ev.Prev == nil || *ev.Prev != prev {
					var history []string
					for _, w := range witness.all() {
						if w.Cell == ev.Cell {
							history = append(history, fmt.Sprintf("%d:%v->%s", w.Seq, deref(w.Prev), w.Status))
						}
					}
					t.Fatalf("missed an event: %s went %v -> %s (seq %d) but the subscriber had it %s (from the bucket: %v seq %d; %d keys listed); the witness saw %v",
						ev.Cell, deref(ev.Prev), ev.Status, ev.Seq, prev, known, have.Seq, fromKV, history)
				}
			}
			state[ev.Cell] = ev
			live++
			done = ev.Cell == natsbus.SessionToken && ev.Status != "running" && ev.Run != nil && *ev.Run == run
		case <-timeout:
			t.Fatal("the run did not end")
		}
	}
	if live == 0 {
		t.Fatal("the subscriber joined after the run: nothing arrived live")
	}
	witness.waitRun(t, run)
	final := map[string]string{}
	for _, ev := range witness.all() {
		final[ev.Cell] = ev.Status
	}
	for cell, status := range final {
		if state[cell].Status != status {
			t.Errorf("late subscriber has %s %s, the witness %s", cell, state[cell].Status, status)
		}
	}
	t.Logf("late subscriber: %d cells from the bucket, %d events live", fromKV, live)
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestDaemon_TwoDaemonsShareOpens opens 20 sessions on one NATS served by
// two daemons: both take some, and every session answers on its subjects.
func TestDaemon_TwoDaemonsShareOpens(t *testing.T) {
	d1 := startDaemon(t, daemon.Config{})
	d2 := startDaemon(t, daemon.Config{NATSURL: d1.NATSURL()})
	nc := connect(t, d1.NATSURL())
	nb := chainNotebook(2, 10)
	var ids []string
	for range 20 {
		ids = append(ids, open(t, nc, jobapi.OpenRequest{Notebook: nb}))
	}
	n1, n2 := len(d1.Sessions()), len(d2.Sessions())
	if n1+n2 != 20 || n1 == 0 || n2 == 0 {
		t.Fatalf("daemons own %d and %d sessions: want 20 split between both", n1, n2)
	}
	for _, id := range ids {
		var st jobapi.StatusReply
		request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)
		if st.SessionID != id || len(st.Cells) != 2 {
			t.Errorf("status of %s: %+v", id, st)
		}
	}
	t.Logf("sessions: %d and %d", n1, n2)
}

// TestDaemon_NATSRestartLosesNothing restarts the NATS server in the
// middle of a run: the cells still succeed, and the stream ends up with
// every event of the session, seq 1..n without a gap, a duplicate, or a
// change of order.
func TestDaemon_NATSRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	port := natstest.FreePort(t)
	srv := natstest.RunServer(t, port, dir)
	t.Cleanup(func() { srv.Shutdown() }) // after the daemon's Close
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	d := startDaemon(t, daemon.Config{NATSURL: url, Concurrency: 1})
	nc := connect(t, url)
	id := open(t, nc, jobapi.OpenRequest{Notebook: chainNotebook(60, 1_000_000), SessionID: "restart"})
	witness, _ := runUntil(t, nc, id, 5)
	srv.Shutdown()
	srv.WaitForShutdown()
	// The run goes on and ends while NATS is down: its events wait.
	poll.Until(t, 60*time.Second, 10*time.Millisecond, func() error {
		m := metrics(t, d)
		if m[`cellsd_cells_total{status="success"}`] != 60 {
			return fmt.Errorf("%v cells done", m[`cellsd_cells_total{status="success"}`])
		}
		if m["cellsd_events_buffered"] == 0 {
			return fmt.Errorf("the run ended with nothing buffered: NATS was down")
		}
		return nil
	})
	srv = natstest.RunServer(t, port, dir)

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var got []natsbus.Payload
	poll.Until(t, 60*time.Second, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if got, err = natstest.SessionEvents(ctx, js, id); err != nil {
			return err
		}
		if n := len(got); n == 0 || got[n-1].Cell != natsbus.SessionToken || got[n-1].Status == "running" {
			return fmt.Errorf("the stream has %d events and not the run's end", n)
		}
		return nil
	})
	for i, ev := range got {
		if ev.Seq != int64(i+1) {
			t.Fatalf("stream event %d has seq %d: want 1..%d in order", i, ev.Seq, len(got))
		}
	}
	if last := got[len(got)-1]; last.Status != "success" {
		t.Errorf("run ended %s (%s)", last.Status, last.Reason)
	}
	if n := successes(got); n != 60 {
		t.Errorf("%d cells succeeded, want 60", n)
	}
	t.Logf("%d events, seq 1..%d; the witness saw %d live", len(got), len(got), len(witness.all()))
}

// metrics reads the daemon's metrics without labels' escaping subtleties:
// name{labels} -> value, for the lines that are samples.
func metrics(t testing.TB, d *daemon.Daemon) map[string]float64 {
	t.Helper()
	res, err := http.Get("http://" + d.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			out[name] = v
		}
	}
	return out
}

// runUntil subscribes a witness to the session's events, runs it all, and
// returns once done cells have succeeded, mid-run: the witness and the
// run's id.
func runUntil(t *testing.T, nc *nats.Conn, id string, done int) (*events, string) {
	t.Helper()
	witness := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
	poll.Until(t, 60*time.Second, time.Millisecond, func() error {
		if n := successes(witness.all()); n < done {
			return fmt.Errorf("%d cells done", n)
		}
		return nil
	})
	return witness, r.Run
}
