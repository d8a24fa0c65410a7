package daemon_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/internal/natstest"
)

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestDaemon_HTTP checks health, readiness, the token and that metrics
// count a run.
func TestDaemon_HTTP(t *testing.T) {
	const token = "t0ken"
	port, dir := natstest.FreePort(t), t.TempDir()
	srv := natstest.RunServer(t, port, dir)
	t.Cleanup(func() { srv.Shutdown() }) // after the daemon's Close
	d := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), AuthToken: token})
	base := "http://" + d.HTTPAddr()

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/db/list-connections"} {
		if code, _ := get(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, code)
		}
		if code, _ := get(t, base+path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
	}
	if code, body := get(t, base+"/healthz", token); code != http.StatusOK {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz", token); code != http.StatusOK {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, body := get(t, base+"/api/db/list-connections", token); code != http.StatusOK || !strings.Contains(body, `"duckdb-core"`) {
		t.Errorf("list-connections: %d %s", code, body)
	}

	nc := connect(t, d.NATSURL())
	id := open(t, nc, daemon.OpenRequest{Notebook: notebookPath(quickstart)})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, daemon.SessionSubject(id, "run"), nil, &r)
	evs.waitRun(t, r.Run)
	checkFor(t, 10e9, 10e6, func() error {
		_, body := get(t, base+"/metrics", token)
		for _, want := range []string{
			"cellsd_runs_total 1",
			`cellsd_cells_total{status="success"} 7`,
			"cellsd_cell_duration_seconds_count 7",
			"cellsd_rows_materialized_total 11715",
			"cellsd_sessions_open 1",
			"cellsd_events_buffered 0",
			"cellsd_events_published_total 23",
		} {
			if !strings.Contains(body, want+"\n") {
				return &missing{want, body}
			}
		}
		return nil
	})

	// Without NATS the daemon is alive but not ready.
	srv.Shutdown()
	checkFor(t, 10e9, 10e6, func() error {
		if code, body := get(t, base+"/readyz", token); code != http.StatusServiceUnavailable {
			return &missing{"readyz 503", body}
		}
		return nil
	})
	if code, _ := get(t, base+"/healthz", token); code != http.StatusOK {
		t.Errorf("healthz without NATS: %d", code)
	}
	srv = natstest.RunServer(t, port, dir)
	checkFor(t, 10e9, 10e6, func() error {
		if code, body := get(t, base+"/readyz", token); code != http.StatusOK {
			return &missing{"readyz 200 again", body}
		}
		return nil
	})
}

type missing struct{ want, got string }

func (m *missing) Error() string { return "want " + m.want + " in:\n" + m.got }
