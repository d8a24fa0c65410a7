package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine/daemon"
	"github.com/cellsd/cellsd/engine/daemon/jobapi"
	"github.com/cellsd/cellsd/internal/natstest"
	"github.com/cellsd/cellsd/internal/poll"
)

// wideNotebook is a notebook of n independent DuckDB cells with SQL of
// about sqlBytes each.
func wideNotebook(n, sqlBytes int) []byte {
	data := map[string]any{}
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%05d", i)
		sql := fmt.Sprintf("SELECT %d AS v -- %s", i, strings.Repeat("x", max(0, sqlBytes-30)))
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": "Cell " + id, "sql": sql, "resultName": "r" + id}}
		ids = append(ids, id)
	}
	nb, _ := json.Marshal(map[string]any{"data": data,
		"artifacts": map[string]any{"a": map[string]any{"id": "a", "cellIds": ids, "edges": []any{}}}})
	return nb
}

// writeNotebook writes data as nb.json in a directory of its own, for a
// daemon whose --notebooks it is.
func writeNotebook(t testing.TB, data []byte) (dir string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nb.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawRequest sends body and returns the reply's bytes.
func rawRequest(t testing.TB, nc *nats.Conn, subject string, body any) []byte {
	t.Helper()
	msg, err := nc.Request(subject, mustJSON(t, body), 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	return msg.Data
}

type graphPage struct {
	Artifacts []struct {
		ID     string             `json:"id"`
		Schema string             `json:"schema"`
		Cells  []jobapi.GraphCell `json:"cells"`
		Order  []string           `json:"order"`
		Errors []json.RawMessage  `json:"errors"`
	} `json:"artifacts"`
	Next *int `json:"next"`
}

// TestDaemon_Paging: against a stock nats-server (1 MB max payload), the
// status and graph of a 10,000-cell session come in pages, each under the
// max payload, that concatenate to every cell once, in order.
func TestDaemon_Paging(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	const n = 10000
	d := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), Notebooks: writeNotebook(t, wideNotebook(n, 300))})
	nc := connect(t, srv.ClientURL())
	if nc.MaxPayload() != 1<<20 {
		t.Fatalf("server max payload %d, want the stock 1 MB", nc.MaxPayload())
	}
	start := time.Now()
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath("nb.json"), SessionID: "big"})
	t.Logf("opened a %d-cell session in %v", n, time.Since(start).Round(time.Millisecond))

	t.Run("Status", func(t *testing.T) {
		var ids []string
		pages := 0
		for offset := 0; ; pages++ {
			data := rawRequest(t, nc, jobapi.SessionSubject("big", "status"), jobapi.PageRequest{Offset: offset})
			if len(data) > 1<<20 {
				t.Fatalf("page of %d bytes", len(data))
			}
			var st jobapi.StatusReply
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatalf("%.200s: %v", data, err)
			}
			if len(st.Cells) == 0 {
				t.Fatalf("empty page at %d", offset)
			}
			for _, c := range st.Cells {
				ids = append(ids, c.Cell)
				if c.Title != "Cell "+c.Cell || c.Type != "sql" || !strings.HasPrefix(c.SQL, "SELECT ") || c.ResultName != "r"+c.Cell || c.ConnectorID != "duckdb-core" {
					t.Fatalf("cell %+v", c)
				}
			}
			if st.Next == nil {
				break
			}
			if *st.Next != offset+len(st.Cells) {
				t.Fatalf("next %d after %d cells from %d", *st.Next, len(st.Cells), offset)
			}
			offset = *st.Next
		}
		checkIDs(t, ids, n)
		if pages < 3 {
			t.Errorf("%d pages: the reply was not paged", pages+1)
		}
		t.Logf("status: %d cells in %d pages", len(ids), pages+1)
	})
	t.Run("Graph", func(t *testing.T) {
		var ids []string
		var order []string
		pages := 0
		for offset := 0; ; pages++ {
			data := rawRequest(t, nc, jobapi.SessionSubject("big", "graph"), jobapi.PageRequest{Offset: offset})
			if len(data) > 1<<20 {
				t.Fatalf("page of %d bytes", len(data))
			}
			var g graphPage
			if err := json.Unmarshal(data, &g); err != nil {
				t.Fatalf("%.200s: %v", data, err)
			}
			for _, a := range g.Artifacts {
				order = append(order, a.Order...)
				for _, c := range a.Cells {
					ids = append(ids, c.ID)
					if c.Title != "Cell "+c.ID || c.SQL == nil || c.Input != nil || *c.ResultName != "r"+c.ID {
						t.Fatalf("cell %+v", c)
					}
				}
			}
			if g.Next == nil {
				break
			}
			offset = *g.Next
		}
		checkIDs(t, ids, n)
		if len(order) != n {
			t.Errorf("order has %d ids over the pages, want %d", len(order), n)
		}
		t.Logf("graph: %d cells in %d pages", len(ids), pages+1)
	})
	t.Run("OffsetLimit", func(t *testing.T) {
		var st jobapi.StatusReply
		request(t, nc, jobapi.SessionSubject("big", "status"), jobapi.PageRequest{Offset: 10, Limit: 5}, &st)
		if len(st.Cells) != 5 || st.Cells[0].Cell != "c00010" || st.Next == nil || *st.Next != 15 || len(st.Inputs) != 0 {
			t.Errorf("offset 10 limit 5: %d cells from %s, next %v", len(st.Cells), st.Cells[0].Cell, st.Next)
		}
		request(t, nc, jobapi.SessionSubject("big", "status"), jobapi.PageRequest{Offset: n - 2, Limit: 5}, &st)
		if len(st.Cells) != 2 || st.Next != nil {
			t.Errorf("last page: %d cells, next %v", len(st.Cells), st.Next)
		}
		var g graphPage
		request(t, nc, jobapi.SessionSubject("big", "graph"), jobapi.PageRequest{Offset: 100, Limit: 3}, &g)
		if len(g.Artifacts) != 1 || len(g.Artifacts[0].Cells) != 3 || g.Artifacts[0].Cells[0].ID != "c00100" || *g.Next != 103 || len(g.Artifacts[0].Order) != 0 {
			t.Errorf("graph offset 100 limit 3: %+v", g)
		}
		err := tryRequest(nc, jobapi.SessionSubject("big", "status"), map[string]any{"offset": -1}, nil)
		if ae, ok := err.(*jobapi.Error); !ok || ae.Code != jobapi.CodeBadRequest {
			t.Errorf("offset -1: %v", err)
		}
	})
	if m := metrics(t, d); m[`cellsd_api_requests_total{op="status",outcome="ok"}`] == 0 {
		t.Errorf("metrics: %v", m)
	}
}

func checkIDs(t *testing.T, ids []string, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("%d cells over the pages, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("c%05d", i) {
			t.Fatalf("cell %d is %s", i, id)
		}
	}
}

// TestDaemon_OversizeReply: a cell too big for any reply is an error that
// says so, counted as one.
func TestDaemon_OversizeReply(t *testing.T) {
	srv := natstest.RunServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	d := startDaemon(t, daemon.Config{NATSURL: srv.ClientURL(), Notebooks: writeNotebook(t, wideNotebook(2, 1100_000))})
	nc := connect(t, srv.ClientURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath("nb.json"), SessionID: "fat"})
	for _, op := range []string{"status", "graph", "notebook"} {
		err := tryRequest(nc, jobapi.SessionSubject("fat", op), nil, nil)
		if ae, ok := err.(*jobapi.Error); !ok || ae.Code != jobapi.CodeInternal || !strings.Contains(ae.Message, "max payload") {
			t.Errorf("%s: %v, want internal about the max payload", op, err)
		}
		if m := metrics(t, d); m[fmt.Sprintf(`cellsd_api_requests_total{op=%q,outcome="internal"}`, op)] != 1 {
			t.Errorf("%s: metrics do not count the oversize reply as an error", op)
		}
	}
}

// TestDaemon_CellFields: status and graph carry each cell's title, type,
// SQL, result name and connector and the input cells' current values.
func TestDaemon_CellFields(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "fields", Params: map[string]json.RawMessage{"min_amount": json.RawMessage("100")}})
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject("fields", "status"), nil, &st)
	if st.Next != nil || len(st.Cells) != 7 {
		t.Fatalf("status: %d cells, next %v", len(st.Cells), st.Next)
	}
	c := st.Cells[0]
	if c.Cell != "products" || c.Title == "" || c.Type != "sql" || !strings.Contains(c.SQL, "SELECT") || c.ResultName != "products" || c.ConnectorID != "duckdb-core" || c.Status != "idle" {
		t.Errorf("first cell %+v", c)
	}
	want := []jobapi.StatusInput{{CellID: "min_amount", Artifact: "quickstart", Title: "Minimum order amount",
		InputValue: jobapi.InputValue{Kind: "slider", VarName: "min_amount", Value: json.Number("100"), Min: "0", Max: "500", Step: "10"}}}
	if !reflect.DeepEqual(decodeInputs(t, st.Inputs), want) {
		t.Errorf("inputs %+v, want %+v", st.Inputs, want)
	}
	var g graphPage
	request(t, nc, jobapi.SessionSubject("fields", "graph"), nil, &g)
	var sawInput, sawSQL bool
	for _, c := range g.Artifacts[0].Cells {
		switch c.Type {
		case "input":
			sawInput = c.Input != nil && c.Input.Kind == "slider" && fmt.Sprint(c.Input.Value) == "100" && c.SQL == nil && c.Title == "Minimum order amount"
		case "sql":
			sawSQL = sawSQL || (c.SQL != nil && c.Input == nil && c.Title != "")
		}
	}
	if !sawInput || !sawSQL || g.Next != nil || len(g.Artifacts[0].Order) != 9 {
		t.Errorf("graph cells lack title, sql or input: %+v", g)
	}
}

// decodeInputs turns a value decoded as float64 back into a json.Number.
func decodeInputs(t *testing.T, in []jobapi.StatusInput) []jobapi.StatusInput {
	for i := range in {
		if f, ok := in[i].Value.(float64); ok {
			in[i].Value = json.Number(fmt.Sprint(f))
		}
	}
	return in
}

// TestDaemon_InputValidation: an update of an input with a value --param
// would refuse is a bad_request; nothing runs and nothing changes.
func TestDaemon_InputValidation(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	nb := mustJSON(t, map[string]any{"data": map[string]any{
		"s": map[string]any{"id": "s", "type": "input", "data": map[string]any{"input": map[string]any{"kind": "slider", "varName": "n", "value": 5, "min": 1, "max": 10}}},
		"d": map[string]any{"id": "d", "type": "input", "data": map[string]any{"input": map[string]any{"kind": "dropdown", "varName": "m", "value": "a", "options": []string{"a", "b"}}}},
		"x": map[string]any{"id": "x", "type": "input", "data": map[string]any{"input": map[string]any{"kind": "text", "varName": "w", "value": "hi"}}},
		"q": map[string]any{"id": "q", "type": "sql", "data": map[string]any{"sql": "SELECT {{n}} AS n, {{m}} AS m, {{w}} AS w", "resultName": "q"}},
	}, "artifacts": map[string]any{"a": map[string]any{"id": "a", "cellIds": []string{"s", "d", "x", "q"}}}})
	open(t, nc, jobapi.OpenRequest{Notebook: nb, SessionID: "inputs"})
	evs := subscribe(t, nc, "inputs")
	var r struct{ Run string }
	request(t, nc, jobapi.SessionSubject("inputs", "run"), nil, &r)
	evs.waitRun(t, r.Run)
	before := rawRequest(t, nc, jobapi.SessionSubject("inputs", "status"), nil)
	nbBefore := rawRequest(t, nc, jobapi.SessionSubject("inputs", "notebook"), nil)
	seen := len(evs.all())
	for _, c := range []struct {
		name, cell string
		value      any
	}{
		{"SliderAbc", "s", "abc"}, {"SliderBelow", "s", 0}, {"SliderAbove", "s", 11}, {"SliderNull", "s", nil},
		{"SliderBool", "s", true}, {"DropdownNotOffered", "d", "c"}, {"DropdownNumber", "d", 1}, {"TextNull", "x", nil},
		{"TextObject", "x", map[string]any{"a": 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := tryRequest(nc, jobapi.SessionSubject("inputs", "update"), map[string]any{"cellId": c.cell, "value": c.value}, nil)
			if ae, ok := err.(*jobapi.Error); !ok || ae.Code != jobapi.CodeBadRequest {
				t.Fatalf("update %s to %#v: %v, want bad_request", c.cell, c.value, err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(evs.all()); n != seen {
		t.Errorf("refused updates published %d events", n-seen)
	}
	if after := rawRequest(t, nc, jobapi.SessionSubject("inputs", "status"), nil); string(after) != string(before) {
		t.Errorf("status changed:\n%s\n%s", before, after)
	}
	if after := rawRequest(t, nc, jobapi.SessionSubject("inputs", "notebook"), nil); string(after) != string(nbBefore) {
		t.Errorf("notebook changed")
	}
	// Good values run.
	for _, u := range []map[string]any{{"cellId": "s", "value": 10}, {"cellId": "s", "value": "2"}, {"cellId": "d", "value": "b"}, {"cellId": "x", "value": "any text"}} {
		request(t, nc, jobapi.SessionSubject("inputs", "update"), u, &r)
		if end := evs.waitRun(t, r.Run); end.Status != "success" {
			t.Errorf("update %v: run %s", u, end.Status)
		}
	}
	var st jobapi.StatusReply
	request(t, nc, jobapi.SessionSubject("inputs", "status"), nil, &st)
	got := map[string]any{}
	for _, in := range st.Inputs {
		got[in.CellID] = in.Value
	}
	if fmt.Sprintf("%v %v %v", got["s"], got["d"], got["x"]) != "2 b any text" {
		t.Errorf("inputs now %v", got)
	}
}

// TestDaemon_NotebookOp: the notebook op gives the notebook as it now
// stands; for every UI-saved notebook in fixtures/, load -> notebook op
// -> load is identity, unknown fields kept.
func TestDaemon_NotebookOp(t *testing.T) {
	d := startDaemon(t, daemon.Config{})
	nc := connect(t, d.NATSURL())
	paths, _ := filepath.Glob("../../fixtures/notebooks/*.json")
	ui := 0
	for i, path := range paths {
		orig, _ := os.ReadFile(path)
		if !strings.Contains(string(orig), `"cells"`) {
			continue // not a saved UI state
		}
		ui++
		id := fmt.Sprintf("nb-%d", i)
		open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(filepath.Base(path)), SessionID: id})
		got := rawRequest(t, nc, jobapi.SessionSubject(id, "notebook"), nil)
		var a, b any
		json.Unmarshal(orig, &a)
		json.Unmarshal(got, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: notebook op differs from the file:\n%s", path, got)
		}
		n1, err1 := cells.Parse(path, orig)
		n2, err2 := cells.Parse(path, got)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(n1.Cells, n2.Cells) || !reflect.DeepEqual(n1.Artifacts, n2.Artifacts) {
			t.Errorf("%s: load -> notebook -> load is not identity (%v, %v)", path, err1, err2)
		}
	}
	if ui == 0 {
		t.Fatal("no UI-saved notebook in fixtures/notebooks")
	}
	// Edits show.
	open(t, nc, jobapi.OpenRequest{Notebook: notebookPath(quickstart), SessionID: "nb-edit", Mode: "lazy"})
	request(t, nc, jobapi.SessionSubject("nb-edit", "update"), map[string]any{"cellId": "min_amount", "value": 300}, nil)
	request(t, nc, jobapi.SessionSubject("nb-edit", "update"), map[string]any{"cellId": "products", "title": "Renamed"}, nil)
	got := rawRequest(t, nc, jobapi.SessionSubject("nb-edit", "notebook"), nil)
	nb, err := cells.Parse("op", got)
	if err != nil {
		t.Fatal(err)
	}
	if v := nb.Cells["min_amount"].Input.Value; fmt.Sprint(v) != "300" || nb.Cells["products"].Title != "Renamed" {
		t.Errorf("edits not in the notebook: %v, %q", v, nb.Cells["products"].Title)
	}
	_ = context.Background
	_ = poll.Until
}
