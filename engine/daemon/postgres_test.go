package daemon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/pgtest"
	"github.com/cellsd/cellsd/internal/poll"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgDaemon starts a daemon with the test Postgres as connection "pg" and
// connects a client to it.
func pgDaemon(t *testing.T) (*daemon.Daemon, *nats.Conn) {
	t.Helper()
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres, DSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemon.Config{Connections: reg})
	return d, connect(t, d.NATSURL())
}

// TestDaemon_PostgresCellMetrics runs a Postgres cell with a DuckDB cell
// downstream in a daemon session: rows and the bytes received land in the
// metrics, the event carries the rows, and the status op gives the
// external cell's refresh policy and the age of its result.
func TestDaemon_PostgresCellMetrics(t *testing.T) {
	d, nc := pgDaemon(t)
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{
			"remote": map[string]any{"id": "remote", "type": "sql", "data": map[string]any{"title": "remote", "connectorId": "pg", "resultName": "remote", "refresh": "ttl:10m",
				"sql": "SELECT g AS id, 'row ' || g AS name FROM generate_series(1, 1000) AS g"}},
			"local": map[string]any{"id": "local", "type": "sql", "data": map[string]any{"title": "local", "resultName": "local",
				"sql": "SELECT count(*) AS n FROM remote"}},
		},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": []string{"remote", "local"}, "edges": []any{}}},
	})
	id := open(t, nc, jobapi.OpenRequest{Notebook: nb})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), nil, &r)
	if end := evs.waitRun(t, r.Run); end.Status != "success" {
		t.Fatalf("run ended %s (%s)", end.Status, end.Reason)
	}
	for _, ev := range evs.all() {
		if ev.Cell == "remote" && ev.Status == "success" && (ev.Rows == nil || *ev.Rows != 1000) {
			t.Errorf("remote succeeded with rows %v", ev.Rows)
		}
	}
	var st struct{ Cells []jobapi.StatusCell }
	request(t, nc, jobapi.SessionSubject(id, "status"), nil, &st)
	if len(st.Cells) != 2 {
		t.Fatalf("status has %d cells, want 2", len(st.Cells))
	}
	for _, c := range st.Cells {
		switch c.Cell {
		case "remote":
			if c.Refresh != "ttl:10m" || c.FetchedAt == nil || c.AgeMs == nil || *c.AgeMs < 0 || *c.AgeMs > 60e3 {
				t.Errorf("status of remote: refresh %q fetchedAt %v ageMs %v, want ttl:10m and a fresh result", c.Refresh, c.FetchedAt, c.AgeMs)
			}
		case "local":
			if c.Refresh != "" || c.FetchedAt != nil || c.AgeMs != nil {
				t.Errorf("status of local, a DuckDB cell: refresh %q fetchedAt %v ageMs %v, want none", c.Refresh, c.FetchedAt, c.AgeMs)
			}
		}
	}
	poll.Until(t, 10e9, 10e6, func() error {
		m := metrics(t, d)
		if m["cellsd_rows_materialized_total"] != 1001 {
			return fmt.Errorf("rows materialized %v, want 1001", m["cellsd_rows_materialized_total"])
		}
		// 1,000 int4 and text values at least.
		if b := m["cellsd_bytes_materialized_total"]; b < 1000*(4+5) {
			return fmt.Errorf("bytes materialized %v", b)
		}
		return nil
	})
}

// TestPage_Refresh: the live page shows an external cell's refresh
// policy and the age of its result, once the run's event arrives and,
// after a reload, from the status reply alone.
func TestPage_Refresh(t *testing.T) {
	browser(t)
	d, nc := pgDaemon(t)
	nb, _ := json.Marshal(map[string]any{
		"data": map[string]any{
			"remote": map[string]any{"id": "remote", "type": "sql", "data": map[string]any{"title": "Remote", "connectorId": "pg", "resultName": "remote",
				"refresh": "ttl:10m", "sql": "SELECT g AS id FROM generate_series(1, 10) AS g"}},
			"local": map[string]any{"id": "local", "type": "sql", "data": map[string]any{"title": "Local", "resultName": "local", "sql": "SELECT count(*) AS n FROM remote"}},
		},
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "cellIds": []string{"remote", "local"}, "edges": []any{}}},
	})
	id := open(t, nc, jobapi.OpenRequest{Notebook: nb})
	p := openPage(t, d, sessionPath(id))
	p.ready()
	p.clickCell("a", "remote")
	p.waitFor("not fetched yet", `document.querySelector("[data-testid=refresh]")?.textContent === "refresh ttl:10m · not fetched yet"`, 10*time.Second)
	p.run(chromedp.Click(chromedp.CSS(`[data-testid=run-all]`)))
	p.waitStatuses("both succeed", []string{"a/remote", "a/local"}, "success", 30*time.Second)
	fetched := `/^refresh ttl:10m · fetched [0-9]+s ago$/.test(document.querySelector("[data-testid=refresh]")?.textContent ?? "")`
	p.waitFor("the age after the run", fetched, 10*time.Second)

	p.run(chromedp.Reload())
	p.ready()
	p.clickCell("a", "remote")
	p.waitFor("the age from the status reply", fetched, 10*time.Second)
	p.clickCell("a", "local")
	var local int
	p.eval(`document.querySelectorAll("[data-testid=refresh]").length`, &local)
	if local != 0 {
		t.Errorf("the DuckDB cell's panel shows a refresh policy")
	}
}
