package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// cellsd runs the command in process and returns its exit code and output.
func cellsd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

const notebooks = "../../fixtures/notebooks/"

func TestRun_Quickstart(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.json")
	junit := filepath.Join(t.TempDir(), "r.xml")
	code, _, stderr := cellsd(t, "run", notebooks+"quickstart.json", "--report", report, "--junit", junit)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		Artifacts []struct {
			ID    string
			Cells []struct {
				ID         string
				Status     string
				Relation   string
				Rows       *int64
				DurationMs *float64
				Cached     *bool
				Error      *string
			}
		}
		Summary map[string]int
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"products": 6, "sales": 5000, "order_lines": 5000, "daily": 366, "regions": 6, "big": 1334, "summary": 3}
	if len(r.Artifacts) != 1 || len(r.Artifacts[0].Cells) != len(want) {
		t.Fatalf("report has %+v, want one artifact with %d cells", r.Artifacts, len(want))
	}
	for _, c := range r.Artifacts[0].Cells {
		if c.Status != "success" || c.Rows == nil || *c.Rows != want[c.ID] || c.DurationMs == nil || c.Cached == nil || c.Error != nil {
			t.Errorf("cell %s: status %s rows %v error %v, want success with %d rows", c.ID, c.Status, c.Rows, c.Error, want[c.ID])
		}
		if !strings.HasPrefix(c.Relation, "__sqlrooms_ephemeral.artifact_quickstart.") {
			t.Errorf("cell %s: relation %q not in the ephemeral artifact schema", c.ID, c.Relation)
		}
	}
	if r.Summary["success"] != 7 || r.Summary["error"] != 0 || r.Summary["blocked"] != 0 || r.Summary["cancel"] != 0 {
		t.Errorf("summary = %v", r.Summary)
	}
	// Not a terminal: one line per finished cell.
	if n := strings.Count(stderr, "success "); n != 7 {
		t.Errorf("stderr has %d success lines, want 7:\n%s", n, stderr)
	}
	xmlData, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests int `xml:"tests,attr"`
	}
	if err := xml.Unmarshal(xmlData, &suites); err != nil || suites.Tests != 7 {
		t.Errorf("junit: %d tests, err %v", suites.Tests, err)
	}
	// JUnit names a cell as a person reads it: Title (id).
	if !strings.Contains(string(xmlData), `name="Products (products)"`) {
		t.Errorf("junit does not name cell products \"Products (products)\":\n%s", xmlData)
	}
}

func TestRun_Param(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.json")
	// The slider goes up to 500 (its max): at 500, 334 orders are big.
	code, _, stderr := cellsd(t, "run", notebooks+"quickstart.json", "--param", "min_amount=500", "--report", report, "--artifact", "quickstart")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	data, _ := os.ReadFile(report)
	if !strings.Contains(string(data), `"rows": 334`) {
		t.Errorf("with min_amount=500, 334 orders are big, report:\n%s", data)
	}
	for _, args := range [][]string{
		{"--param", "min_amount=lots"},
		{"--param", "min_amount=1000"}, // over the slider's max
		{"--param", "min_amount=-10"},  // under its min
		{"--param", "nosuchvar=1"},
		{"--param", "novalue"},
	} {
		code, _, stderr := cellsd(t, append([]string{"run", notebooks + "quickstart.json"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "--param") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming --param", args, code, stderr)
		}
	}
}

func TestRun_Failures(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.json")
	code, _, stderr := cellsd(t, "run", notebooks+"errors.json", "--report", report)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Artifacts []struct {
			Cells []struct {
				ID, Status string
				Error      *string
			}
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range r.Artifacts[0].Cells {
		got[c.ID] = c.Status
		if c.Status == "error" && (c.Error == nil || *c.Error == "") {
			t.Errorf("cell %s is error without a message", c.ID)
		}
	}
	want := map[string]string{"ok": "success", "uses": "success", "a": "error", "b": "error", "self": "error", "after": "blocked", "bad": "error", "down": "blocked"}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("cell %s: %s, want %s", id, got[id], st)
		}
	}
	for _, s := range []string{"cycle: a -> b -> a", `cell bad ("Typo"), line 2, column 6:
parse error: syntax error at or near "fine"
  2 | FORM fine
    |      ^
`, "blocked: Typo (bad) failed"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

func TestRun_DuckDBRejectsSQL(t *testing.T) {
	nb := writeNotebook(t, `{"data": {
		"c1": {"id": "c1", "type": "sql", "data": {"title": "Bad", "sql": "SELECT no_such_column FROM range(3)"}},
		"c2": {"id": "c2", "type": "sql", "data": {"title": "Down", "sql": "SELECT * FROM bad"}},
		"c3": {"id": "c3", "type": "sql", "data": {"title": "Fine", "sql": "SELECT 1 AS one"}}},
	  "artifacts": {"nb1": {"id": "nb1", "cellIds": ["c1", "c2", "c3"]}}}`)
	code, _, stderr := cellsd(t, "run", nb)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, s := range []string{"error    nb1/Bad (c1)\n", `cell c1 ("Bad"), line 1, column 8:
Binder Error: Referenced column "no_such_column" not found`, "blocked  nb1/Down (c2)  blocked: Bad (c1) failed", "success  nb1/Fine (c3)"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

func TestRun_BadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"MissingFile", []string{"run", "testdata/bad/nope.json"}, []string{"testdata/bad/nope.json", "no such file"}},
		{"InvalidJSON", []string{"run", "testdata/bad/invalid-json.json"}, []string{"invalid-json.json", "invalid JSON at line 2, column"}},
		{"NotANotebook", []string{"run", "testdata/bad/not-a-notebook.json"}, []string{"not-a-notebook.json", "not a SQLRooms notebook"}},
		{"TopLevelArray", []string{"run", "testdata/bad/array.json"}, []string{"array.json", "not a SQLRooms notebook"}},
		{"CellWithoutID", []string{"run", "testdata/bad/cell-without-id.json"}, []string{"cell-without-id.json", `cell "c1"`, `missing "id"`}},
		{"UnknownCellID", []string{"run", "testdata/bad/unknown-cell-id.json"}, []string{"unknown-cell-id.json", `artifact "nb1"`, `unknown cell "c9"`}},
		{"UnknownArtifact", []string{"run", notebooks + "quickstart.json", "--artifact", "nope"}, []string{"quickstart.json", `--artifact "nope"`}},
		{"UnknownFlag", []string{"run", notebooks + "quickstart.json", "--frobnicate"}, []string{"--frobnicate"}},
		{"BadMaterialization", []string{"run", notebooks + "quickstart.json", "--materialization", "disk"}, []string{"--materialization"}},
		{"GraphBadFormat", []string{"graph", notebooks + "quickstart.json", "--format", "svg"}, []string{"--format"}},
		{"GraphMissingFile", []string{"graph", "testdata/bad/nope.json", "--format", "json"}, []string{"testdata/bad/nope.json"}},
		{"MissingConnections", []string{"run", notebooks + "quickstart.json", "--connections", "testdata/bad/nope.toml"}, []string{"nope.toml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cellsd(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestGraph_Golden checks `cellsd graph` in every format against reviewed
// golden files; run `go test ./cmd/cellsd -update` to rewrite them.
func TestGraph_Golden(t *testing.T) {
	for _, name := range []string{"quickstart", "errors", "sqlrooms-ui", "writers"} {
		for format, ext := range map[string]string{"json": ".json", "dot": ".dot", "mermaid": ".mmd"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				code, stdout, stderr := cellsd(t, "graph", notebooks+name+".json", "--format", format)
				if code != exitOK {
					t.Fatalf("exit %d:\n%s", code, stderr)
				}
				checkGolden(t, filepath.Join("testdata", "graph", name+ext), stdout)
			})
		}
	}
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update after reviewing):\n%s", golden, lineDiff(string(want), got))
	}
}

// TestGraph_Shape checks the graph document field for field against the
// shape DESIGN.md gives, independently of the goldens.
func TestGraph_Shape(t *testing.T) {
	_, stdout, _ := cellsd(t, "graph", notebooks+"errors.json", "--format", "json")
	var doc map[string][]map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	a := doc["artifacts"][0]
	assertKeys(t, "artifact", a, "id", "schema", "cells", "order", "errors")
	for _, c := range a["cells"].([]any) {
		assertKeys(t, "cell", c.(map[string]any), "id", "type", "resultName", "connectorId", "engine", "deps", "defines", "writes", "externalTables")
	}
	errs := a["errors"].([]any)
	if len(errs) == 0 {
		t.Fatal("no errors in the errors notebook")
	}
	for _, e := range errs {
		assertKeys(t, "error", e.(map[string]any), "cellId", "kind", "message", "line", "column")
	}
}

func assertKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("%s has keys %v, want exactly %v", what, m, keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks key %q: %v", what, k, m)
		}
	}
}

// lineDiff shows the lines that differ, with their line numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n-" + wl + "\n+" + gl + "\n")
		}
	}
	return b.String()
}

func writeNotebook(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notebook.json")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRun_SQLRoomsUI runs a notebook as the SQLRooms UI saves it: a whole UI
// state, two artifacts, default titles without resultName, an input, a vega
// and a text cell.
func TestRun_SQLRoomsUI(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.json")
	code, _, stderr := cellsd(t, "run", notebooks+"sqlrooms-ui.json", "--report", report)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, s := range []string{
		"sheet-1/SQL 1 (k9Xq2)  __sqlrooms_ephemeral.artifact_sheet_1.result_1  12 rows",
		"sheet-1/SQL Query 2 (Pq7Lm)  __sqlrooms_ephemeral.artifact_sheet_1.result_2  12 rows",
		"sheet-1/2024 sales.csv (Hh3Ee)  __sqlrooms_ephemeral.artifact_sheet_1._2024_sales  4 rows",
		"sheet-2/Daily Orders (Bb5Ff)  __sqlrooms_ephemeral.artifact_sheet_2.daily_orders  31 rows",
		"sheet-2/SQL 2 (Cc6Gg)  __sqlrooms_ephemeral.artifact_sheet_2.result_2  1 row ",
		"5 success, 0 error, 0 blocked in ",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

// TestRun_DDLCells runs a notebook whose cells create tables and views
// without a result of their own; progress and report show them without rows.
func TestRun_DDLCells(t *testing.T) {
	report := filepath.Join(t.TempDir(), "r.json")
	code, _, stderr := cellsd(t, "run", "../../fixtures/check/ddl/notebook.json", "--report", report)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "success  shipping/Create and load shipments (shipments)  ") || strings.Contains(stderr, "(shipments)  __sqlrooms") {
		t.Errorf("DDL cell line:\n%s", stderr)
	}
	data, _ := os.ReadFile(report)
	if !strings.Contains(string(data), `"id": "shipments",
          "status": "success",
          "relation": null,
          "rows": null`) {
		t.Errorf("report for the DDL cell:\n%s", data)
	}
}

// TestSQLRoomsConnections runs graph and run with the SQLRooms CLI's config
// file: it loads although it holds a Snowflake connection and a numeric
// port, and the one cell that names the Snowflake connection fails with a
// message that says why, like any other plan error.
func TestSQLRoomsConnections(t *testing.T) {
	conns := filepath.Join("..", "..", "fixtures", "sqlrooms-cli.toml")
	nb := writeNotebook(t, `{"data": {
  "sf": {"id": "sf", "type": "sql", "data": {"title": "Sales", "sql": "SELECT 1 AS x", "resultName": "sales", "connectorId": "snowflake-dev"}},
  "down": {"id": "down", "type": "sql", "data": {"title": "Down", "sql": "SELECT * FROM sales", "resultName": "down"}},
  "ok": {"id": "ok", "type": "sql", "data": {"title": "Ok", "sql": "SELECT 2 AS y", "resultName": "ok"}}},
 "artifacts": {"nb": {"id": "nb", "cellIds": ["sf", "down", "ok"], "edges": []}}}`)
	const msg = `connector "snowflake-dev": engine "snowflake" is not supported by cellsd (it runs bridge, duckdb, mysql, postgres)`
	warning := `connector \"snowflake-dev\": engine \"snowflake\" is not supported by cellsd`

	t.Run("Graph", func(t *testing.T) {
		code, stdout, stderr := cellsd(t, "graph", nb, "--connections", conns, "--format", "json")
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, warning) {
			t.Errorf("stderr lacks the warning %q:\n%s", warning, stderr)
		}
		var doc struct {
			Artifacts []struct {
				Order  []string
				Errors []struct{ CellID, Kind, Message string }
			}
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		a := doc.Artifacts[0]
		if len(a.Errors) != 1 || a.Errors[0].CellID != "sf" || a.Errors[0].Kind != "unknown-connector" || a.Errors[0].Message != msg {
			t.Errorf("errors %+v, want one unknown-connector error on sf: %s", a.Errors, msg)
		}
		if strings.Join(a.Order, ",") != "ok" {
			t.Errorf("order %q, want [ok]", a.Order)
		}
	})
	t.Run("Run", func(t *testing.T) {
		code, _, stderr := cellsd(t, "run", nb, "--connections", conns)
		if code != exitFailed {
			t.Fatalf("exit %d, want %d:\n%s", code, exitFailed, stderr)
		}
		for _, s := range []string{"error    nb/Sales (sf)\n", `cell sf ("Sales"):` + "\nunknown-connector error: " + msg, "blocked  nb/Down (down)  blocked: Sales (sf) failed", "success  nb/Ok (ok)"} {
			if !strings.Contains(stderr, s) {
				t.Errorf("stderr lacks %q:\n%s", s, stderr)
			}
		}
	})
}

// TestRun_SecretVariableUnset: a connection whose password_env names a
// variable that is not set is a load error (exit 2) naming the file, the
// connection and the variable, before any cell runs; with the variable
// set, the same notebook runs.
func TestRun_SecretVariableUnset(t *testing.T) {
	const variable = "CELLSD_TEST_UNSET_PASSWORD"
	conns := filepath.Join(t.TempDir(), "connections.toml")
	config := `[[db.connectors]]
id = "pg"
engine = "postgres"
dsn = "` + pgtest.DSN(t) + `"
password_env = "` + variable + `"
`
	if err := os.WriteFile(conns, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	nb := writeNotebook(t, `{"data": {
  "local": {"id": "local", "type": "sql", "data": {"title": "Local", "sql": "SELECT 1 AS x", "resultName": "local"}},
  "remote": {"id": "remote", "type": "sql", "data": {"title": "Remote", "sql": "SELECT 2 AS y", "resultName": "remote", "connectorId": "pg"}}},
 "artifacts": {"nb": {"id": "nb", "cellIds": ["local", "remote"], "edges": []}}}`)

	t.Setenv(variable, "") // restored when the test ends
	os.Unsetenv(variable)
	code, _, stderr := cellsd(t, "run", nb, "--connections", conns)
	want := conns + `: connector "pg": environment variable ` + variable + ` is not set (cell nb/remote uses the connection)`
	if code != exitUsage || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, exitUsage, want, stderr)
	}
	if strings.Contains(stderr, "success") {
		t.Errorf("a cell ran:\n%s", stderr)
	}

	t.Setenv(variable, "anything") // trust auth: any password does
	if code, _, stderr := cellsd(t, "run", nb, "--connections", conns); code != exitOK {
		t.Errorf("with the variable set: exit %d:\n%s", code, stderr)
	}
}
