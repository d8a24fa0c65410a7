package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/internal/pgtest"
)

const quickstart = notebooks + "quickstart.json"

// TestQuery_CountCSV is the README's example: a count of a cell's result
// as CSV, and nothing else, on stdout.
func TestQuery_CountCSV(t *testing.T) {
	code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT count(*) FROM sales", "--format", "csv")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if stdout != "count_star()\n5000\n" {
		t.Errorf("stdout = %q, want the header and 5000", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr of a run that succeeded = %q, want nothing", stderr)
	}
}

// TestQuery_Formats runs one query in every format, to stdout and to a file.
func TestQuery_Formats(t *testing.T) {
	const q = `SELECT region, revenue, big_orders FROM summary ORDER BY region`
	t.Run("Table", func(t *testing.T) {
		code, stdout, stderr := cellsd(t, "query", quickstart, q)
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		want := `region   revenue        big_orders
VARCHAR  DECIMAL(38,2)  BIGINT
-------  -------------  ----------
AMER         371310.00         667
APAC          73486.50           0
EMEA         420219.00         667
(3 rows)
`
		if stdout != want {
			t.Errorf("table:\n%s\nwant:\n%s", stdout, want)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		code, stdout, stderr := cellsd(t, "query", quickstart, q, "--format", "csv")
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if want := "region,revenue,big_orders\nAMER,371310.00,667\nAPAC,73486.50,0\nEMEA,420219.00,667\n"; stdout != want {
			t.Errorf("csv = %q, want %q", stdout, want)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		code, stdout, stderr := cellsd(t, "query", quickstart, q+", 1", "--format", "json")
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		var rows []map[string]any
		if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
			t.Fatalf("not a JSON array of objects: %v\n%s", err, stdout)
		}
		if len(rows) != 3 || rows[0]["region"] != "AMER" || rows[0]["revenue"] != 371310.0 || rows[1]["big_orders"] != 0.0 {
			t.Errorf("rows = %v", rows)
		}
	})
	t.Run("JSONEmpty", func(t *testing.T) {
		code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT * FROM sales WHERE false", "--format", "json")
		if code != exitOK || stdout != "[]\n" {
			t.Errorf("exit %d, stdout %q, want [] (stderr %s)", code, stdout, stderr)
		}
	})
	t.Run("OutputFile", func(t *testing.T) {
		for _, format := range []string{"csv", "json", "table", "parquet"} {
			out := filepath.Join(t.TempDir(), "out."+format)
			code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT * FROM order_lines", "--format", format, "-o", out)
			if code != exitOK {
				t.Fatalf("%s: exit %d:\n%s", format, code, stderr)
			}
			if stdout != "" || !strings.Contains(stderr, "5000 rows written to "+out) {
				t.Errorf("%s: stdout %q, stderr %q; want nothing on stdout and the count on stderr", format, stdout, stderr)
			}
			if format == "parquet" {
				if n := duckCount(t, "SELECT count(*) FROM read_parquet('"+out+"')"); n != 5000 {
					t.Errorf("parquet file has %d rows, want 5000", n)
				}
				continue
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Count(string(data), "\n")
			want := map[string]int{"csv": 5001, "json": 5002, "table": 5004}[format]
			if lines != want {
				t.Errorf("%s file has %d lines, want %d", format, lines, want)
			}
		}
	})
}

// duckCount runs a count on a fresh in-memory DuckDB.
func duckCount(t *testing.T, q string) int64 {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A notebook with a long chain, a failing branch and a cell that leaves a
// mark in the core database when it runs.
const closureNotebook = `{"data": {
  "a": {"id": "a", "type": "sql", "data": {"title": "A", "sql": "SELECT range AS x FROM range(10)", "resultName": "a"}},
  "b": {"id": "b", "type": "sql", "data": {"title": "B", "sql": "SELECT x * 2 AS y FROM a", "resultName": "b"}},
  "boom": {"id": "boom", "type": "sql", "data": {"title": "Boom", "sql": "SELECT error('boom went the cell') AS z", "resultName": "boom"}},
  "after": {"id": "after", "type": "sql", "data": {"title": "After", "sql": "SELECT * FROM boom, b", "resultName": "after_boom"}},
  "mark": {"id": "mark", "type": "sql", "data": {"title": "Mark", "sql": "CREATE TABLE main.marker AS SELECT 1 AS ran", "resultName": "mark"}}},
 "artifacts": {"nb": {"id": "nb", "cellIds": ["a", "b", "boom", "after", "mark"], "edges": []}}}`

// TestQuery_OnlyUpstream: query runs the upstream closure of what the SQL
// reads and nothing else: a failing cell elsewhere does not fail it, and a
// cell elsewhere leaves no mark; an upstream cell that fails does, named.
func TestQuery_OnlyUpstream(t *testing.T) {
	nb := writeNotebook(t, closureNotebook)
	db := filepath.Join(t.TempDir(), "core.duckdb")
	code, stdout, stderr := cellsd(t, "query", nb, "SELECT sum(y) AS s FROM b", "--format", "csv", "--db", db)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if stdout != "s\n90\n" {
		t.Errorf("stdout = %q, want s=90 (b needs a, which must have run)", stdout)
	}
	if strings.Contains(stderr, "boom") {
		t.Errorf("the unrelated failing cell ran:\n%s", stderr)
	}
	if n := duckCount(t, "ATTACH '"+db+"' AS core (READ_ONLY); SELECT count(*) FROM duckdb_tables() WHERE database_name = 'core' AND table_name = 'marker'"); n != 0 {
		t.Errorf("cell mark ran: main.marker exists")
	}

	code, stdout, stderr = cellsd(t, "query", nb, "SELECT * FROM after_boom")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailed, stderr)
	}
	if stdout != "" {
		t.Errorf("a query whose upstream failed printed %q", stdout)
	}
	for _, s := range []string{"Invalid Input Error: boom went the cell", "nb/boom (error), nb/after (blocked)"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

// TestQuery_ResolvesLikeCells: names resolve as in cells — case-insensitive,
// qualified with the artifact schema or the result database, and through
// the fixture with cycles and parse errors the failing cells stay unrun.
func TestQuery_ResolvesLikeCells(t *testing.T) {
	for _, q := range []string{
		"SELECT count(*) FROM SALES",
		"SELECT count(*) FROM artifact_quickstart.sales",
		"SELECT count(*) FROM __sqlrooms_ephemeral.artifact_quickstart.sales",
		`SELECT count(*) FROM "Sales"`,
		"WITH s AS (SELECT * FROM sales) SELECT count(*) FROM s",
	} {
		code, stdout, stderr := cellsd(t, "query", quickstart, q, "--format", "csv")
		if code != exitOK || stdout != "count_star()\n5000\n" {
			t.Errorf("%s: exit %d, stdout %q:\n%s", q, code, stdout, stderr)
		}
	}
	// errors.json has cycles, a parse error and a blocked cell; uses_fine
	// reads only fine.
	code, stdout, stderr := cellsd(t, "query", notebooks+"errors.json", "SELECT next FROM uses_fine", "--format", "csv")
	if code != exitOK || stdout != "next\n43\n" {
		t.Errorf("exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
}

// TestQuery_Param: {{var}} in the query and in the cells take --param.
func TestQuery_Param(t *testing.T) {
	// The slider's max is 500 (a value over it is exit 2, as in run).
	code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT count(*) AS n, {{min_amount}} AS m FROM big_orders", "--param", "min_amount=500", "--format", "csv")
	if code != exitOK || stdout != "n,m\n334,500\n" {
		t.Errorf("exit %d, stdout %q, want 334 big orders at 500:\n%s", code, stdout, stderr)
	}
}

// TestQuery_DB: the SQL may read the --db database alone, or with results.
func TestQuery_DB(t *testing.T) {
	db := filepath.Join(t.TempDir(), "core.duckdb")
	setup, err := sql.Open("duckdb", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Exec(`CREATE TABLE raw AS SELECT 'AMER' AS region, 7 AS target`); err != nil {
		t.Fatal(err)
	}
	setup.Close()
	for q, want := range map[string]string{
		"SELECT target FROM raw":      "target\n7\n",
		"SELECT target FROM main.raw": "target\n7\n",
		"SELECT s.big_orders, r.target FROM summary s JOIN raw r USING (region)": "big_orders,target\n667,7\n",
	} {
		code, stdout, stderr := cellsd(t, "query", quickstart, q, "--db", db, "--format", "csv")
		if code != exitOK || stdout != want {
			t.Errorf("%s: exit %d, stdout %q, want %q:\n%s", q, code, stdout, want, stderr)
		}
	}
	// Without --db, raw is nothing.
	code, _, stderr := cellsd(t, "query", quickstart, "SELECT target FROM raw")
	if code != exitUsage || !strings.Contains(stderr, `SQL reads "raw"`) {
		t.Errorf("exit %d, want %d naming raw:\n%s", code, exitUsage, stderr)
	}
}

func TestQuery_BadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"UnknownName", []string{quickstart, "SELECT * FROM salse"},
			[]string{`SQL reads "salse" (did you mean sales?)`, "quickstart.json does not define", "big_orders, daily_orders, order_lines"}},
		{"CellIDNotName", []string{quickstart, "SELECT * FROM daily"}, []string{`"daily" (did you mean daily_orders?)`}},
		{"OneUnknownAmongKnown", []string{quickstart, "SELECT * FROM sales JOIN nothing_like_it USING (order_id)"}, []string{`SQL reads "nothing_like_it", which`}},
		{"UnknownWithDB", []string{quickstart, "SELECT * FROM salse", "--db", filepath.Join(t.TempDir(), "x.duckdb")}, []string{"neither", "x.duckdb defines"}},
		{"OtherSchema", []string{quickstart, "SELECT * FROM main.sales"}, []string{`"main.sales"`}},
		{"NoRelation", []string{quickstart, "SELECT 1"}, []string{"reads no relation", "quickstart.json"}},
		{"NotAQuery", []string{quickstart, "CREATE TABLE t AS SELECT * FROM sales"}, []string{"runs one query"}},
		{"Insert", []string{quickstart, "INSERT INTO sales SELECT * FROM sales"}, []string{"runs one query"}},
		{"Attach", []string{quickstart, "ATTACH 'other.duckdb' AS other"}, []string{"runs one query"}},
		{"CopyTo", []string{quickstart, "COPY (SELECT * FROM sales) TO 'sales.csv'"}, []string{"runs one query"}},
		{"Set", []string{quickstart, "SET threads = 1"}, []string{"runs one query"}},
		{"Pragma", []string{quickstart, "PRAGMA show_tables"}, []string{"runs one query"}},
		{"TwoStatements", []string{quickstart, "SELECT * FROM sales; SELECT * FROM products"}, []string{"runs one query"}},
		{"ParseError", []string{quickstart, "SELECT * FORM sales"}, []string{"SQL: parse error at line 1, column"}},
		{"UnknownVariable", []string{quickstart, "SELECT * FROM sales WHERE amount > {{nope}}"}, []string{"{{nope}}", `no input cell with varName "nope"`}},
		{"ParquetWithoutOutput", []string{quickstart, "SELECT * FROM sales", "--format", "parquet"}, []string{"--format parquet", "-o FILE"}},
		{"BadFormat", []string{quickstart, "SELECT * FROM sales", "--format", "xlsx"}, []string{"--format"}},
		{"NoSQL", []string{quickstart}, []string{"sql"}},
		{"MissingNotebook", []string{"testdata/bad/nope.json", "SELECT 1"}, []string{"nope.json", "no such file"}},
		{"BadParam", []string{quickstart, "SELECT * FROM big_orders", "--param", "min_amount=lots"}, []string{"--param"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cellsd(t, append([]string{"query"}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			for _, s := range tt.want {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// reportCells reads a --report file: artifact/cell -> status.
func reportCells(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Artifacts []struct {
			ID    string
			Cells []struct{ ID, Status string }
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range r.Artifacts {
		for _, c := range a.Cells {
			got[a.ID+"/"+c.ID] = c.Status
		}
	}
	return got
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestRun_Select: --select runs the subgraph with its upstream, and the
// report holds exactly the cells that ran.
func TestRun_Select(t *testing.T) {
	tests := []struct {
		spec string
		want []string // cells of artifact quickstart
	}{
		{"order_lines", []string{"order_lines", "products", "sales"}},
		{"+order_lines", []string{"order_lines", "products", "sales"}},
		{"products", []string{"products"}},
		{"region_revenue", []string{"order_lines", "products", "regions", "sales"}}, // a result name
		{"regions", []string{"order_lines", "products", "regions", "sales"}},        // its cell id
		{"BIG_ORDERS", []string{"big", "order_lines", "products", "sales"}},
		{"order_lines+", []string{"big", "daily", "order_lines", "products", "regions", "sales", "summary"}},
		{"+big+", []string{"big", "order_lines", "products", "regions", "sales", "summary"}}, // summary also reads regions
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "r.json")
			code, _, stderr := cellsd(t, "run", quickstart, "--select", tt.spec, "--report", report)
			if code != exitOK {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			got := reportCells(t, report)
			var want []string
			for _, id := range tt.want {
				want = append(want, "quickstart/"+id)
				if got["quickstart/"+id] != "success" {
					t.Errorf("cell %s: %q, want success", id, got["quickstart/"+id])
				}
			}
			if !slices.Equal(keys(got), want) {
				t.Errorf("report cells %v, want %v", keys(got), want)
			}
			if n := strings.Count(stderr, "success "); n != len(tt.want) {
				t.Errorf("%d success lines on stderr, want %d:\n%s", n, len(tt.want), stderr)
			}
			if !strings.Contains(stderr, strconv.Itoa(len(tt.want))+" success, 0 error, 0 blocked in ") {
				t.Errorf("summary line wrong:\n%s", stderr)
			}
		})
	}
	// A selection away from the notebook's failures runs and succeeds.
	code, _, stderr := cellsd(t, "run", notebooks+"errors.json", "--select", "uses_fine")
	if code != exitOK || strings.Contains(stderr, "error ") {
		t.Errorf("exit %d, want 0 with no failure:\n%s", code, stderr)
	}
	// One that reaches a failure fails as a whole run would.
	code, _, stderr = cellsd(t, "run", notebooks+"errors.json", "--select", "down")
	if code != exitFailed || !strings.Contains(stderr, "blocked  errors/Downstream of typo (down)") {
		t.Errorf("exit %d, want 1 with down blocked:\n%s", code, stderr)
	}
}

// TestRun_Show: --show prints the first 20 rows of a cell's result as an
// aligned table with names and types, by cell id or result name.
func TestRun_Show(t *testing.T) {
	code, stdout, stderr := cellsd(t, "run", quickstart, "--show", "sales")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 3+20+1 {
		t.Fatalf("%d lines, want names, types, rule, 20 rows and a footer:\n%s", len(lines), stdout)
	}
	if f := strings.Fields(lines[0]); !slices.Equal(f, []string{"order_id", "order_date", "region", "product_id", "quantity"}) {
		t.Errorf("names %v", f)
	}
	if f := strings.Fields(lines[1]); !slices.Equal(f, []string{"BIGINT", "DATE", "VARCHAR", "BIGINT", "BIGINT"}) {
		t.Errorf("types %v", f)
	}
	if lines[23] != "quickstart/sales: first 20 of 5000 rows" {
		t.Errorf("footer %q", lines[23])
	}
	// Aligned: every line of the table as wide as the rule, numbers right-aligned.
	for i, l := range lines[3:23] {
		if len(l) != len(lines[2]) {
			t.Errorf("row %d is %d wide, the rule %d:\n%s", i, len(l), len(lines[2]), stdout)
		}
	}
	if !strings.HasPrefix(lines[3], "       0  2024-01-01  EMEA") {
		t.Errorf("first row %q, want order_id right-aligned", lines[3])
	}
	// The run still runs everything, reported on stderr.
	if !strings.Contains(stderr, "7 success, 0 error") {
		t.Errorf("stderr:\n%s", stderr)
	}

	for _, name := range []string{"big", "big_orders", "Big_Orders"} {
		code, stdout, stderr := cellsd(t, "run", quickstart, "--show", name, "--select", "big")
		if code != exitOK || !strings.HasPrefix(stdout, "order_id  order_date  region   product_name      amount\n") || !strings.Contains(stdout, "quickstart/big: first 20 of 1334 rows") {
			t.Errorf("--show %s: exit %d:\n%s\n%s", name, code, stdout, stderr)
		}
	}

	// Fewer rows than 20: all of them, counted.
	code, stdout, _ = cellsd(t, "run", quickstart, "--show", "summary")
	if code != exitOK || !strings.HasSuffix(stdout, "\nquickstart/summary: (3 rows)\n") || strings.Count(stdout, "\n") != 3+3+1 {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
}

// TestRun_ShowFailed: --show of a cell that failed prints no table and
// says why; the run exits 1 as it would without --show.
func TestRun_ShowFailed(t *testing.T) {
	code, stdout, stderr := cellsd(t, "run", notebooks+"errors.json", "--show", "down")
	if code != exitFailed || stdout != "" || !strings.Contains(stderr, "--show errors/down: nothing to show, the cell's status is blocked") {
		t.Errorf("exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
}

func TestRun_SelectShowBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"SelectNothing", []string{"--select", "nope"}, []string{"quickstart.json", `--select nope: no cell has the id or result name "nope"`}},
		{"SelectTypo", []string{"--select", "+slaes"}, []string{`"slaes" (did you mean sales?)`}},
		{"SelectOtherArtifact", []string{"--select", "sales", "--artifact", "nope"}, []string{`--artifact "nope"`}},
		{"SelectTextCell", []string{"--select", "intro"}, []string{"--select intro: selects no SQL cell"}},
		{"ShowUnknown", []string{"--show", "nope"}, []string{`--show nope: no cell has the id or result name "nope"`}},
		{"ShowTypo", []string{"--show", "summery"}, []string{"did you mean summary?"}},
		{"ShowInputCell", []string{"--show", "min_amount"}, []string{"quickstart/min_amount has no result table", "input"}},
		{"ShowTextCell", []string{"--show", "intro"}, []string{"quickstart/intro has no result table"}},
		{"ShowOutsideSelect", []string{"--select", "products", "--show", "sales"}, []string{"quickstart/sales is not in the --select subgraph"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cellsd(t, append([]string{"run", quickstart}, tt.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" || strings.Contains(stderr, "success") {
				t.Errorf("something ran: stdout %q\n%s", stdout, stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
	// A DDL cell has no result of its own.
	code, _, stderr := cellsd(t, "run", "../../fixtures/check/ddl/notebook.json", "--show", "shipments")
	if code != exitUsage || !strings.Contains(stderr, "its last statement is not a query") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

// TestQuery_TwoArtifacts: an unqualified name is the first artifact's (in
// notebook order) that defines it; the artifact schema picks another.
func TestQuery_TwoArtifacts(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT count(*) AS n FROM result_2":                  "n\n12\n",
		"SELECT count(*) AS n FROM artifact_sheet_2.result_2": "n\n1\n",
		"SELECT count(*) AS n FROM daily_orders":              "n\n31\n",
	} {
		code, stdout, stderr := cellsd(t, "query", notebooks+"sqlrooms-ui.json", q, "--format", "csv")
		if code != exitOK || stdout != want {
			t.Errorf("%s: exit %d, stdout %q, want %q:\n%s", q, code, stdout, want, stderr)
		}
	}
}

// TestQuery_SQLFails: SQL that DuckDB refuses once its cells ran is exit 1
// with DuckDB's message.
func TestQuery_SQLFails(t *testing.T) {
	code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT no_such_column FROM sales")
	if code != exitFailed || stdout != "" || !strings.Contains(stderr, `cellsd: query: Binder Error: Referenced column "no_such_column" not found`) {
		t.Errorf("exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
}

// TestQuery_JSONNotANumber: a value JSON cannot hold fails the query
// rather than printing what no JSON parser reads.
func TestQuery_JSONNotANumber(t *testing.T) {
	code, stdout, stderr := cellsd(t, "query", quickstart, "SELECT 'inf'::DOUBLE AS x FROM products LIMIT 1", "--format", "json")
	if code != exitFailed || stdout != "" || !strings.Contains(stderr, "row 1 has no JSON form") {
		t.Errorf("exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "x.json")
	code, _, stderr = cellsd(t, "query", quickstart, "SELECT 'nan'::DOUBLE AS x FROM products", "--format", "json", "-o", out)
	if _, err := os.Stat(out); code != exitFailed || err == nil {
		t.Errorf("exit %d, file left behind (stat: %v):\n%s", code, err, stderr)
	}
}

// TestQuery_Postgres: a query over a DuckDB cell that reads a Postgres
// cell's result runs both; a connection whose secret is unset stops the
// query only when a cell it needs uses it.
func TestQuery_Postgres(t *testing.T) {
	const variable = "CELLSD_TEST_QUERY_UNSET_PASSWORD"
	conns := filepath.Join(t.TempDir(), "connections.toml")
	config := `[[db.connectors]]
id = "pg"
engine = "postgres"
dsn = "` + pgtest.DSN(t) + `"

[[db.connectors]]
id = "locked"
engine = "postgres"
dsn = "` + pgtest.DSN(t) + `"
password_env = "` + variable + `"
`
	if err := os.WriteFile(conns, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	nb := writeNotebook(t, `{"data": {
  "remote": {"id": "remote", "type": "sql", "data": {"title": "Remote", "sql": "SELECT g AS n FROM generate_series(1, 4) AS g", "resultName": "remote", "connectorId": "pg"}},
  "local": {"id": "local", "type": "sql", "data": {"title": "Local", "sql": "SELECT sum(n) AS total FROM remote", "resultName": "local"}},
  "other": {"id": "other", "type": "sql", "data": {"title": "Other", "sql": "SELECT 1 AS x", "resultName": "other", "connectorId": "locked"}}},
 "artifacts": {"nb": {"id": "nb", "cellIds": ["remote", "local", "other"], "edges": []}}}`)
	t.Setenv(variable, "") // restored when the test ends
	os.Unsetenv(variable)

	code, stdout, stderr := cellsd(t, "query", nb, "SELECT total FROM local", "--connections", conns, "--format", "csv")
	if code != exitOK || stdout != "total\n10\n" {
		t.Errorf("exit %d, stdout %q, want 10:\n%s", code, stdout, stderr)
	}
	code, _, stderr = cellsd(t, "query", nb, "SELECT * FROM other", "--connections", conns)
	if code != exitUsage || !strings.Contains(stderr, "environment variable "+variable+" is not set (cell nb/other uses the connection)") {
		t.Errorf("exit %d, want %d naming the variable:\n%s", code, exitUsage, stderr)
	}
	// run --select likewise.
	if code, _, stderr := cellsd(t, "run", nb, "--select", "local", "--connections", conns); code != exitOK {
		t.Errorf("run --select local: exit %d:\n%s", code, stderr)
	}
	if code, _, stderr := cellsd(t, "run", nb, "--connections", conns); code != exitUsage {
		t.Errorf("run of everything: exit %d, want %d:\n%s", code, exitUsage, stderr)
	}
}
