package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// cellsNotebook is an inline notebook of independent DuckDB cells, by id.
func cellsNotebook(sqls map[string]string) json.RawMessage {
	data := map[string]any{}
	var ids []string
	for id, sql := range sqls {
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "sql": sql, "resultName": id}}
		ids = append(ids, id)
	}
	nb, _ := json.Marshal(map[string]any{
		"data":      data,
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "schemaName": "artifact_a", "cellIds": ids, "edges": []any{}}},
	})
	return nb
}

// runCells opens an inline notebook, runs it all and returns each cell's
// final event.
func runCells(t *testing.T, d *daemon.Daemon, sqls map[string]string) map[string]natsbus.Payload {
	t.Helper()
	nc := connect(t, d.NATSURL())
	id := open(t, nc, jobapi.OpenRequest{Notebook: cellsNotebook(sqls)})
	evs := subscribe(t, nc, id)
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject(id, "run"), jobapi.RunRequest{}, &r)
	evs.waitRun(t, r.Run)
	final := map[string]natsbus.Payload{}
	for _, ev := range evs.all() {
		if ev.Cell != natsbus.SessionToken {
			final[ev.Cell] = ev
		}
	}
	return final
}

// TestSandbox_Refusals sends, through the job API, each statement the
// sandbox must refuse: each cell fails with DuckDB's own permission (or
// locked configuration) error, and nothing is written on disk; a CSV
// under --allow-dir reads.
func TestSandbox_Refusals(t *testing.T) {
	allowed := t.TempDir()
	if err := os.WriteFile(filepath.Join(allowed, "ok.csv"), []byte("x,y\n1,2\n3,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "p.csv"), []byte("x\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "x.csv")
	attach := filepath.Join(outside, "attached.duckdb")
	d := startDaemon(t, daemon.Config{Sandbox: engine.Sandbox{AllowDirs: []string{allowed}}})
	const perm = "Permission Error"
	const locked = "the configuration has been locked"
	cases := []struct{ id, sql, want string }{
		{"passwd", `SELECT * FROM read_csv('/etc/passwd')`, perm},
		{"parquet", `SELECT * FROM read_parquet('` + outside + `/*.parquet')`, perm},
		{"csv_outside", `SELECT * FROM read_csv('` + outside + `/p.csv')`, perm},
		{"dotdot", `SELECT * FROM read_csv('` + allowed + `/../` + filepath.Base(outside) + `/p.csv')`, perm},
		{"copy_to", `COPY (SELECT 1) TO '` + target + `'`, perm},
		{"attach", `ATTACH '` + attach + `' AS other`, perm},
		{"install", `INSTALL httpfs`, perm},
		{"load", `LOAD httpfs`, perm},
		{"external_access", `SET enable_external_access = true`, locked},
		{"allowed_dirs", `SET allowed_directories = ['/']`, locked},
		{"pragma_memory", `PRAGMA memory_limit = '100GB'`, locked},
		{"pragma_threads", `PRAGMA threads = 64`, locked},
		{"autoload", `SET autoload_known_extensions = true`, locked},
		{"lock_off", `SET lock_configuration = false`, locked},
	}
	sqls := map[string]string{"allowed_csv": `SELECT * FROM read_csv('` + allowed + `/ok.csv')`}
	for _, c := range cases {
		sqls[c.id] = c.sql
	}
	final := runCells(t, d, sqls)
	if ev := final["allowed_csv"]; ev.Status != "success" || ev.Rows == nil || *ev.Rows != 2 {
		t.Errorf("a CSV under --allow-dir: %s %s (error %s), want success with 2 rows", ev.Status, ev.Reason, deref(ev.Error))
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			ev := final[c.id]
			if ev.Status != "error" || !strings.Contains(deref(ev.Error), c.want) {
				t.Errorf("%s: %s (%s), error %q: want an error with %q", c.sql, ev.Status, ev.Reason, deref(ev.Error), c.want)
			}
		})
	}
	for _, p := range []string{target, attach} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v): the sandbox let SQL write it", p, err)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("%s holds %d entries, want only p.csv", outside, len(entries))
	}
}

// TestSandbox_SessionMemory runs a query that needs more than
// --session-memory in one session: that cell fails with DuckDB's
// out-of-memory error; an aggregate larger than the limit spills and
// succeeds;
// another session runs on.
func TestSandbox_SessionMemory(t *testing.T) {
	d := startDaemon(t, daemon.Config{Sandbox: engine.Sandbox{MemoryLimit: "64MB", Threads: 1}})
	// One session at a time: a session's cells share its memory.
	spill := runCells(t, d, map[string]string{
		"spills": `SELECT count(*) AS n FROM (SELECT DISTINCT md5(i::VARCHAR) AS s FROM range(3000000) t(i))`,
	})
	if ev := spill["spills"]; ev.Status != "success" {
		t.Errorf("an aggregate over the memory limit: %s, error %q: want it spilled and done", ev.Status, deref(ev.Error))
	}
	final := runCells(t, d, map[string]string{
		"runaway": `SELECT list(md5(i::VARCHAR) || md5(i::VARCHAR)) AS l FROM range(4000000) t(i)`,
	})
	if ev := final["runaway"]; ev.Status != "error" || !strings.Contains(deref(ev.Error), "Out of Memory Error") {
		t.Errorf("runaway: %s, error %q: want DuckDB's out-of-memory error", ev.Status, deref(ev.Error))
	}
	other := runCells(t, d, map[string]string{"fine": `SELECT 42 AS answer`})
	if ev := other["fine"]; ev.Status != "success" {
		t.Errorf("another session after the runaway: %s %q", ev.Status, deref(ev.Error))
	}
}

// TestSandbox_BridgeCore sends the refused statements to the bridge's
// duckdb-core: DuckDB's permission error, 422, nothing written.
func TestSandbox_BridgeCore(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	target := filepath.Join(t.TempDir(), "x.csv")
	for _, sql := range []string{
		`SELECT * FROM read_csv('/etc/passwd')`,
		`COPY (SELECT 1) TO '` + target + `'`,
		`ATTACH '` + target + `.duckdb' AS x`,
		`INSTALL httpfs`,
		`SET enable_external_access = true`,
	} {
		body, _ := json.Marshal(map[string]string{"connectionId": "duckdb-core", "sql": sql, "queryType": "json"})
		res, err := http.Post("http://"+d.HTTPAddr()+"/api/db/execute-query", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), "Permission Error") && !strings.Contains(string(got), "locked") {
			t.Errorf("%s on duckdb-core: %d %s, want 422 with DuckDB's refusal", sql, res.StatusCode, got)
		}
	}
	for _, p := range []string{target, target + ".duckdb"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists: the bridge's duckdb-core wrote it", p)
		}
	}
}

// TestSandbox_Fixtures runs the fixture notebooks under serve's defaults
// (sandboxed, opened by path under --notebooks): the quickstart and the
// SQLRooms UI state succeed whole, and no cell of any fails for the
// sandbox.
func TestSandbox_Fixtures(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	for _, name := range []string{"quickstart.json", "sqlrooms-ui.json", "errors.json"} {
		t.Run(name, func(t *testing.T) {
			id := open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(name)})
			evs := subscribe(t, nc, id)
			var r struct{ Run string }
			request(t, nc, jobapi.SessionSubject(id, "run"), jobapi.RunRequest{}, &r)
			end := evs.waitRun(t, r.Run)
			if name != "errors.json" && end.Status != "success" {
				t.Errorf("run: %s (%s)", end.Status, end.Reason)
			}
			for _, ev := range evs.all() {
				if e := deref(ev.Error); strings.Contains(e, "Permission Error") || strings.Contains(e, "configuration has been locked") {
					t.Errorf("cell %s failed for the sandbox: %s", ev.Cell, e)
				}
			}
		})
	}
}
