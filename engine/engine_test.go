package engine_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/leaktest"
)

// ---- helpers shared by the tests of this package ----

// nbCell is one cell of a notebook under construction, in the SQLRooms wire
// shape.
type nbCell map[string]any

// sqlCell is a SQL cell on the core DuckDB whose result name is name.
func sqlCell(id, name, sql string) nbCell {
	return nbCell{"id": id, "type": "sql", "data": map[string]any{"title": "Cell " + id, "sql": sql, "resultName": name}}
}

// inputCell is a text input cell that provides {{varName}}.
func inputCell(id, varName string, value any) nbCell {
	return nbCell{"id": id, "type": "input", "data": map[string]any{
		"title": "Input " + id, "input": map[string]any{"kind": "text", "varName": varName, "value": value}}}
}

// vegaCell is a chart drawn from SQL cell sqlID.
func vegaCell(id, sqlID string) nbCell {
	return nbCell{"id": id, "type": "vega", "data": map[string]any{"title": "Chart " + id, "sqlId": sqlID, "vegaSpec": map[string]any{"mark": "bar"}}}
}

// nbArtifact is one artifact under construction; its cellIds are the ids of
// cells, in order.
type nbArtifact struct {
	id     string
	schema string // schemaName; empty for the default artifact_<id>
	cells  []nbCell
	edges  []map[string]string
}

// parseNotebook builds the SQLRooms cells config of the artifacts and loads
// it the way cellsd loads a notebook file.
func parseNotebook(t testing.TB, arts ...nbArtifact) *cells.Notebook {
	t.Helper()
	data := map[string]nbCell{}
	artifacts := map[string]any{}
	for _, a := range arts {
		ids := []string{}
		for _, c := range a.cells {
			id := c["id"].(string)
			data[id] = c
			ids = append(ids, id)
		}
		art := map[string]any{"id": a.id, "cellIds": ids, "edges": a.edges}
		if a.edges == nil {
			art["edges"] = []any{}
		}
		if a.schema != "" {
			art["schemaName"] = a.schema
		}
		artifacts[a.id] = art
	}
	b, err := json.Marshal(map[string]any{"data": data, "artifacts": artifacts, "tableDepSchemas": []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	nb, err := cells.Parse("test.json", b)
	if err != nil {
		t.Fatalf("parse notebook: %v\n%s", err, b)
	}
	return nb
}

// pgCell is a SQL cell on the Postgres connection "pg".
func pgCell(id, name, sql string) nbCell {
	c := sqlCell(id, name, sql)
	c["data"].(map[string]any)["connectorId"] = "pg"
	return c
}

// onConnector is a SQL cell on the given connector id.
func onConnector(id, name, connector, sql string) nbCell {
	c := sqlCell(id, name, sql)
	c["data"].(map[string]any)["connectorId"] = connector
	return c
}

// edge is a saved edge of the given kind.
func edge(source, target, kind string) map[string]string {
	return map[string]string{"id": source + "-" + target, "source": source, "target": target, "kind": kind}
}

// art is an artifact "nb" with the default schema artifact_nb.
func art(cells ...nbCell) nbArtifact { return nbArtifact{id: "nb", cells: cells} }

// openEngine opens an engine with cfg and closes it when the test ends.
func openEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	eng := engine.New(cfg)
	if err := eng.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := eng.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return eng
}

// mustPlan plans nb on eng.
func mustPlan(t testing.TB, eng *engine.Engine, nb *cells.Notebook) *engine.Plan {
	t.Helper()
	plan, err := eng.Planner().Plan(context.Background(), nb)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return plan
}

// mustRun runs plan on eng with opts and ctx.
func mustRun(t testing.TB, ctx context.Context, eng *engine.Engine, plan *engine.Plan, opts engine.RunOptions) *engine.Report {
	t.Helper()
	report, err := eng.Run(ctx, plan, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return report
}

// cellResults maps every cell of a report to its result.
func cellResults(r *engine.Report) map[string]*engine.CellResult {
	m := map[string]*engine.CellResult{}
	for _, ar := range r.Artifacts {
		for _, c := range ar.Cells {
			m[c.ID] = c
		}
	}
	return m
}

// describe prints a cell result for failure messages.
func describe(c *engine.CellResult) string {
	if c == nil {
		return "<no result>"
	}
	s := fmt.Sprintf("%s (reason %q", c.Status, c.Reason)
	if c.Err != nil {
		s += fmt.Sprintf(", error %q", *c.Err)
	}
	return s + ")"
}

// queryRows runs q on db and returns every row as strings (NULL as "NULL"),
// so results compare with reflect.DeepEqual.
func queryRows(t testing.TB, db *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	out, err := tryQueryRows(db, q, args...)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return out
}

func tryQueryRows(db *sql.DB, q string, args ...any) ([][]string, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := [][]string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// recorder collects the events a run reports.
type recorder struct {
	mu     sync.Mutex
	events []engine.Event
	// on, when set, is called with each event after it is recorded.
	on func(engine.Event)
}

func (r *recorder) observe(ev engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.on != nil {
		r.on(ev)
	}
}

// all returns the cells' events, in the order reported.
func (r *recorder) all() []engine.Event {
	var out []engine.Event
	for _, ev := range r.withSession() {
		if !ev.SessionLevel() {
			out = append(out, ev)
		}
	}
	return out
}

// withSession returns every event, the session's own included.
func (r *recorder) withSession() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

// of returns the events of one cell, in the order reported.
func (r *recorder) of(cell string) []engine.Event {
	var out []engine.Event
	for _, ev := range r.all() {
		if ev.Cell == cell {
			out = append(out, ev)
		}
	}
	return out
}

// transitions renders a cell's events as "prev->status" steps.
func transitions(evs []engine.Event) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, string(ev.Prev)+"->"+string(ev.Status))
	}
	return out
}

// ---- lifecycle ----

func TestEngine_CloseIsIdempotent(t *testing.T) {
	t.Run("Opened", func(t *testing.T) {
		eng := engine.New(engine.Config{})
		if err := eng.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := eng.Close(); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
	})
	t.Run("NeverOpened", func(t *testing.T) {
		eng := engine.New(engine.Config{})
		for i := range 2 {
			if err := eng.Close(); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
	})
	t.Run("OpenAfterClose", func(t *testing.T) {
		eng := engine.New(engine.Config{})
		if err := eng.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		if err := eng.Open(context.Background()); err == nil {
			t.Error("Open after Close succeeded; want an error")
		}
		if err := eng.Close(); err != nil {
			t.Errorf("Close after the refused Open: %v", err)
		}
	})
}

func TestEngine_OpenRejectsUnknownMaterialization(t *testing.T) {
	eng := engine.New(engine.Config{Materialization: "bogus"})
	err := eng.Open(context.Background())
	if err == nil {
		eng.Close()
		t.Fatal(`Open with Materialization "bogus" succeeded; want an error`)
	}
	if !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Open error %q does not name the bad value", err)
	}
	if err := eng.Close(); err != nil {
		t.Errorf("Close after a failed Open: %v", err)
	}
}

// TestEngine_NoGoroutineLeak checks that once Close returns, nothing the
// engine started is left running, whatever the run went through.
func TestEngine_NoGoroutineLeak(t *testing.T) {
	slow := `SELECT sum(i) AS s FROM range(100000000000) AS t(i)`
	tests := []struct {
		name    string
		cells   []nbCell
		opts    engine.RunOptions
		cancel  string // cancel the run once this cell runs
		skipRun bool
	}{
		{name: "OpenClose", skipRun: true},
		{name: "Run", cells: diamondCells(), opts: engine.RunOptions{Concurrency: 2}},
		{name: "FailedRun", cells: []nbCell{sqlCell("bad", "bad", "SELECT nope FROM range(3)"), sqlCell("down", "down", "SELECT * FROM bad")}},
		{name: "TimedOut", cells: []nbCell{sqlCell("slow", "slow", slow)}, opts: engine.RunOptions{Timeout: 50 * time.Millisecond}},
		{name: "Cancelled", cells: []nbCell{sqlCell("slow", "slow", slow), sqlCell("down", "down", "SELECT * FROM slow")}, cancel: "slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verify := leaktest.Start(t)
			eng := engine.New(engine.Config{})
			if err := eng.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !tt.skipRun {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				rec := &recorder{on: func(ev engine.Event) {
					if ev.Cell == tt.cancel && ev.Status == engine.StatusRunning {
						time.AfterFunc(50*time.Millisecond, cancel)
					}
				}}
				opts := tt.opts
				opts.Observe = rec.observe
				plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "leak", cells: tt.cells}))
				mustRun(t, ctx, eng, plan, opts)
				if _, err := eng.DB().Exec(`SELECT 1`); err != nil {
					t.Fatal(err)
				}
			}
			if err := eng.Close(); err != nil {
				t.Fatal(err)
			}
			verify()
		})
	}
}

// TestEngine_DBPath checks what survives closing and reopening an engine on a
// database file: tables of the core database do, ephemeral results do not.
func TestEngine_DBPath(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "core.duckdb")
	nb := parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{sqlCell("c1", "answer", "SELECT 42 AS v")}})

	run := func(cfg engine.Config) {
		eng := engine.New(cfg)
		if err := eng.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		if cfg.Materialization == "" {
			if _, err := eng.DB().Exec(`CREATE TABLE main.kept AS SELECT 'still here' AS v`); err != nil {
				t.Fatal(err)
			}
		}
		r := mustRun(t, ctx, eng, mustPlan(t, eng, nb), engine.RunOptions{})
		if c := cellResults(r)["c1"]; c.Status != engine.StatusSuccess {
			t.Fatalf("c1: %s", describe(c))
		}
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(engine.Config{DBPath: path})
	run(engine.Config{DBPath: path, Materialization: engine.SchemaStrategy})

	eng := openEngine(t, engine.Config{DBPath: path})
	t.Run("CoreTableKept", func(t *testing.T) {
		got := queryRows(t, eng.DB(), `SELECT v FROM main.kept`)
		if want := [][]string{{"still here"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("main.kept = %v, want %v", got, want)
		}
	})
	t.Run("SchemaResultKept", func(t *testing.T) {
		got := queryRows(t, eng.DB(), `SELECT v FROM core.artifact_nb.answer`)
		if want := [][]string{{"42"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("core.artifact_nb.answer = %v, want %v", got, want)
		}
	})
	t.Run("EphemeralResultGone", func(t *testing.T) {
		rows, err := tryQueryRows(eng.DB(), `SELECT v FROM __sqlrooms_ephemeral.artifact_nb.answer`)
		if err == nil {
			t.Errorf("the ephemeral result survived a reopen: %v", rows)
		}
		got := queryRows(t, eng.DB(), `SELECT count(*) FROM __sqlrooms_ephemeral.main.cellsd_provenance`)
		if want := [][]string{{"0"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("ephemeral provenance rows after reopen = %v, want %v", got, want)
		}
	})
}

func TestEngine_RunUnknownArtifact(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{sqlCell("c1", "a", "SELECT 1")}}))
	_, err := eng.Run(context.Background(), plan, engine.RunOptions{Artifact: "nope"})
	if !errors.Is(err, engine.ErrUnknownArtifact) {
		t.Errorf("Run with an unknown artifact: err = %v, want ErrUnknownArtifact", err)
	}
}
