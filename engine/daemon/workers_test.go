package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
	"github.com/cellsd/cellsd/jobs"
)

// workersConfig is the README's "Workers on other machines" config, on a
// free loopback port.
const workersConfig = "../../fixtures/nats-workers.conf"

// TestNATSConfig_WorkerUser: a daemon with no credentials for pg
// (workers = true) and the embedded server of the README's workers
// config. A worker connected as its worker user takes pg's job and the
// cell succeeds on it; that user is refused the job API, the sessions'
// events and the other streams.
func TestNATSConfig_WorkerUser(t *testing.T) {
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, Workers: true})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemon.Config{NATSConfig: workersConfig, Connections: reg})
	url := d.NATSURL()
	errs := &asyncErrs{}
	wnc, err := nats.Connect(url, nats.UserInfo("worker", "worker-secret"), nats.ErrorHandler(errs.handler))
	if err != nil {
		t.Fatal(err)
	}
	defer wnc.Close()
	w, err := jobs.NewWorker(wnc, jobs.WorkerOptions{Name: "remote-1",
		Connections: []connectors.Connection{{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Open(ctx); err != nil {
		t.Fatalf("the worker user cannot start a worker: %v", err)
	}
	defer w.Close()

	op, err := nats.Connect(url, nats.UserInfo("operator", "operator-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{"remote": map[string]any{"id": "remote", "type": "sql", "data": map[string]any{"title": "remote", "connectorId": "pg",
			"resultName": "remote", "sql": "SELECT g AS id FROM generate_series(1, 100) AS g"}}},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"remote"}, "edges": []any{}}},
	})
	id := open(t, op, jobapi.OpenRequest{Notebook: nb})
	evs := subscribe(t, op, id)
	var r struct{ Run string }
	request(t, op, jobapi.SessionSubject(id, "run"), nil, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("run ended %s (%s)", end.Status, end.Reason)
	}
	ran := false
	for _, ev := range evs.all() {
		ran = ran || (ev.Cell == "remote" && ev.Status == "running" && ev.Reason == "on worker remote-1")
	}
	if !ran {
		t.Errorf("the cell did not run on remote-1: %+v", evs.all())
	}

	// Everything else is refused.
	wnc.Publish(jobapi.OpenSubject, []byte(`{}`))
	errs.waitFor(t, "Permissions Violation for Publish", jobapi.OpenSubject)
	wnc.Subscribe("cellsd.v1.events.>", func(*nats.Msg) {})
	errs.waitFor(t, "Permissions Violation for Subscription", "cellsd.v1.events.>")
	wnc.Publish("$JS.API.STREAM.INFO.CELLSD_EVENTS", nil)
	errs.waitFor(t, "Permissions Violation for Publish", "$JS.API.STREAM.INFO.CELLSD_EVENTS")
	wnc.Publish("$JS.API.STREAM.UPDATE.CELLSD_JOBS", []byte(`{}`))
	errs.waitFor(t, "Permissions Violation for Publish", "$JS.API.STREAM.UPDATE.CELLSD_JOBS")
	wnc.Publish("$JS.API.CONSUMER.MSG.NEXT.CELLSD_JOBS.jobs-other", nil)
	errs.waitFor(t, "Permissions Violation for Publish", "$JS.API.CONSUMER.MSG.NEXT.CELLSD_JOBS.jobs-other")
}

// TestDaemon_JobCancel: the cancel op on a Postgres cell running on the
// daemon's embedded worker reaches the worker: the query is gone from
// pg_stat_activity within 1 s, and the cell is cancelled.
func TestDaemon_JobCancel(t *testing.T) {
	pool := pgtest.Pool(t)
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemon.Config{Connections: reg})
	nc := connect(t, d.NATSURL())
	const marker = "cellsd_job_cancel_op"
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{"slow": map[string]any{"id": "slow", "type": "sql", "data": map[string]any{"title": "slow", "connectorId": "pg",
			"resultName": "slow", "sql": "SELECT pg_sleep(60)::text AS " + marker}}},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"slow"}, "edges": []any{}}},
	})
	id := open(t, nc, jobapi.OpenRequest{Notebook: nb})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
	active := func() int {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%"+marker+"%' AND pid <> pg_backend_pid()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	poll.Until(t, 20*time.Second, 20*time.Millisecond, func() error {
		if active() == 0 {
			return errors.New("the query is not running yet")
		}
		return nil
	})
	start := time.Now()
	request(t, nc, jobapi.SessionSubject(id, "cancel"), jobapi.CancelRequest{CellID: "slow"}, nil)
	for active() > 0 {
		if time.Since(start) > time.Second {
			t.Fatalf("the query is still active %s after the cancel", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if end := evs.waitRun(t, r.Run); end.Status != "cancel" {
		t.Errorf("run ended %s (%s)", end.Status, end.Reason)
	}
	var running bool
	for _, ev := range evs.all() {
		running = running || (ev.Cell == "slow" && ev.Status == "running" && strings.HasPrefix(ev.Reason, "on worker "))
	}
	if !running {
		t.Errorf("the cell never ran on a worker: %+v", evs.all())
	}
	t.Logf("query gone %s after the cancel op", time.Since(start).Round(time.Millisecond))
}
