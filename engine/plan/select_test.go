package plan_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/engine/plan"
	"github.com/cellsd/cellsd/sqlparse"
)

// selected lists a selection as sorted "artifact/cell" strings.
func selected(sel plan.Selection) []string {
	out := []string{}
	for a, ids := range sel {
		for id := range ids {
			out = append(out, a+"/"+id)
		}
	}
	sort.Strings(out)
	return out
}

func TestPlan_Select(t *testing.T) {
	pl := newPlanner(t, nil)
	p := mustPlan(t, pl, parseNotebook(t, nbArtifact{id: "nb", cells: diamondCells()}))
	for spec, want := range map[string][]string{
		"b":   {"nb/b"},
		"+b":  {"nb/a", "nb/b"},
		"b+":  {"nb/b", "nb/chart", "nb/d"},
		"+d":  {"nb/a", "nb/b", "nb/c", "nb/d"},
		"+c+": {"nb/a", "nb/c", "nb/chart", "nb/d"},
		"D":   {"nb/d"}, // result names are case-insensitive
		"a+":  {"nb/a", "nb/b", "nb/c", "nb/chart", "nb/d"},
		"+a":  {"nb/a"},
		"+a+": {"nb/a", "nb/b", "nb/c", "nb/chart", "nb/d"},
		"dd":  nil,
	} {
		sel, err := p.Select(spec)
		if want == nil {
			if err == nil || !strings.Contains(err.Error(), `no cell has the id or result name "dd" (did you mean d?)`) {
				t.Errorf("Select(%q) = %v, %v; want an error with a suggestion", spec, selected(sel), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Select(%q): %v", spec, err)
		}
		if got := selected(sel); !reflect.DeepEqual(got, want) {
			t.Errorf("Select(%q) = %v, want %v", spec, got, want)
		}
	}
	if sel, err := p.Select(""); sel != nil || err != nil {
		t.Errorf(`Select("") = %v, %v; want everything (nil)`, sel, err)
	}
	sel, _ := p.Select("b+")
	if got := selected(p.WithUpstream(sel)); !reflect.DeepEqual(got, []string{"nb/a", "nb/b", "nb/c", "nb/chart", "nb/d"}) {
		t.Errorf("WithUpstream(b+) = %v", got)
	}
}

// TestPlan_Reads resolves names written outside any cell as a DuckDB cell
// would: unqualified through every artifact in order, then the core main;
// qualified with an artifact schema, in that artifact.
func TestPlan_Reads(t *testing.T) {
	pl := newPlanner(t, nil)
	p := mustPlan(t, pl, parseNotebook(t,
		nbArtifact{id: "a1", cells: []nbCell{
			sqlCell("x1", "x", "SELECT 1 AS v"),
			sqlCell("y1", "y", "SELECT * FROM x"),
			sqlCell("ddl", "ddl", "CREATE TABLE main.t AS SELECT 1 AS v"),
			sqlCell("w1", "w", "INSERT INTO main.t VALUES (2)"),
		}},
		nbArtifact{id: "a2", cells: []nbCell{
			sqlCell("x2", "x", "SELECT 2 AS v"),
			sqlCell("t2", "t", "SELECT 3 AS v"),
			sqlCell("z2", "z", "SELECT 4 AS v"),
		}},
	))
	ref := func(parts ...string) sqlparse.Ref {
		r := sqlparse.Ref{Offset: -1}
		r.Name = parts[len(parts)-1]
		if len(parts) > 1 {
			r.Schema = parts[len(parts)-2]
		}
		if len(parts) > 2 {
			r.Catalog = parts[0]
		}
		return r
	}
	for _, tt := range []struct {
		name string
		refs []sqlparse.Ref
		want []string
		rest []string
	}{
		{"FirstArtifact", []sqlparse.Ref{ref("x")}, []string{"a1/x1"}, nil},
		{"CaseInsensitive", []sqlparse.Ref{ref("Y")}, []string{"a1/y1"}, nil},
		{"SecondArtifact", []sqlparse.Ref{ref("z")}, []string{"a2/z2"}, nil},
		{"QualifiedSchema", []sqlparse.Ref{ref("artifact_a2", "x")}, []string{"a2/x2"}, nil},
		{"QualifiedCatalog", []sqlparse.Ref{ref("__sqlrooms_ephemeral", "artifact_a2", "x")}, []string{"a2/x2"}, nil},
		// An artifact's result comes before a core table another
		// artifact's DDL creates, as on the search path.
		{"ArtifactBeforeMain", []sqlparse.Ref{ref("t")}, []string{"a2/t2"}, nil},
		// A table some cell writes needs its writers too (rule 7).
		{"MainQualified", []sqlparse.Ref{ref("main", "t")}, []string{"a1/ddl", "a1/w1"}, nil},
		{"Unknown", []sqlparse.Ref{ref("x"), ref("nope"), ref("main", "x")}, []string{"a1/x1"}, []string{"nope", "main.x"}},
		{"OtherArtifactSchema", []sqlparse.Ref{ref("artifact_a1", "z")}, []string{}, []string{"artifact_a1.z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sel, rest := p.Reads(tt.refs)
			if got := selected(sel); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cells %v, want %v", got, tt.want)
			}
			var gotRest []string
			for _, r := range rest {
				gotRest = append(gotRest, r.String())
			}
			if !reflect.DeepEqual(gotRest, tt.rest) {
				t.Errorf("unresolved %v, want %v", gotRest, tt.rest)
			}
		})
	}
	if got := p.Closest("Z2"); got != "z" {
		t.Errorf("Closest(Z2) = %q, want z (cell id z2)", got)
	}
	if got := p.Closest("qqqq"); got != "" {
		t.Errorf("Closest(qqqq) = %q, want nothing", got)
	}
}
