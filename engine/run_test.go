package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// diamondCells is a -> {b, c} -> d, plus an input cell and a chart that do
// not execute.
func diamondCells() []nbCell {
	return []nbCell{
		sqlCell("a", "a", "SELECT n FROM range(1, 5) AS t(n)"),
		sqlCell("b", "b", "SELECT n, n * 10 AS tens FROM a"),
		sqlCell("c", "c", "SELECT n, n * 100 AS hundreds FROM a"),
		sqlCell("d", "d", "SELECT b.n, tens + hundreds AS total FROM b JOIN c USING (n) ORDER BY n"),
		vegaCell("chart", "d"),
	}
}

func TestRun_Diamond(t *testing.T) {
	tests := []struct {
		name     string
		strategy engine.Strategy
		resultDB string
		absent   string // a catalog that must not hold the results
	}{
		{"AttachedEphemeral", "", "__sqlrooms_ephemeral", "memory"},
		{"Schema", engine.SchemaStrategy, "memory", "__sqlrooms_ephemeral"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := openEngine(t, engine.Config{Materialization: tt.strategy})
			plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "diamond", cells: diamondCells()}))
			report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{})

			results := cellResults(report)
			if len(results) != 4 {
				t.Errorf("report has %d cells, want the 4 SQL cells", len(results))
			}
			for _, id := range []string{"a", "b", "c", "d"} {
				c := results[id]
				if c == nil || c.Status != engine.StatusSuccess {
					t.Errorf("cell %s: %s, want success", id, describe(c))
					continue
				}
				if want := tt.resultDB + ".artifact_diamond." + id; c.Relation != want {
					t.Errorf("cell %s: Relation = %q, want %q", id, c.Relation, want)
				}
				if c.Rows == nil || *c.Rows != 4 {
					t.Errorf("cell %s: Rows = %v, want 4", id, c.Rows)
				}
				if c.Err != nil {
					t.Errorf("cell %s: Err = %q on success", id, *c.Err)
				}
			}
			got := queryRows(t, eng.DB(), "SELECT n, total FROM "+tt.resultDB+".artifact_diamond.d ORDER BY n")
			want := [][]string{{"1", "110"}, {"2", "220"}, {"3", "330"}, {"4", "440"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("d = %v, want %v", got, want)
			}
			if rows, err := tryQueryRows(eng.DB(), "SELECT * FROM "+tt.absent+".artifact_diamond.d"); err == nil {
				t.Errorf("result also readable in %s: %v", tt.absent, rows)
			}
			if want := (engine.Summary{Success: 4}); report.Summary != want {
				t.Errorf("Summary = %+v, want %+v", report.Summary, want)
			}
			if !report.Summary.OK() {
				t.Error("Summary.OK() = false for an all-success run")
			}
		})
	}
}

// TestRun_SearchPath checks that a cell reads a table of the core database's
// main schema unqualified, and that a cell result of the same name wins.
func TestRun_SearchPath(t *testing.T) {
	for _, strategy := range []engine.Strategy{engine.AttachedEphemeral, engine.SchemaStrategy} {
		t.Run(string(strategy), func(t *testing.T) {
			eng := openEngine(t, engine.Config{Materialization: strategy})
			if _, err := eng.DB().Exec(`CREATE TABLE main.customers AS SELECT * FROM (VALUES (1, 'Ada'), (2, 'Grace')) AS c(id, name);
				CREATE TABLE main.shadowed AS SELECT 'main' AS src`); err != nil {
				t.Fatal(err)
			}
			plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
				sqlCell("c1", "names", "SELECT name FROM customers ORDER BY id"),
				sqlCell("c2", "shadowed", "SELECT 'cell' AS src"),
				sqlCell("c3", "which", "SELECT src FROM shadowed"),
			}}))
			if ext := plan.Artifacts[0].Cell("c1").ExternalTables; !reflect.DeepEqual(ext, []string{"customers"}) {
				t.Errorf("c1 ExternalTables = %q, want [customers]", ext)
			}
			report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{})
			for id, c := range cellResults(report) {
				if c.Status != engine.StatusSuccess {
					t.Fatalf("cell %s: %s", id, describe(c))
				}
			}
			rdb := eng.ResultDB()
			if got, want := queryRows(t, eng.DB(), `SELECT name FROM "`+rdb+`".artifact_nb.names`), [][]string{{"Ada"}, {"Grace"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("names = %v, want %v", got, want)
			}
			if got, want := queryRows(t, eng.DB(), `SELECT src FROM "`+rdb+`".artifact_nb.which`), [][]string{{"cell"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("which = %v, want %v: the artifact schema comes first on the search_path", got, want)
			}
		})
	}
}

func TestRun_Cascade(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
		sqlCell("ok", "ok", "SELECT 1 AS v"),
		sqlCell("bad", "bad", "SELECT no_such_column FROM range(3)"),
		sqlCell("mid", "mid", "SELECT * FROM bad"),
		sqlCell("leaf", "leaf", "SELECT * FROM mid JOIN ok ON true"),
		sqlCell("indep", "indep", "SELECT v + 1 AS w FROM ok"),
		sqlCell("typo", "typo", "SELECT *\nFORM ok"),
		sqlCell("aftertypo", "aftertypo", "SELECT * FROM typo"),
		sqlCell("unkvar", "unkvar", "SELECT {{missing}} AS m"),
		vegaCell("chart", "leaf"),
		inputCell("in1", "dup", "a"),
		inputCell("in2", "dup", "b"),
		sqlCell("usesdup", "usesdup", "SELECT '{{dup}}' AS v"),
	}}))
	rec := &recorder{}
	report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{Observe: rec.observe})
	results := cellResults(report)

	tests := []struct {
		name, cell string
		status     engine.Status
		reason     string
		errHas     []string // substrings of the error message
	}{
		{"UpstreamFails/Failing", "bad", engine.StatusError, `failed: Binder Error: Referenced column "no_such_column" not found in FROM clause!`, []string{"Binder Error", "no_such_column"}},
		{"UpstreamFails/Downstream", "mid", engine.StatusBlocked, "blocked: Cell bad (bad) failed", nil},
		{"UpstreamFails/RootNamedTransitively", "leaf", engine.StatusBlocked, "blocked: Cell bad (bad) failed", nil},
		{"IndependentBranchRuns/Root", "ok", engine.StatusSuccess, "executed", nil},
		{"IndependentBranchRuns/Dependent", "indep", engine.StatusSuccess, "executed", nil},
		{"ParseError/Cell", "typo", engine.StatusError, "parse error", []string{"line 2, column 6"}},
		{"ParseError/Downstream", "aftertypo", engine.StatusBlocked, "blocked: Cell typo (typo) failed", nil},
		{"UnknownVariable", "unkvar", engine.StatusError, "unknown-variable error", []string{"missing"}},
		{"InputError/Downstream", "usesdup", engine.StatusBlocked, "blocked: Input in1 (in1) has a duplicate-name error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := results[tt.cell]
			if c == nil || c.Status != tt.status || c.Reason != tt.reason {
				t.Fatalf("cell %s: %s, want %s with reason %q", tt.cell, describe(c), tt.status, tt.reason)
			}
			switch {
			case len(tt.errHas) == 0 && c.Err != nil && tt.status != engine.StatusError:
				t.Errorf("cell %s: Err = %q, want none", tt.cell, *c.Err)
			case len(tt.errHas) > 0 && c.Err == nil:
				t.Errorf("cell %s: no error message", tt.cell)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(*c.Err, s) {
					t.Errorf("cell %s: error %q does not contain %q", tt.cell, *c.Err, s)
				}
			}
			if tt.status != engine.StatusSuccess {
				for _, ev := range rec.of(tt.cell) {
					if ev.Status == engine.StatusRunning && tt.status == engine.StatusBlocked {
						t.Errorf("blocked cell %s was running", tt.cell)
					}
				}
				if rows, err := tryQueryRows(eng.DB(), "SELECT * FROM __sqlrooms_ephemeral.artifact_nb."+tt.cell); err == nil {
					t.Errorf("cell %s did not succeed but its table exists: %v", tt.cell, rows)
				}
			}
		})
	}
	t.Run("Summary", func(t *testing.T) {
		want := engine.Summary{Success: 2, Error: 3, Blocked: 4}
		if report.Summary != want {
			t.Errorf("Summary = %+v, want %+v", report.Summary, want)
		}
		if report.Summary.OK() {
			t.Error("Summary.OK() = true with failures")
		}
	})
	t.Run("ReportInCellIdsOrder", func(t *testing.T) {
		var got []string
		for _, c := range report.Artifacts[0].Cells {
			got = append(got, c.ID)
		}
		want := []string{"ok", "bad", "mid", "leaf", "indep", "typo", "aftertypo", "unkvar", "usesdup"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("report cells = %q, want %q (SQL cells in cellIds order)", got, want)
		}
	})
}

func TestRun_MultiStatement(t *testing.T) {
	t.Run("LastQueryMaterialized", func(t *testing.T) {
		eng := openEngine(t, engine.Config{})
		plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
			sqlCell("m", "m", "SELECT 1 AS first;\n  SELECT 2 AS y, 'two' AS z;"),
		}}))
		c := cellResults(mustRun(t, context.Background(), eng, plan, engine.RunOptions{}))["m"]
		if c.Status != engine.StatusSuccess {
			t.Fatalf("m: %s", describe(c))
		}
		got := queryRows(t, eng.DB(), `SELECT * FROM __sqlrooms_ephemeral.artifact_nb.m`)
		if want := [][]string{{"2", "two"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("m = %v, want %v", got, want)
		}
	})

	// A cell may prepare with DDL (DESIGN.md rule 7); a temporary table is
	// the cell's own: a later cell of the same run must not see it.
	t.Run("TempTableThenQuery", func(t *testing.T) {
		eng := openEngine(t, engine.Config{})
		nb := parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
			sqlCell("m", "m", "CREATE TEMP TABLE scratch AS SELECT 41 AS x;\nSELECT x + 1 AS y FROM scratch"),
			sqlCell("peek", "peek", "SELECT * FROM scratch"),
		}})
		plan := mustPlan(t, eng, nb)
		if ap := plan.Artifacts[0]; len(ap.Errors) > 0 || len(ap.Cell("m").ExternalTables) > 0 || len(ap.Cell("peek").Deps) > 0 {
			t.Fatalf("plan: errors %v, m reads %v, peek depends on %v; want a clean plan", ap.Errors, ap.Cell("m").ExternalTables, ap.Cell("peek").Deps)
		}
		for run := 1; run <= 3; run++ {
			results := cellResults(mustRun(t, context.Background(), eng, plan, engine.RunOptions{Concurrency: 1}))
			if c := results["m"]; c.Status != engine.StatusSuccess {
				t.Fatalf("run %d: m: %s", run, describe(c))
			}
			got := queryRows(t, eng.DB(), `SELECT * FROM __sqlrooms_ephemeral.artifact_nb.m`)
			if want := [][]string{{"42"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("run %d: m = %v, want %v", run, got, want)
			}
			if c := results["peek"]; c.Status != engine.StatusError {
				t.Errorf("run %d: peek read another cell's temporary table: %s", run, describe(c))
			}
		}
	})
}

// TestRun_QueryKinds runs every kind of query cell DESIGN.md rule 7 names,
// in a batch run and in a session (whose results commit through a guard),
// and checks that each materializes its result as a table: the rows a user
// sees, the row count in the events and the provenance, and a downstream
// cell reading it.
func TestRun_QueryKinds(t *testing.T) {
	const source = "SELECT range AS x, range % 3 AS g FROM range(10)"
	tests := []struct {
		name, sql string
		cols      string // what the check and the downstream cell select from the result
		where     string // a filter for both, when the result is not all fixed
		want      [][]string
	}{
		{name: "Select", sql: "SELECT g, sum(x) AS s FROM a GROUP BY g ORDER BY g", cols: "g, s",
			want: [][]string{{"0", "18"}, {"1", "12"}, {"2", "15"}}},
		{name: "DescribeTable", sql: "DESCRIBE a", cols: "column_name, column_type",
			want: [][]string{{"x", "BIGINT"}, {"g", "BIGINT"}}},
		{name: "DescribeQuery", sql: "DESCRIBE SELECT x, CAST(g AS VARCHAR) AS label FROM a", cols: "column_name, column_type",
			want: [][]string{{"x", "BIGINT"}, {"label", "VARCHAR"}}},
		{name: "ShowTable", sql: "SHOW a", cols: "column_name, column_type",
			want: [][]string{{"x", "BIGINT"}, {"g", "BIGINT"}}},
		{name: "SummarizeWithSemicolon", sql: "SUMMARIZE a;", cols: "column_name, min, max, count",
			want: [][]string{{"x", "0", "9", "10"}, {"g", "0", "2", "10"}}},
		{name: "SummarizeQueryWithComment", sql: "-- the profile\nSUMMARIZE SELECT x FROM a WHERE g = 0 -- zeros", cols: "column_name, min, max, count",
			want: [][]string{{"x", "0", "9", "4"}}},
		{name: "DescribeAfterSet", sql: "SET threads = 2;\nDESCRIBE a", cols: "column_name",
			want: [][]string{{"x"}, {"g"}}},
		// The tables on the cell's search_path: the upstream cell and the
		// provenance table in main; DuckDB lists the result table being
		// created, q, in some runs and not in others.
		{name: "ShowTables", sql: "SHOW TABLES", cols: "name", where: "name <> 'q'",
			want: [][]string{{"a"}, {"cellsd_provenance"}}},
		{name: "PivotWithIn", sql: "PIVOT a ON g IN (0, 1, 2) USING sum(x)", cols: `"0", "1", "2"`,
			want: [][]string{{"18", "12", "15"}}},
		{name: "PivotWithoutIn", sql: "PIVOT a ON g USING sum(x)", cols: `"0", "1", "2"`,
			want: [][]string{{"18", "12", "15"}}},
		{name: "PivotWithoutInGroupBy", sql: "PIVOT (SELECT x % 2 AS parity, g FROM a)\nON g USING count(*)\nGROUP BY parity ORDER BY parity", cols: `parity, "0", "1", "2"`,
			want: [][]string{{"0", "2", "1", "2"}, {"1", "2", "2", "1"}}},
		{name: "PivotWithoutInInCTE", sql: "WITH p AS (PIVOT a ON g USING sum(x)) SELECT * FROM p", cols: `"0", "1", "2"`,
			want: [][]string{{"18", "12", "15"}}},
		{name: "DescribePivotWithoutIn", sql: "DESCRIBE PIVOT a ON g USING sum(x)", cols: "column_name",
			want: [][]string{{"0"}, {"1"}, {"2"}}},
	}
	modes := []struct {
		name string
		run  func(t *testing.T, nb *cells.Notebook, rec *recorder) *sql.DB
	}{
		{"Run", func(t *testing.T, nb *cells.Notebook, rec *recorder) *sql.DB {
			eng := openEngine(t, engine.Config{})
			mustRun(t, context.Background(), eng, mustPlan(t, eng, nb), engine.RunOptions{Observe: rec.observe})
			return eng.DB()
		}},
		{"Session", func(t *testing.T, nb *cells.Notebook, rec *recorder) *sql.DB {
			s := openSession(t, nb, engine.SessionOptions{Observe: rec.observe})
			mustRunSession(t, s, engine.RunRequest{})
			s.Flush()
			return s.DB()
		}},
	}
	for _, mode := range modes {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				where := ""
				if tt.where != "" {
					where = " WHERE " + tt.where
				}
				nb := parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
					sqlCell("a", "a", source),
					sqlCell("q", "q", tt.sql),
					sqlCell("down", "down", "SELECT "+tt.cols+" FROM q"+where),
				}, edges: []map[string]string{edge("a", "q", "manual")}}) // SHOW TABLES reads a without naming it
				rec := &recorder{}
				db := mode.run(t, nb, rec)

				for _, cell := range []string{"q", "down"} {
					evs := rec.of(cell)
					if got, want := transitions(evs), []string{"idle->queued", "queued->running", "running->success"}; !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: events %q, want %q (last: %+v)", cell, got, want, evs[len(evs)-1])
					}
					last := evs[len(evs)-1]
					rel := "__sqlrooms_ephemeral.artifact_nb." + cell
					if last.Relation != rel {
						t.Errorf("%s: Relation = %q, want %q", cell, last.Relation, rel)
					}
					if got := queryRows(t, db, "SELECT "+tt.cols+" FROM "+rel+where); !reflect.DeepEqual(got, tt.want) {
						t.Errorf("%s = %v, want %v", cell, got, tt.want)
					}
					count := queryRows(t, db, "SELECT count(*) FROM "+rel)[0][0]
					if last.Rows == nil || fmt.Sprint(*last.Rows) != count {
						t.Errorf("%s: Rows = %s, want %s, the rows of its table", cell, describeRows(last.Rows), count)
					}
					if cell == "q" {
						got := queryRows(t, db, `SELECT relation, rows FROM __sqlrooms_ephemeral.main.cellsd_provenance WHERE cell_id = 'q'`)
						if want := [][]string{{rel, count}}; !reflect.DeepEqual(got, want) {
							t.Errorf("provenance of q = %v, want %v", got, want)
						}
					}
				}
			})
		}
	}
}

// TestRun_QueryKindErrors checks that a failing DESCRIBE, SUMMARIZE or
// PIVOT cell is reported like a failing SELECT: an error event of the cell,
// DuckDB's message, and the line of the cell's SQL where DuckDB gives one.
func TestRun_QueryKindErrors(t *testing.T) {
	tests := []struct {
		name, sql string
		errHas    []string
	}{
		{"Select", "-- note\nSELECT x\n  FROM a WHERE no_such_column > 0", []string{"no_such_column", "LINE 3:"}},
		{"DescribeQuery", "-- note\nDESCRIBE\n  SELECT no_such_column FROM a; -- end", []string{"no_such_column", "LINE 3:"}},
		{"SummarizeAfterSet", "SET threads = 2;\nSUMMARIZE\n  SELECT no_such_column FROM a", []string{"no_such_column", "LINE 3:"}},
		{"DescribeTable", "DESCRIBE no_such_table", []string{"no_such_table", "LINE 1:"}},
		// DuckDB reports a PIVOT without IN list in the statements it
		// rewrites it into, whose lines are not the cell's.
		{"PivotWithoutIn", "PIVOT a\n  ON g USING sum(no_such_column)", []string{"no_such_column"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := openEngine(t, engine.Config{})
			plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
				sqlCell("a", "a", "SELECT 1 AS x, 2 AS g"),
				sqlCell("q", "q", tt.sql),
				sqlCell("down", "down", "SELECT * FROM q"),
			}}))
			rec := &recorder{}
			results := cellResults(mustRun(t, context.Background(), eng, plan, engine.RunOptions{Observe: rec.observe}))
			if got, want := transitions(rec.of("q")), []string{"idle->queued", "queued->running", "running->error"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("q: events %q, want %q", got, want)
			}
			c := results["q"]
			if c.Err == nil {
				t.Fatalf("q: %s, want an error", describe(c))
			}
			for _, s := range tt.errHas {
				if !strings.Contains(*c.Err, s) {
					t.Errorf("q: error %q does not contain %q", *c.Err, s)
				}
			}
			if d := results["down"]; d.Status != engine.StatusBlocked || d.Reason != "blocked: Cell q (q) failed" {
				t.Errorf("down: %s, want blocked by q", describe(d))
			}
		})
	}
}

func describeRows(n *int64) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}

func TestRun_VariablesAreData(t *testing.T) {
	const evil = "x'; DROP TABLE t; --"
	tests := []struct {
		name, sql, want string
	}{
		{"Code", "SELECT {{v}} AS v", evil},
		{"InsideLiteral", "SELECT 'pre {{ v }} post' AS v", "pre " + evil + " post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := openEngine(t, engine.Config{})
			if _, err := eng.DB().Exec(`CREATE TABLE main.t AS SELECT 7 AS keep`); err != nil {
				t.Fatal(err)
			}
			plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
				inputCell("in", "v", evil),
				sqlCell("c", "c", tt.sql),
			}}))
			c := cellResults(mustRun(t, context.Background(), eng, plan, engine.RunOptions{}))["c"]
			if c.Status != engine.StatusSuccess {
				t.Fatalf("c: %s", describe(c))
			}
			if got, want := queryRows(t, eng.DB(), `SELECT v FROM __sqlrooms_ephemeral.artifact_nb.c`), [][]string{{tt.want}}; !reflect.DeepEqual(got, want) {
				t.Errorf("c = %q, want %q", got, want)
			}
			if got, want := queryRows(t, eng.DB(), `SELECT keep FROM main.t`), [][]string{{"7"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("main.t = %v, want %v", got, want)
			}
		})
	}
}

// TestRun_Observe checks the events of a run: every successful cell goes
// queued -> running -> success, each event naming the state it left.
func TestRun_Observe(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "diamond", cells: append(diamondCells(),
		sqlCell("bad", "bad", "SELECT nope"),
		sqlCell("afterbad", "afterbad", "SELECT * FROM bad"),
	)}))
	rec := &recorder{}
	mustRun(t, context.Background(), eng, plan, engine.RunOptions{Observe: rec.observe, Concurrency: 2})

	want := map[string][]string{
		"a":        {"idle->queued", "queued->running", "running->success"},
		"b":        {"idle->queued", "queued->running", "running->success"},
		"c":        {"idle->queued", "queued->running", "running->success"},
		"d":        {"idle->queued", "queued->running", "running->success"},
		"bad":      {"idle->queued", "queued->running", "running->error"},
		"afterbad": {"idle->queued", "queued->blocked"},
	}
	for cell, w := range want {
		t.Run(cell, func(t *testing.T) {
			evs := rec.of(cell)
			if got := transitions(evs); !reflect.DeepEqual(got, w) {
				t.Fatalf("events = %q, want %q", got, w)
			}
			last := evs[len(evs)-1]
			if last.Artifact != "diamond" || last.Relation != "__sqlrooms_ephemeral.artifact_diamond."+cell {
				t.Errorf("event names artifact %q relation %q", last.Artifact, last.Relation)
			}
			switch last.Status {
			case engine.StatusSuccess:
				if last.Rows == nil || *last.Rows != 4 {
					t.Errorf("success event Rows = %v, want 4", last.Rows)
				}
				if last.Err != "" {
					t.Errorf("success event Err = %q", last.Err)
				}
			case engine.StatusError:
				if !strings.Contains(last.Err, "nope") {
					t.Errorf("error event Err = %q, want DuckDB's message", last.Err)
				}
			case engine.StatusBlocked:
				if last.Reason != "blocked: Cell bad (bad) failed" {
					t.Errorf("blocked event Reason = %q", last.Reason)
				}
			}
		})
	}
	t.Run("OnlySQLCells", func(t *testing.T) {
		for _, ev := range rec.all() {
			if _, ok := want[ev.Cell]; !ok {
				t.Errorf("event for cell %q, which is not a SQL cell", ev.Cell)
			}
		}
	})
	t.Run("DependencyOrder", func(t *testing.T) {
		// A cell starts running only after each of its dependencies succeeded.
		done := map[string]bool{}
		deps := map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
		for _, ev := range rec.all() {
			if ev.Status == engine.StatusSuccess {
				done[ev.Cell] = true
			}
			if ev.Status == engine.StatusRunning {
				for _, d := range deps[ev.Cell] {
					if !done[d] {
						t.Errorf("%s started running before %s succeeded", ev.Cell, d)
					}
				}
			}
		}
	})
}

// ---- parallelism ----

// slowSQL takes about 0.32 s alone on the 2-core machine these tests were
// written on (DuckDB uses both cores for it); two at once finish after about
// 0.8 s. (count(*) over the same range takes only 50 ms: DuckDB does not
// need to produce the rows.)
const slowSQL = "SELECT sum(i) AS s FROM range(300000000) AS t(i)"

// mediumSQL takes about 35 ms alone.
const mediumSQL = "SELECT sum(i) AS s FROM range(30000000) AS t(i)"

// endlessSQL would take minutes; it runs until cancelled.
const endlessSQL = "SELECT sum(i) AS s FROM range(100000000000) AS t(i)"

// maxRunning returns the most cells reported running at the same time.
func maxRunning(evs []engine.Event) int {
	running, most := 0, 0
	for _, ev := range evs {
		switch {
		case ev.Status == engine.StatusRunning:
			running++
		case ev.Prev == engine.StatusRunning:
			running--
		}
		most = max(most, running)
	}
	return most
}

func TestRun_Concurrency(t *testing.T) {
	const repeat = 5
	eng := openEngine(t, engine.Config{})
	tests := []struct {
		name        string
		concurrency int
		sql         string
		cells       int
		wantMost    int
	}{
		{"Two/Overlap", 2, slowSQL, 2, 2},
		{"One/NeverOverlap", 1, mediumSQL, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cs []nbCell
			for i := range tt.cells {
				id := string(rune('p' + i))
				cs = append(cs, sqlCell(id, id, tt.sql))
			}
			plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "par", cells: cs}))
			for i := range repeat {
				rec := &recorder{}
				report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{Concurrency: tt.concurrency, Observe: rec.observe})
				if report.Summary.Success != tt.cells {
					t.Fatalf("attempt %d: Summary = %+v, want %d successes", i+1, report.Summary, tt.cells)
				}
				if most := maxRunning(rec.all()); most != tt.wantMost {
					t.Fatalf("attempt %d: at most %d cells running at once, want %d; events %q",
						i+1, most, tt.wantMost, transitions(rec.all()))
				}
			}
		})
	}
}

// ---- timeouts and cancellation ----

func TestRun_Timeout(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
		sqlCell("slow", "slow", endlessSQL),
		sqlCell("down", "down", "SELECT * FROM slow"),
		sqlCell("fast", "fast", "SELECT 1 AS v"),
	}}))
	start := time.Now()
	report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{Timeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	results := cellResults(report)
	if elapsed > time.Second {
		t.Errorf("Run took %s with a 100ms timeout", elapsed)
	}
	if c := results["slow"]; c.Status != engine.StatusError || c.Err == nil || !strings.Contains(*c.Err, "timed out") {
		t.Errorf("slow: %s, want error saying it timed out", describe(c))
	}
	if c := results["down"]; c.Status != engine.StatusBlocked || c.Reason != "blocked: Cell slow (slow) failed" {
		t.Errorf("down: %s, want blocked by slow", describe(c))
	}
	if c := results["fast"]; c.Status != engine.StatusSuccess {
		t.Errorf("fast: %s, want success: the timeout is per cell", describe(c))
	}
}

func TestRun_Cancel(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
		sqlCell("slow", "slow", endlessSQL),
		sqlCell("down", "down", "SELECT * FROM slow"),
	}}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var cancelledAt time.Time
	rec := &recorder{on: func(ev engine.Event) {
		if ev.Cell == "slow" && ev.Status == engine.StatusRunning {
			time.AfterFunc(100*time.Millisecond, func() {
				mu.Lock()
				cancelledAt = time.Now()
				mu.Unlock()
				cancel()
			})
		}
	}}
	report := mustRun(t, ctx, eng, plan, engine.RunOptions{Observe: rec.observe})
	mu.Lock()
	took := time.Since(cancelledAt)
	mu.Unlock()
	if cancelledAt.IsZero() {
		t.Fatalf("slow never ran: %q", transitions(rec.all()))
	}
	if took > time.Second {
		t.Errorf("Run returned %s after the context was cancelled", took)
	}
	results := cellResults(report)
	if c := results["slow"]; c.Status != engine.StatusCancel {
		t.Errorf("slow: %s, want cancel", describe(c))
	}
	if c := results["down"]; c.Status != engine.StatusBlocked || c.Reason != "blocked: Cell slow (slow) was cancelled" {
		t.Errorf("down: %s (%q), want blocked: Cell slow (slow) was cancelled", describe(c), c.Reason)
	}
	for _, ev := range rec.of("down") {
		if ev.Status == engine.StatusRunning {
			t.Error("down ran after its upstream was cancelled")
		}
	}
	if rows, err := tryQueryRows(eng.DB(), `SELECT * FROM __sqlrooms_ephemeral.artifact_nb.down`); err == nil {
		t.Errorf("down was materialized: %v", rows)
	}
	if want := (engine.Summary{Cancel: 1, Blocked: 1}); report.Summary != want {
		t.Errorf("Summary = %+v, want two cells not done", report.Summary)
	}
}

// TestRun_FailureKeepsPreviousResult checks that a cell that fails, times out
// or is cancelled leaves the result of its last successful run in place.
func TestRun_FailureKeepsPreviousResult(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		opts    engine.RunOptions
		cancel  bool
		status  engine.Status
		errLike string
	}{
		{name: "Error", sql: "SELECT v FROM no_such_table", status: engine.StatusError, errLike: "no_such_table"},
		{name: "ErrorAtRuntime", sql: "SELECT CAST('not a number' AS INTEGER) AS v", status: engine.StatusError, errLike: "Conversion Error"},
		{name: "DescribeError", sql: "DESCRIBE no_such_table", status: engine.StatusError, errLike: "no_such_table"},
		{name: "SummarizeError", sql: "SUMMARIZE SELECT no_such_column", status: engine.StatusError, errLike: "no_such_column"},
		{name: "PivotWithoutInError", sql: "PIVOT no_such_table ON g USING sum(x)", status: engine.StatusError, errLike: "no_such_table"},
		// DuckDB's first statements (collecting the pivot values) succeed,
		// the CREATE TABLE fails.
		{name: "PivotWithoutInLateError", sql: "PIVOT (SELECT 1 AS g) ON g USING sum(no_such_column)", status: engine.StatusError, errLike: "no_such_column"},
		{name: "Timeout", sql: endlessSQL, opts: engine.RunOptions{Timeout: 100 * time.Millisecond}, status: engine.StatusError, errLike: "timed out"},
		{name: "Cancel", sql: endlessSQL, cancel: true, status: engine.StatusCancel},
		{name: "PivotWithoutInTimeout", sql: "PIVOT (SELECT s % 2 AS g, s FROM (" + endlessSQL + ")) ON g USING sum(s)",
			opts: engine.RunOptions{Timeout: 100 * time.Millisecond}, status: engine.StatusError, errLike: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := openEngine(t, engine.Config{})
			first := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{sqlCell("r", "r", "SELECT 'previous' AS v")}}))
			if c := cellResults(mustRun(t, context.Background(), eng, first, engine.RunOptions{}))["r"]; c.Status != engine.StatusSuccess {
				t.Fatalf("first run: %s", describe(c))
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := tt.opts
			if tt.cancel {
				rec := &recorder{on: func(ev engine.Event) {
					if ev.Status == engine.StatusRunning {
						time.AfterFunc(100*time.Millisecond, cancel)
					}
				}}
				opts.Observe = rec.observe
			}
			second := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{sqlCell("r2", "r", tt.sql)}}))
			c := cellResults(mustRun(t, ctx, eng, second, opts))["r2"]
			if c.Status != tt.status || (tt.errLike != "" && (c.Err == nil || !strings.Contains(*c.Err, tt.errLike))) {
				t.Fatalf("second run: %s, want %s mentioning %q", describe(c), tt.status, tt.errLike)
			}
			got := queryRows(t, eng.DB(), `SELECT v FROM __sqlrooms_ephemeral.artifact_nb.r`)
			if want := [][]string{{"previous"}}; !reflect.DeepEqual(got, want) {
				t.Errorf("after a failed rerun r = %v, want %v", got, want)
			}
		})
	}
}
