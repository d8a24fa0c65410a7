package plan_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/plan"
	"github.com/cellsd/cellsd/sqlparse"
)

// ---- helpers shared by the tests of this package ----

// resultDB is the catalog results live in by default (engine.EphemeralDB).
const resultDB = "__sqlrooms_ephemeral"

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

// diamondCells are a -> b, c -> d -> chart.
func diamondCells() []nbCell {
	return []nbCell{
		sqlCell("a", "a", "SELECT n FROM range(1, 5) AS t(n)"),
		sqlCell("b", "b", "SELECT n, n * 10 AS tens FROM a"),
		sqlCell("c", "c", "SELECT n, n * 100 AS hundreds FROM a"),
		sqlCell("d", "d", "SELECT b.n, tens + hundreds AS total FROM b JOIN c USING (n) ORDER BY n"),
		vegaCell("chart", "d"),
	}
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

// newPlanner returns a planner that parses DuckDB cells through an
// in-memory DuckDB closed when the test ends, with the connections of reg
// (nil: the core DuckDB alone), as an engine's planner is.
func newPlanner(t testing.TB, reg *connectors.Registry) *plan.Planner {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close DuckDB: %v", err)
		}
	})
	return &plan.Planner{DuckDB: sqlparse.NewDuckDB(db), Connections: reg, ResultDB: resultDB}
}

// mustPlan plans nb with pl.
func mustPlan(t testing.TB, pl *plan.Planner, nb *cells.Notebook) *plan.Plan {
	t.Helper()
	p, err := pl.Plan(context.Background(), nb)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return p
}
