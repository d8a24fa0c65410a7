package daemon_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/pgtest"
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
