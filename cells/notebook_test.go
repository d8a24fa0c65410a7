package cells_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
)

func mustLoad(t *testing.T, path string) *cells.Notebook {
	t.Helper()
	nb, err := cells.Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return nb
}

func artifactIDs(nb *cells.Notebook) []string {
	var ids []string
	for _, a := range nb.Artifacts {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestLoad_CellsConfig(t *testing.T) {
	path := filepath.Join("testdata", "config.json")
	nb := mustLoad(t, path)

	if nb.Path != path {
		t.Errorf("Path = %q, want %q", nb.Path, path)
	}
	if want := []string{"main", "sales"}; !reflect.DeepEqual(nb.TableDepSchemas, want) {
		t.Errorf("TableDepSchemas = %q, want %q", nb.TableDepSchemas, want)
	}
	if got, want := len(nb.Cells), 8; got != want {
		t.Errorf("len(Cells) = %d, want %d", got, want)
	}

	cellTests := []struct {
		name string
		want cells.Cell
	}{
		{"SQLWithConnector", cells.Cell{ID: "c1", Type: cells.TypeSQL, Title: "Orders", SQL: "SELECT * FROM pg_orders", ResultName: "orders", ConnectorID: "pg"}},
		{"SQLWithPlaceholder", cells.Cell{ID: "c2", Type: cells.TypeSQL, Title: "Daily Orders", SQL: "SELECT day, count(*) FROM orders WHERE city = '{{city}}' GROUP BY day"}},
		{"TextInput", cells.Cell{ID: "in1", Type: cells.TypeInput, Title: "City", Input: &cells.Input{Kind: "text", VarName: "city", Value: "Berlin"}}},
		{"SliderInput", cells.Cell{ID: "in2", Type: cells.TypeInput, Title: "Limit", Input: &cells.Input{Kind: "slider", VarName: "limit", Value: json.Number("10"), Min: "-10", Max: "1000"}}},
		{"DropdownNullValue", cells.Cell{ID: "in3", Type: cells.TypeInput, Title: "Mode", Input: &cells.Input{Kind: "dropdown", VarName: "mode", Value: nil, Options: []any{"a", "b"}}}},
		{"Text", cells.Cell{ID: "t1", Type: cells.TypeText, Title: "Notes"}},
		{"Vega", cells.Cell{ID: "v1", Type: cells.TypeVega, Title: "Chart", SQLID: "c2"}},
		{"UnknownTypeKept", cells.Cell{ID: "m1", Type: "markdown-ish"}},
	}
	for _, tt := range cellTests {
		t.Run(tt.name, func(t *testing.T) {
			got := nb.Cells[tt.want.ID]
			if got == nil {
				t.Fatalf("cell %q missing", tt.want.ID)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("cell %q =\n%+v\nwant\n%+v", tt.want.ID, *got, tt.want)
			}
			if got.Input != nil && !reflect.DeepEqual(*got.Input, *tt.want.Input) {
				t.Errorf("cell %q input = %#v, want %#v", tt.want.ID, *got.Input, *tt.want.Input)
			}
		})
	}

	t.Run("Connector", func(t *testing.T) {
		if got := nb.Cells["c1"].Connector(); got != "pg" {
			t.Errorf("c1 connector = %q, want pg", got)
		}
		if got := nb.Cells["c2"].Connector(); got != cells.CoreConnector {
			t.Errorf("c2 connector = %q, want %q", got, cells.CoreConnector)
		}
	})

	t.Run("UnknownTypeWarning", func(t *testing.T) {
		if len(nb.Warnings) != 1 {
			t.Fatalf("Warnings = %q, want exactly one", nb.Warnings)
		}
		for _, part := range []string{path, `"m1"`, `"markdown-ish"`} {
			if !strings.Contains(nb.Warnings[0], part) {
				t.Errorf("warning %q does not mention %s", nb.Warnings[0], part)
			}
		}
	})

	t.Run("ArtifactsSortedByID", func(t *testing.T) {
		if got, want := artifactIDs(nb), []string{"nb1", "nb2"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("artifact ids = %q, want %q", got, want)
		}
		a := nb.Artifacts[0]
		want := &cells.Artifact{
			ID:         "nb1",
			SchemaName: "sales",
			CellIDs:    []string{"c1", "c2", "in1", "in2", "in3", "t1", "v1"},
			Edges: []cells.Edge{
				{ID: "e1", Source: "c1", Target: "c2", Kind: cells.EdgeKindManual},
				{Source: "in1", Target: "c2", Kind: "derived"},
			},
		}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("artifact nb1 =\n%+v\nwant\n%+v", a, want)
		}
		if nb.Artifact("nb2") != nb.Artifacts[1] {
			t.Errorf("Artifact(nb2) does not return the second artifact")
		}
		if nb.Artifact("nb3") != nil {
			t.Errorf("Artifact(nb3) = %+v, want nil", nb.Artifact("nb3"))
		}
	})
}

func TestLoad_UIState(t *testing.T) {
	nb := mustLoad(t, filepath.Join("testdata", "uistate.json"))
	if got, want := artifactIDs(nb), []string{"nb1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("artifact ids = %q, want %q", got, want)
	}
	a := nb.Artifacts[0]
	if want := []string{"a", "b"}; !reflect.DeepEqual(a.CellIDs, want) {
		t.Errorf("CellIDs = %q, want %q", a.CellIDs, want)
	}
	if want := []string{"b", "a"}; !reflect.DeepEqual(a.CellOrder, want) {
		t.Errorf("CellOrder = %q, want %q", a.CellOrder, want)
	}
	if got := nb.Cells["b"]; got == nil || got.SQL != "SELECT x + 1 AS y FROM result" || got.Title != "SQL 2" {
		t.Errorf("cell b = %+v", got)
	}
	if len(nb.Warnings) != 0 {
		t.Errorf("Warnings = %q, want none", nb.Warnings)
	}
}

func TestLoad_LegacySheets(t *testing.T) {
	nb := mustLoad(t, filepath.Join("testdata", "sheets.json"))
	if got, want := artifactIDs(nb), []string{"s1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("artifact ids = %q, want %q", got, want)
	}
	if want := []string{"a"}; !reflect.DeepEqual(nb.Artifacts[0].CellIDs, want) {
		t.Errorf("CellIDs = %q, want %q", nb.Artifacts[0].CellIDs, want)
	}
}

func TestParse_ArtifactsWinOverSheets(t *testing.T) {
	nb, err := cells.Parse("nb.json", []byte(`{"data": {}, "artifacts": {"a1": {"id": "a1"}}, "sheets": {"s1": {"id": "s1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := artifactIDs(nb), []string{"a1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("artifact ids = %q, want %q", got, want)
	}
}

func TestLoad_MissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.json")
	_, err := cells.Load(path)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	var le *cells.LoadError
	if !errors.As(err, &le) || le.Path != path {
		t.Errorf("error %v (%T) is not a *cells.LoadError for %s", err, err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if errors.Is(err, cells.ErrNotNotebook) {
		t.Errorf("error %v wraps ErrNotNotebook", err)
	}
	if !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("error %q does not start with the path", err)
	}
}

// cellsJSON builds a cells config from cell and artifact JSON objects.
func cellsJSON(cellsObj, artifactsObj string) string {
	return `{"data": {` + cellsObj + `}, "artifacts": {` + artifactsObj + `}}`
}

func TestParse_Errors(t *testing.T) {
	const path = "books/sales.json"
	const sqlCell = `"c1": {"id": "c1", "type": "sql", "data": {"title": "Orders", "sql": "SELECT 1"}}`
	tests := []struct {
		name        string
		data        string
		notNotebook bool
		// want are the parts the message must contain besides the path.
		want []string
	}{
		{"EmptyFile", "", false, []string{"invalid JSON", "line 1, column 1"}},
		{"InvalidJSON", "{\n  \"data\": {,}\n}", false, []string{"invalid JSON", "line 2, column 12"}},
		{"InvalidJSONAfterMultiByte", "{\"a\": \"ä€\",\n \"bä\" 1}", false, []string{"invalid JSON", "line 2, column 7"}},
		{"Truncated", `{"data": {"c1":`, false, []string{"invalid JSON", "line 1, column 16", "unexpected end"}},
		{"TopLevelArray", `[{"data": {}}]`, true, []string{"array"}},
		{"TopLevelString", `"notebook"`, true, []string{"string"}},
		{"TopLevelNumber", `42`, true, []string{"number"}},
		{"TopLevelNull", `null`, true, []string{"cells config"}},
		{"OtherObject", `{"name": "x", "version": 2}`, true, []string{`"data"`, `"cells"`}},
		{"DataNotObject", `{"data": [1], "artifacts": {}}`, true, nil},
		{"NoArtifacts", `{"data": {}}`, true, []string{`"artifacts"`}},
		{"UIStateCellsNull", `{"cells": null}`, true, []string{`"cells"`}},
		{"UIStateCellsNotObject", `{"cells": 3}`, true, []string{`"cells"`}},
		{"UIStateWithoutData", `{"cells": {"artifacts": {}}}`, true, []string{`"data"`}},
		{"CellWithoutID", cellsJSON(`"c1": {"type": "sql", "data": {}}`, ``), false, []string{`cell "c1"`, `missing "id"`}},
		{"CellEmptyID", cellsJSON(`"c1": {"id": "", "type": "sql"}`, ``), false, []string{`cell "c1"`, `missing "id"`}},
		{"CellIDNotKey", cellsJSON(`"c1": {"id": "c2", "type": "sql"}`, ``), false, []string{`cell "c1"`, `id "c2" does not match its key`}},
		{"CellWithoutType", cellsJSON(`"c1": {"id": "c1"}`, ``), false, []string{`cell "c1"`, `missing "type"`}},
		{"CellNotObject", cellsJSON(`"c1": 7`, ``), false, []string{`cell "c1"`, "not a cell object"}},
		{"CellDataNotObject", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": "SELECT 1"}`, ``), false, []string{`cell "c1"`, "data"}},
		{"InputWithoutInput", cellsJSON(`"in1": {"id": "in1", "type": "input", "data": {"title": "City"}}`, ``), false, []string{`cell "in1"`, `input cell without "data.input"`}},
		{"InputWithoutData", cellsJSON(`"in1": {"id": "in1", "type": "input"}`, ``), false, []string{`cell "in1"`, `"data.input"`}},
		{"ArtifactUnknownCell", cellsJSON(sqlCell, `"nb1": {"id": "nb1", "cellIds": ["c1", "c9"]}`), false, []string{`artifact "nb1"`, `unknown cell "c9"`}},
		{"ArtifactCellTwice", cellsJSON(sqlCell, `"nb1": {"id": "nb1", "cellIds": ["c1", "c1"]}`), false, []string{`artifact "nb1"`, `"c1" twice`}},
		{"ArtifactIDNotKey", cellsJSON(sqlCell, `"nb1": {"id": "nb2", "cellIds": ["c1"]}`), false, []string{`artifact "nb1"`, `id "nb2" does not match its key`}},
		{"RefreshUnknown", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "connectorId": "pg", "refresh": "hourly"}}`, ``), false,
			[]string{`cell "c1"`, `data.refresh: unknown refresh policy "hourly" (want on-change, ttl:DUR, manual or incremental:COLUMN)`}},
		{"RefreshBadDuration", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "connectorId": "pg", "refresh": "ttl:10 minutes"}}`, ``), false,
			[]string{`cell "c1"`, `refresh "ttl:10 minutes": want a positive duration after ttl:`}},
		{"RefreshNoColumn", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "connectorId": "pg", "refresh": "incremental:"}}`, ``), false,
			[]string{`cell "c1"`, `want the watermark column after incremental:`}},
		{"RefreshOnDuckDB", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "refresh": "incremental:ts"}}`, ``), false,
			[]string{`cell "c1"`, `data.refresh "incremental:ts": only for external cells`}},
		{"UniqueKeyWithoutIncremental", cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "connectorId": "pg", "refresh": "manual", "unique_key": "id"}}`, ``), false,
			[]string{`cell "c1"`, `data.unique_key "id": only with an incremental refresh`}},
		{"ManualEdgeOutside", cellsJSON(sqlCell, `"nb1": {"id": "nb1", "cellIds": ["c1"], "edges": [{"source": "c7", "target": "c1", "kind": "manual"}]}`), false, []string{`artifact "nb1"`, "c7 -> c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nb, err := cells.Parse(path, []byte(tt.data))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", nb)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, part := range tt.want {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not mention %s", msg, part)
				}
			}
			var le *cells.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T) is not a *cells.LoadError", err, err)
			}
			if le.Path != path {
				t.Errorf("LoadError.Path = %q, want %q", le.Path, path)
			}
			if got := errors.Is(err, cells.ErrNotNotebook); got != tt.notNotebook {
				t.Errorf("errors.Is(%q, ErrNotNotebook) = %v, want %v", msg, got, tt.notNotebook)
			}
		})
	}
}

func TestParse_ManualEdgeInside(t *testing.T) {
	data := cellsJSON(
		`"a": {"id": "a", "type": "sql", "data": {"sql": "SELECT 1"}}, "b": {"id": "b", "type": "sql", "data": {"sql": "SELECT 2"}}`,
		`"nb1": {"id": "nb1", "cellIds": ["a", "b"], "edges": [{"source": "a", "target": "b", "kind": "manual"}, {"source": "zz", "target": "b", "kind": "derived"}]}`)
	nb, err := cells.Parse("nb.json", []byte(data))
	if err != nil {
		t.Fatalf("a manual edge inside the artifact and a stale derived edge must load: %v", err)
	}
	if got := len(nb.Artifacts[0].Edges); got != 2 {
		t.Errorf("len(Edges) = %d, want 2", got)
	}
}

func TestNotebook_SetParam(t *testing.T) {
	path := filepath.Join("testdata", "config.json")
	tests := []struct {
		name    string
		varName string
		value   string
		cell    string
		want    any
		wantErr []string // parts of the error message; nil for success
	}{
		{"TextGetsString", "city", "Paris", "in1", "Paris", nil},
		{"TextNumberStaysString", "city", "42", "in1", "42", nil},
		{"TextEmpty", "city", "", "in1", "", nil},
		{"DropdownGetsString", "mode", "b", "in3", "b", nil},
		{"SliderGetsNumber", "limit", "25", "in2", json.Number("25"), nil},
		{"SliderNegativeFraction", "limit", "-2.5", "in2", json.Number("-2.5"), nil},
		{"SliderExponent", "limit", "1e3", "in2", json.Number("1e3"), nil},
		{"SliderNotNumber", "limit", "abc", "in2", json.Number("10"), []string{"limit", "abc", `"in2"`, "slider"}},
		{"SliderEmpty", "limit", "", "in2", json.Number("10"), []string{"limit", "slider"}},
		{"SliderInf", "limit", "Inf", "in2", json.Number("10"), []string{"Inf", "slider"}},
		{"SliderNaN", "limit", "NaN", "in2", json.Number("10"), []string{"NaN", "slider"}},
		{"SliderHexFloat", "limit", "0x1p4", "in2", json.Number("10"), []string{"0x1p4", "slider"}},
		{"SliderPlusSign", "limit", "+5", "in2", json.Number("10"), []string{"+5", "slider"}},
		{"SliderUnderscore", "limit", "1_000", "in2", json.Number("10"), []string{"1_000", "slider"}},
		{"SliderBelowMin", "limit", "-11", "in2", json.Number("10"), []string{"-11", "min -10"}},
		{"SliderAboveMax", "limit", "1000.5", "in2", json.Number("10"), []string{"1000.5", "max 1000"}},
		{"DropdownNotOffered", "mode", "c", "in3", nil, []string{`"c"`, "options"}},
		{"SliderInjection", "limit", "1; DROP TABLE t", "in2", json.Number("10"), []string{"slider"}},
		{"UnknownVar", "nope", "1", "", nil, []string{`"nope"`, path}},
		{"VarNameIsCaseSensitive", "City", "x", "", nil, []string{`"City"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nb := mustLoad(t, path)
			err := nb.SetParam(tt.varName, tt.value)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("SetParam(%q, %q): %v", tt.varName, tt.value, err)
				}
			} else {
				if err == nil {
					t.Fatalf("SetParam(%q, %q) succeeded, want an error", tt.varName, tt.value)
				}
				for _, part := range tt.wantErr {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("error %q does not mention %s", err, part)
					}
				}
			}
			if tt.cell == "" {
				return
			}
			got := nb.Cells[tt.cell].Input.Value
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("value of %s = %#v (%T), want %#v (%T)", tt.cell, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestNotebook_SetParamEveryCell(t *testing.T) {
	data := cellsJSON(
		`"i1": {"id": "i1", "type": "input", "data": {"input": {"kind": "text", "varName": "x", "value": "a"}}},
		 "i2": {"id": "i2", "type": "input", "data": {"input": {"kind": "dropdown", "varName": "x", "value": "b"}}},
		 "i3": {"id": "i3", "type": "input", "data": {"input": {"kind": "text", "varName": "y", "value": "c"}}}`, ``)
	nb, err := cells.Parse("nb.json", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := nb.SetParam("x", "z"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]any{"i1": "z", "i2": "z", "i3": "c"} {
		if got := nb.Cells[id].Input.Value; got != want {
			t.Errorf("value of %s = %#v, want %#v", id, got, want)
		}
	}
}

func TestLineColumn(t *testing.T) {
	tests := []struct {
		name         string
		text         string
		offset       int
		line, column int
	}{
		{"Start", "SELECT 1", 0, 1, 1},
		{"EmptyText", "", 0, 1, 1},
		{"MidLine", "SELECT 1", 7, 1, 8},
		{"AtNewline", "a\nbc", 1, 1, 2},
		{"AfterNewline", "a\nbc", 2, 2, 1},
		{"SecondLineMid", "a\nbc", 3, 2, 2},
		{"ThirdLine", "a\n\nbc", 4, 3, 2},
		{"CRLF", "a\r\nb", 3, 2, 1},
		{"MultiByteBefore", "ä€x", 5, 1, 3},
		{"MultiByteOnEarlierLine", "ääää\nx", 9, 2, 1},
		{"MultiByteAfterNewline", "é\nüñx", 7, 2, 3},
		{"EmojiBefore", "📈x", 4, 1, 2},
		{"AtEnd", "ab", 2, 1, 3},
		{"PastEnd", "ab\nc", 100, 2, 2},
		{"PastEndAfterMultiByte", "ä", 10, 1, 2},
		{"Negative", "ab", -1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, column := cells.LineColumn(tt.text, tt.offset)
			if line != tt.line || column != tt.column {
				t.Errorf("LineColumn(%q, %d) = %d:%d, want %d:%d", tt.text, tt.offset, line, column, tt.line, tt.column)
			}
		})
	}
}

// TestParse_Refresh reads each policy of DESIGN.md from a cell's data.
func TestParse_Refresh(t *testing.T) {
	for policy, want := range map[string]cells.Refresh{
		"on-change":              {Kind: cells.RefreshOnChange},
		"manual":                 {Kind: cells.RefreshManual},
		"ttl:1h30m":              {Kind: cells.RefreshTTL, TTL: 90 * time.Minute},
		"incremental:updated_at": {Kind: cells.RefreshIncremental, Column: "updated_at"},
	} {
		nb, err := cells.Parse("nb.json", []byte(cellsJSON(`"c1": {"id": "c1", "type": "sql", "data": {"sql": "SELECT 1", "connectorId": "pg", "refresh": "`+policy+`"}}`, `"a": {"cellIds": ["c1"]}`)))
		if err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		if got := nb.Cells["c1"].Refresh; got == nil || *got != want || got.String() != policy {
			t.Errorf("%s: parsed %+v (%v), want %+v", policy, got, got, want)
		}
	}
}
