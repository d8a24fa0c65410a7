package engine_test

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/cellsd/cellsd/engine"
)

// selected lists a selection as sorted "artifact/cell" strings.
func selected(sel engine.Selection) []string {
	out := []string{}
	for a, ids := range sel {
		for id := range ids {
			out = append(out, a+"/"+id)
		}
	}
	sort.Strings(out)
	return out
}

// TestRun_Select runs a selection: its cells and their upstream run once,
// nothing downstream or beside them does.
func TestRun_Select(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	cs := append(diamondCells(), sqlCell("boom", "boom", "SELECT error('boom')"))
	plan := mustPlan(t, eng, parseNotebook(t, nbArtifact{id: "nb", cells: cs}))
	sel, err := plan.Select("b")
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	report := mustRun(t, context.Background(), eng, plan, engine.RunOptions{Select: sel, Observe: rec.observe})
	got := map[string]engine.Status{}
	for id, c := range cellResults(report) {
		got[id] = c.Status
	}
	want := map[string]engine.Status{"a": engine.StatusSuccess, "b": engine.StatusSuccess, "c": engine.StatusIdle, "d": engine.StatusIdle, "boom": engine.StatusIdle}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if !report.Summary.OK() || report.Summary.Success != 2 {
		t.Errorf("summary %+v", report.Summary)
	}
	for _, id := range []string{"a", "b"} {
		if n := len(rec.of(id)); n != 3 { // queued, running, success
			t.Errorf("cell %s had %d events, want 3: %v", id, n, transitions(rec.of(id)))
		}
	}
	if _, err := eng.Run(context.Background(), plan, engine.RunOptions{Select: sel, Artifact: "nope"}); err == nil {
		t.Error("a selection in an unknown artifact ran")
	}
	// An empty selection runs nothing and opens the schemas.
	report = mustRun(t, context.Background(), eng, plan, engine.RunOptions{Select: engine.Selection{}})
	if report.Summary != (engine.Summary{}) {
		t.Errorf("empty selection: %+v", report.Summary)
	}
	if rows := queryRows(t, eng.DB(), "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'artifact_nb'"); rows[0][0] != "1" {
		t.Errorf("artifact schema missing: %v", rows)
	}
}

func TestEngine_NotebookSearchPath(t *testing.T) {
	eng := openEngine(t, engine.Config{})
	plan := mustPlan(t, eng, parseNotebook(t,
		nbArtifact{id: "b", cells: []nbCell{sqlCell("x", "x", "SELECT 1")}},
		nbArtifact{id: "a", schema: "Sheet", cells: []nbCell{sqlCell("y", "y", "SELECT 2")}}))
	if got, want := eng.NotebookSearchPath(plan), `"__sqlrooms_ephemeral"."Sheet","__sqlrooms_ephemeral"."artifact_b","memory".main`; got != want {
		t.Errorf("NotebookSearchPath = %s, want %s", got, want)
	}
}
