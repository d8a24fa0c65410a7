package plan_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine/format"
	"github.com/cellsd/cellsd/engine/plan"
)

// cellWant is what the plan should say about one cell. A nil slice means
// "empty".
type cellWant struct {
	deps, defines, external []string
	errKinds                []string
}

// checkCell compares the plan of one cell with want.
func checkCell(t *testing.T, ap *plan.ArtifactPlan, id string, want cellWant) {
	t.Helper()
	cp := ap.Cell(id)
	if cp == nil {
		t.Fatalf("no plan for cell %s", id)
	}
	var kinds []string
	for _, e := range cp.Errors {
		kinds = append(kinds, e.Kind)
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"Deps", cp.Deps, want.deps},
		{"Defines", cp.Defines, want.defines},
		{"ExternalTables", cp.ExternalTables, want.external},
		{"error kinds", kinds, want.errKinds},
	} {
		if len(c.got) != 0 || len(c.want) != 0 {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("cell %s: %s = %q, want %q", id, c.what, c.got, c.want)
			}
		}
	}
}

// errorOf returns the first error of kind in cell id, failing if there is
// none.
func errorOf(t *testing.T, ap *plan.ArtifactPlan, id, kind string) *plan.CellError {
	t.Helper()
	for _, e := range ap.Cell(id).Errors {
		if e.Kind == kind {
			return e
		}
	}
	t.Fatalf("cell %s: no %s error among %v", id, kind, ap.Cell(id).Errors)
	return nil
}

func TestPlan_References(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t, nbArtifact{id: "nb1", cells: []nbCell{
		inputCell("in", "v", "hello"),
		sqlCell("orders", "orders", "SELECT 1 AS id"),
		sqlCell("unq", "unq", "SELECT * FROM ORDERS"),
		sqlCell("qual", "qual", "SELECT * FROM artifact_nb1.orders"),
		sqlCell("full", "full_", "SELECT * FROM __sqlrooms_ephemeral.artifact_nb1.Orders"),
		sqlCell("quoted", "quoted", `SELECT * FROM "Orders"`),
		sqlCell("mainref", "mainref", "SELECT * FROM main.orders"),
		sqlCell("other", "other", "SELECT * FROM other_schema.orders JOIN raw_events USING (id)"),
		sqlCell("var", "var", "SELECT {{v}} AS v, '{{ v }}' AS w"),
		vegaCell("chart", "unq"),
		sqlCell("unkvar", "unkvar", "SELECT {{nope}} AS x"),
	}})
	p := mustPlan(t, pl, nb)
	if len(p.Artifacts) != 1 {
		t.Fatalf("%d artifact plans, want 1", len(p.Artifacts))
	}
	ap := p.Artifacts[0]
	if ap.Schema != "artifact_nb1" {
		t.Errorf("Schema = %q, want artifact_nb1", ap.Schema)
	}

	tests := []struct {
		name string
		cell string
		want cellWant
	}{
		{"Defines", "orders", cellWant{defines: []string{"orders"}}},
		{"UnqualifiedUpperCase", "unq", cellWant{deps: []string{"orders"}, defines: []string{"unq"}}},
		{"ArtifactSchemaQualified", "qual", cellWant{deps: []string{"orders"}, defines: []string{"qual"}}},
		{"ResultDBQualified", "full", cellWant{deps: []string{"orders"}, defines: []string{"full_"}}},
		{"QuotedMixedCase", "quoted", cellWant{deps: []string{"orders"}, defines: []string{"quoted"}}},
		{"MainIsExternal", "mainref", cellWant{defines: []string{"mainref"}, external: []string{"main.orders"}}},
		{"OtherSchemaIsExternal", "other", cellWant{defines: []string{"other"}, external: []string{"other_schema.orders", "raw_events"}}},
		{"VariableDependsOnInput", "var", cellWant{deps: []string{"in"}, defines: []string{"var"}}},
		{"VegaDependsOnSQLID", "chart", cellWant{deps: []string{"unq"}}},
		{"UnknownVariable", "unkvar", cellWant{defines: []string{"unkvar"}, errKinds: []string{plan.KindUnknownVariable}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCell(t, ap, tt.cell, tt.want) })
	}
	t.Run("UnknownVariableMessage", func(t *testing.T) {
		if e := errorOf(t, ap, "unkvar", plan.KindUnknownVariable); !strings.Contains(e.Message, "nope") {
			t.Errorf("message %q does not name the variable", e.Message)
		}
	})
	t.Run("Order", func(t *testing.T) {
		want := []string{"in", "orders", "unq", "qual", "full", "quoted", "mainref", "other", "var", "chart"}
		if !reflect.DeepEqual(ap.Order, want) {
			t.Errorf("Order = %q, want %q", ap.Order, want)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		if len(ap.Errors) != 1 || ap.Errors[0].CellID != "unkvar" {
			t.Errorf("artifact Errors = %v, want one error in unkvar", ap.Errors)
		}
	})
}

func TestPlan_Errors(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
		sqlCell("ok", "fine", "SELECT 42 AS answer"),
		sqlCell("d1", "dup", "SELECT 1 AS x"),
		sqlCell("d2", "Dup", "SELECT 2 AS x"),
		sqlCell("readsdup", "readsdup", "SELECT * FROM dup"),
		{"id": "pg", "type": "sql", "data": map[string]any{"title": "Remote", "sql": "SELECT 1", "resultName": "remote", "connectorId": "pg"}},
		{"id": ".noname", "type": "sql", "data": map[string]any{"title": "", "sql": "SELECT 1"}},
		sqlCell("a", "a", "SELECT * FROM b"),
		sqlCell("b", "b", "SELECT * FROM a"),
		sqlCell("aftercycle", "aftercycle", "SELECT * FROM a"),
		sqlCell("s", "s", "SELECT * FROM s"),
		sqlCell("bad", "typo", "SELECT *\nFORM fine"),
		sqlCell("down", "down", "SELECT count(*) FROM typo"),
		vegaCell("chartdown", "down"),
		sqlCell("uses", "uses_fine", "SELECT answer + 1 AS next FROM fine"),
	}})
	ap := mustPlan(t, pl, nb).Artifacts[0]

	tests := []struct {
		name string
		cell string
		want cellWant
	}{
		{"DuplicateName/First", "d1", cellWant{defines: []string{"dup"}, errKinds: []string{plan.KindDuplicateName}}},
		{"DuplicateName/Second", "d2", cellWant{defines: []string{"Dup"}, errKinds: []string{plan.KindDuplicateName}}},
		{"DuplicateName/Reader", "readsdup", cellWant{deps: []string{"d1", "d2"}, defines: []string{"readsdup"}}},
		{"UnknownConnector", "pg", cellWant{defines: []string{"remote"}, errKinds: []string{plan.KindUnknownConnector}}},
		{"InvalidName", ".noname", cellWant{errKinds: []string{plan.KindInvalidName}}},
		{"CycleOfTwo/A", "a", cellWant{deps: []string{"b"}, defines: []string{"a"}, errKinds: []string{plan.KindCycle}}},
		{"CycleOfTwo/B", "b", cellWant{deps: []string{"a"}, defines: []string{"b"}, errKinds: []string{plan.KindCycle}}},
		{"CycleOfTwo/Downstream", "aftercycle", cellWant{deps: []string{"a"}, defines: []string{"aftercycle"}}},
		{"SelfReference", "s", cellWant{deps: []string{"s"}, defines: []string{"s"}, errKinds: []string{plan.KindCycle}}},
		{"ParseError", "bad", cellWant{defines: []string{"typo"}, errKinds: []string{plan.KindParse}}},
		{"ParseError/Downstream", "down", cellWant{deps: []string{"bad"}, defines: []string{"down"}}},
		{"Fine", "uses", cellWant{deps: []string{"ok"}, defines: []string{"uses_fine"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCell(t, ap, tt.cell, tt.want) })
	}

	messages := []struct {
		name, cell, kind, want string
	}{
		{"CycleOfTwo/Message", "a", plan.KindCycle, "cycle: a -> b -> a"},
		{"CycleOfTwo/MessageOnB", "b", plan.KindCycle, "cycle: a -> b -> a"},
		{"SelfReference/Message", "s", plan.KindCycle, "cycle: s -> s"},
	}
	for _, m := range messages {
		t.Run(m.name, func(t *testing.T) {
			if got := errorOf(t, ap, m.cell, m.kind).Message; got != m.want {
				t.Errorf("message = %q, want %q", got, m.want)
			}
		})
	}
	t.Run("UnknownConnector/Message", func(t *testing.T) {
		if msg := errorOf(t, ap, "pg", plan.KindUnknownConnector).Message; !strings.Contains(msg, `"pg"`) {
			t.Errorf("message %q does not name the connector", msg)
		}
	})
	t.Run("ParseError/Position", func(t *testing.T) {
		e := errorOf(t, ap, "bad", plan.KindParse)
		if e.Line != 2 || e.Column != 6 {
			t.Errorf("parse error at line %d, column %d, want line 2, column 6 (%q)", e.Line, e.Column, e.Message)
		}
	})
	t.Run("Order", func(t *testing.T) {
		want := []string{"ok", "uses"}
		if !reflect.DeepEqual(ap.Order, want) {
			t.Errorf("Order = %q, want %q: cells with errors and their downstream are left out", ap.Order, want)
		}
	})
	t.Run("ErrorsInPositionOrder", func(t *testing.T) {
		var got []string
		for _, e := range ap.Errors {
			got = append(got, e.CellID+":"+e.Kind)
		}
		want := []string{"d1:duplicate-name", "d2:duplicate-name", "pg:unknown-connector", ".noname:invalid-name",
			"a:cycle", "b:cycle", "s:cycle", "bad:parse"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Errors = %q, want %q", got, want)
		}
	})
}

func TestPlan_Edges(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t, nbArtifact{
		id: "nb",
		cells: []nbCell{
			sqlCell("a", "a", "SELECT 1 AS x"),
			sqlCell("b", "b", "SELECT 2 AS y"),
			sqlCell("c", "c", "SELECT 3 AS z"),
		},
		edges: []map[string]string{
			{"id": "a-b", "source": "a", "target": "b", "kind": "manual"},
			{"id": "c-b", "source": "c", "target": "b"},
			{"id": "c-a", "source": "c", "target": "a", "kind": "derived"},
		},
	})
	ap := mustPlan(t, pl, nb).Artifacts[0]
	t.Run("ManualAdded", func(t *testing.T) { checkCell(t, ap, "b", cellWant{deps: []string{"a"}, defines: []string{"b"}}) })
	t.Run("OtherKindIgnored", func(t *testing.T) { checkCell(t, ap, "a", cellWant{defines: []string{"a"}}) })
	t.Run("Order", func(t *testing.T) {
		if want := []string{"a", "b", "c"}; !reflect.DeepEqual(ap.Order, want) {
			t.Errorf("Order = %q, want %q", ap.Order, want)
		}
	})
}

func TestPlan_EdgesStayInArtifact(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t,
		nbArtifact{id: "nb1", cells: []nbCell{
			sqlCell("x1", "x", "SELECT 1 AS v"),
			sqlCell("y1", "y", "SELECT * FROM x"),
		}},
		nbArtifact{id: "nb2", cells: []nbCell{
			sqlCell("x2", "x", "SELECT 2 AS v"),
			sqlCell("y2", "y", "SELECT * FROM x"),
			sqlCell("z2", "z", "SELECT * FROM artifact_nb1.x"),
		}},
	)
	p := mustPlan(t, pl, nb)
	if len(p.Artifacts) != 2 {
		t.Fatalf("%d artifact plans, want 2", len(p.Artifacts))
	}
	nb1, nb2 := p.Artifacts[0], p.Artifacts[1]
	t.Run("SameNameNoDuplicate", func(t *testing.T) {
		if len(nb1.Errors)+len(nb2.Errors) != 0 {
			t.Errorf("errors %v %v; a name may repeat across artifacts", nb1.Errors, nb2.Errors)
		}
	})
	t.Run("FirstArtifact", func(t *testing.T) { checkCell(t, nb1, "y1", cellWant{deps: []string{"x1"}, defines: []string{"y"}}) })
	t.Run("SecondArtifact", func(t *testing.T) { checkCell(t, nb2, "y2", cellWant{deps: []string{"x2"}, defines: []string{"y"}}) })
	t.Run("OtherArtifactSchemaIsExternal", func(t *testing.T) {
		checkCell(t, nb2, "z2", cellWant{defines: []string{"z"}, external: []string{"artifact_nb1.x"}})
	})
}

func TestPlan_OrderTiesByPosition(t *testing.T) {
	pl := newPlanner(t, nil)
	tests := []struct {
		name  string
		cells []nbCell
		want  []string
	}{
		{
			name: "Independent",
			cells: []nbCell{
				sqlCell("z", "z", "SELECT 1"),
				sqlCell("a", "a", "SELECT 2"),
				sqlCell("m", "m", "SELECT 3"),
			},
			want: []string{"z", "a", "m"},
		},
		{
			name: "DependencyFirst",
			cells: []nbCell{
				sqlCell("z", "z", "SELECT 1"),
				sqlCell("late", "late", "SELECT * FROM mid_r"),
				sqlCell("a", "a", "SELECT 2"),
				sqlCell("mid", "mid_r", "SELECT 3"),
			},
			want: []string{"z", "a", "mid", "late"},
		},
		{
			name: "ReadyCellBeforeLaterPosition",
			cells: []nbCell{
				sqlCell("root", "root", "SELECT 1"),
				sqlCell("x", "x", "SELECT 2"),
				sqlCell("child", "child", "SELECT * FROM root"),
			},
			want: []string{"root", "x", "child"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := mustPlan(t, pl, parseNotebook(t, nbArtifact{id: "nb", cells: tt.cells})).Artifacts[0]
			if !reflect.DeepEqual(ap.Order, tt.want) {
				t.Errorf("Order = %q, want %q", ap.Order, tt.want)
			}
		})
	}
}

// TestPlan_UnsupportedEngine plans a notebook against a SQLRooms CLI config
// that also holds a Snowflake connection: a cell naming it gets an
// unknown-connector error that says cellsd does not run its engine, and the
// rest of the notebook plans as usual.
func TestPlan_UnsupportedEngine(t *testing.T) {
	reg, err := connectors.LoadFile(filepath.Join("..", "..", "fixtures", "sqlrooms-cli.toml"))
	if err != nil {
		t.Fatal(err)
	}
	pl := newPlanner(t, reg)
	nb := parseNotebook(t, nbArtifact{id: "nb", cells: []nbCell{
		{"id": "sf", "type": "sql", "data": map[string]any{"title": "Sales", "sql": "SELECT 1 AS x", "resultName": "sales", "connectorId": "snowflake-dev"}},
		sqlCell("down", "down", "SELECT * FROM sales"),
		{"id": "nope", "type": "sql", "data": map[string]any{"title": "Nope", "sql": "SELECT 1", "resultName": "nope", "connectorId": "snowflake-typo"}},
		sqlCell("ok", "ok", "SELECT 2 AS y"),
	}})
	ap := mustPlan(t, pl, nb).Artifacts[0]

	checkCell(t, ap, "sf", cellWant{defines: []string{"sales"}, errKinds: []string{plan.KindUnknownConnector}})
	checkCell(t, ap, "down", cellWant{deps: []string{"sf"}, defines: []string{"down"}})
	want := `connector "snowflake-dev": engine "snowflake" is not supported by cellsd (it runs bridge, duckdb, mysql, postgres)`
	if got := errorOf(t, ap, "sf", plan.KindUnknownConnector).Message; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	want = `connector "snowflake-typo" is not configured (known: duckdb-core, postgres-local)`
	if got := errorOf(t, ap, "nope", plan.KindUnknownConnector).Message; got != want {
		t.Errorf("message for an unconfigured connector = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(ap.Order, []string{"ok"}) {
		t.Errorf("Order = %q, want [ok]", ap.Order)
	}
	for _, gc := range format.NewGraph(mustPlan(t, pl, nb)).Artifacts[0].Cells {
		if gc.ID == "sf" && (gc.Engine == nil || *gc.Engine != "snowflake") {
			t.Errorf("graph engine of cell sf = %v, want snowflake", gc.Engine)
		}
	}
}
