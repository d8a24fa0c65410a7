package plan_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/plan"
)

// The dependency corpus: small notebooks, each with its exact expected edges
// and errors, covering every rule of DESIGN.md "Dependency rules" with
// positive and negative cases. The cases live in testdata/corpus/*.txtar,
// readable without Go (the format is in each file's comment); the MySQL
// dialect's are mysql.txtar (TestCorpusMySQL).

// corpusCase is one notebook and what its graph must be.
type corpusCase struct {
	name string
	// notebook is the SQLRooms cells config, as cellsd reads a file.
	notebook []byte
	// deps lists "cell: dep dep" for every cell that has dependencies;
	// every other cell of the notebook must have none.
	deps []string
	// errors lists every error, "cell kind" or "cell parse line:column", in
	// the order of the artifacts and of the plan's Errors.
	errors []string
	// external lists "cell: table table" (as written); only listed cells
	// are checked.
	external []string
	// defines lists "cell: name name"; only listed cells are checked.
	defines []string
	// messages lists "cell: substring" that the cell's first error message
	// must contain.
	messages []string
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

// titledCell is a SQL cell with a title and no resultName.
func titledCell(id, title, sql string) nbCell {
	return nbCell{"id": id, "type": "sql", "data": map[string]any{"title": title, "sql": sql}}
}

// textCell is a markdown cell.
func textCell(id string) nbCell {
	return nbCell{"id": id, "type": "text", "data": map[string]any{"title": "Notes", "text": "FROM orders"}}
}

// edge is a saved edge of the given kind.
func edge(source, target, kind string) map[string]string {
	return map[string]string{"id": source + "-" + target, "source": source, "target": target, "kind": kind}
}

// art is an artifact "nb" with the default schema artifact_nb.
func art(cells ...nbCell) nbArtifact { return nbArtifact{id: "nb", cells: cells} }

func TestCorpus(t *testing.T) {
	corpus := loadCorpus(t, corpusFiles(t, "mysql.txtar")...)
	if len(corpus) < 150 {
		t.Errorf("the corpus has %d cases, want at least 150", len(corpus))
	}
	reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	pl := newPlanner(t, reg)
	seen := map[string]bool{}
	for _, tc := range corpus {
		if seen[tc.name] {
			t.Errorf("two corpus cases are named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			checkCorpusCase(t, tc, mustPlan(t, pl, corpusNotebook(t, tc)))
		})
	}
}

func checkCorpusCase(t *testing.T, tc corpusCase, p *plan.Plan) {
	t.Helper()
	wantDeps := lineMap(t, tc.deps)
	var gotErrors []string
	for _, ap := range p.Artifacts {
		for _, cp := range ap.Cells {
			id := cp.Cell.ID
			if got, want := strings.Join(cp.Deps, " "), wantDeps[id]; got != want {
				t.Errorf("%s deps = [%s], want [%s]", id, got, want)
			}
		}
		for _, e := range ap.Errors {
			s := e.CellID + " " + e.Kind
			if e.Line > 0 {
				s += fmt.Sprintf(" %d:%d", e.Line, e.Column)
			}
			gotErrors = append(gotErrors, s)
		}
	}
	if !slices.Equal(gotErrors, tc.errors) && !(len(gotErrors) == 0 && len(tc.errors) == 0) {
		t.Errorf("errors = %q, want %q", gotErrors, tc.errors)
		for _, ap := range p.Artifacts {
			for _, e := range ap.Errors {
				t.Logf("  %v", e)
			}
		}
	}
	cellPlan := func(id string) *plan.CellPlan {
		for _, ap := range p.Artifacts {
			if cp := ap.Cell(id); cp != nil {
				return cp
			}
		}
		t.Fatalf("no cell %s", id)
		return nil
	}
	for id, want := range lineMap(t, tc.external) {
		if got := strings.Join(cellPlan(id).ExternalTables, " "); got != want {
			t.Errorf("%s externalTables = [%s], want [%s]", id, got, want)
		}
	}
	for id, want := range lineMap(t, tc.defines) {
		if got := strings.Join(cellPlan(id).Defines, " "); got != want {
			t.Errorf("%s defines = [%s], want [%s]", id, got, want)
		}
	}
	for id, want := range lineMap(t, tc.messages) {
		cp := cellPlan(id)
		if len(cp.Errors) == 0 || !strings.Contains(cp.Errors[0].Message, want) {
			t.Errorf("%s errors %v, want the first to contain %q", id, cp.Errors, want)
		}
	}
}

// lineMap reads "key: a b c" lines into key -> "a b c".
func lineMap(t *testing.T, lines []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("corpus line %q has no ':'", l)
		}
		m[strings.TrimSpace(k)] = strings.Join(strings.Fields(v), " ")
	}
	return m
}
