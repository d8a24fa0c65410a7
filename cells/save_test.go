package cells_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/cells"
)

// jsonEqual compares two documents as JSON values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestMarshal_RoundTrip: every notebook in fixtures/ (the UI-saved state
// among them) and the unit test's config marshal to the same JSON they
// were read from, and load back to the same notebook.
func TestMarshal_RoundTrip(t *testing.T) {
	paths, _ := filepath.Glob("../fixtures/notebooks/*.json")
	more, _ := filepath.Glob("../fixtures/check/*/notebook.json")
	paths = append(append(paths, more...), filepath.Join("testdata", "config.json"))
	if len(paths) < 5 {
		t.Fatalf("found only %d notebooks", len(paths))
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			nb, err := cells.Parse(path, orig)
			if err != nil {
				t.Fatal(err)
			}
			out, err := nb.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, orig, out) {
				t.Errorf("marshalled notebook differs from the file:\n%s", out)
			}
			again, err := cells.Parse(path, out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(nb.Cells, again.Cells) || !reflect.DeepEqual(nb.Artifacts, again.Artifacts) {
				t.Errorf("load -> marshal -> load changed the notebook")
			}
		})
	}
}

// TestMarshal_Edits: changed fields are replaced, everything else (unknown
// keys of the cell, its data and its input, other cells) kept.
func TestMarshal_Edits(t *testing.T) {
	doc := `{"cells":{"data":{
	  "c1":{"id":"c1","type":"sql","x-cell":1,"data":{"title":"A","sql":"SELECT 1","x-data":[1,2]}},
	  "i1":{"id":"i1","type":"input","data":{"title":"N","input":{"kind":"slider","varName":"n","value":3,"min":0,"max":10,"x-in":"k"}}},
	  "v1":{"id":"v1","type":"vega","data":{"sqlId":"c1","vegaSpec":{"mark":"bar"}}}},
	  "artifacts":{"a":{"id":"a","cellIds":["c1","i1","v1"],"edges":[],"x-art":true}},"tableDepSchemas":["main"]},
	 "room":{"title":"R"},"layout":{"nodes":"x"}}`
	nb, err := cells.Parse("ui.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := *nb.Cells["c1"]
	c.SQL = "SELECT 2"
	nb.Cells["c1"] = &c
	if err := nb.SetParam("n", "7"); err != nil {
		t.Fatal(err)
	}
	out, err := nb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(`"sql":"SELECT 1"`, `"sql":"SELECT 2"`, `"value":3`, `"value":7`).Replace(doc)
	if !jsonEqual(t, []byte(want), out) {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestInput_Accept(t *testing.T) {
	slider := &cells.Input{Kind: "slider", Min: "0", Max: "500"}
	open := &cells.Input{Kind: "slider"}
	drop := &cells.Input{Kind: "dropdown", Options: []any{"a", json.Number("2")}}
	free := &cells.Input{Kind: "dropdown"}
	text := &cells.Input{Kind: "text"}
	tests := []struct {
		name string
		in   *cells.Input
		v    any
		want any // nil: refused
	}{
		{"SliderText", slider, "250", json.Number("250")},
		{"SliderNumber", slider, json.Number("12.5"), json.Number("12.5")},
		{"SliderMin", slider, "0", json.Number("0")},
		{"SliderMax", slider, json.Number("500"), json.Number("500")},
		{"SliderAbc", slider, "abc", nil},
		{"SliderStringAbc", slider, "abc", nil},
		{"SliderBelow", slider, json.Number("-1"), nil},
		{"SliderAbove", slider, "800", nil},
		{"SliderBool", slider, true, nil},
		{"SliderNull", slider, nil, nil},
		{"SliderInf", open, "Inf", nil},
		{"SliderUnbounded", open, "1e9", json.Number("1e9")},
		{"DropdownOption", drop, "a", "a"},
		{"DropdownNumberOption", drop, "2", json.Number("2")},
		{"DropdownNotOffered", drop, "c", nil},
		{"DropdownNull", drop, nil, nil},
		{"DropdownNoOptions", free, "anything", "anything"},
		{"TextString", text, "x y", "x y"},
		{"TextEmpty", text, "", ""},
		{"TextNumber", text, json.Number("42"), "42"},
		{"TextNull", text, nil, nil},
		{"TextObject", text, map[string]any{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Accept(tt.v)
			if tt.want == nil {
				if !errors.Is(err, cells.ErrBadValue) {
					t.Fatalf("Accept(%#v) = %#v, %v; want ErrBadValue", tt.v, got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Accept(%#v) = %#v, %v; want %#v", tt.v, got, err, tt.want)
			}
		})
	}
}
