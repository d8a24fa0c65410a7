package format_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/format"
)

// run plans and runs the notebook nb (SQLRooms cells-config JSON) on a
// fresh engine.
func run(t *testing.T, nb string) *engine.Report {
	t.Helper()
	n, err := cells.Parse("nb.json", json.RawMessage(nb))
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{})
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	plan, err := eng.Planner().Plan(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	report, err := eng.Run(context.Background(), plan, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return report
}

func TestReport_JSON(t *testing.T) {
	report := run(t, `{"data":{
		"c1":{"id":"c1","type":"sql","data":{"title":"Cell c1","sql":"SELECT * FROM range(10)","resultName":"a"}},
		"c2":{"id":"c2","type":"sql","data":{"title":"Cell c2","sql":"SELECT nope","resultName":"b"}}},
		"artifacts":{"nb1":{"id":"nb1","cellIds":["c1","c2"],"edges":[]}},
		"tableDepSchemas":["main"]}`)
	b, err := format.MarshalReport(report)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Artifacts []struct {
			ID    string                       `json:"id"`
			Cells []map[string]json.RawMessage `json:"cells"`
		} `json:"artifacts"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Artifacts) != 1 || got.Artifacts[0].ID != "nb1" || len(got.Artifacts[0].Cells) != 2 {
		t.Fatalf("report = %s", b)
	}
	ok, bad := got.Artifacts[0].Cells[0], got.Artifacts[0].Cells[1]
	for _, key := range []string{"id", "status", "relation", "rows", "durationMs", "cached", "error"} {
		if _, has := ok[key]; !has {
			t.Errorf("cell object lacks %q: %s", key, b)
		}
	}
	checks := []struct{ what, got, want string }{
		{"c1 status", string(ok["status"]), `"success"`},
		{"c1 relation", string(ok["relation"]), `"__sqlrooms_ephemeral.artifact_nb1.a"`},
		{"c1 rows", string(ok["rows"]), `10`},
		{"c1 cached", string(ok["cached"]), `false`},
		{"c1 error", string(ok["error"]), `null`},
		{"c2 status", string(bad["status"]), `"error"`},
		{"c2 rows", string(bad["rows"]), `null`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}
	if string(bad["error"]) == "null" {
		t.Error("c2 error is null for a failed cell")
	}
	wantSummary := map[string]int{"success": 1, "error": 1, "blocked": 0, "cancel": 0}
	if !reflect.DeepEqual(got.Summary, wantSummary) {
		t.Errorf("summary = %v, want %v", got.Summary, wantSummary)
	}
}
