package plan_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine/plan"
)

// graphState is what a plan says about an artifact, for comparing plans.
type graphState struct {
	Deps, Defines, External   map[string][]string
	Writes, WriteDeps, Family map[string][]string
	Errors                    []string
	Order                     []string
}

func stateOf(ap *plan.ArtifactPlan) graphState {
	s := graphState{Deps: map[string][]string{}, Defines: map[string][]string{}, External: map[string][]string{},
		Writes: map[string][]string{}, WriteDeps: map[string][]string{}, Family: map[string][]string{}, Order: ap.Order}
	for _, cp := range ap.Cells {
		id := cp.Cell.ID
		s.Deps[id], s.Defines[id], s.External[id] = cp.Deps, cp.Defines, cp.ExternalTables
		s.Writes[id], s.WriteDeps[id], s.Family[id] = cp.Writes, cp.WriteDeps, ap.Family(id)
	}
	for _, e := range ap.Errors {
		s.Errors = append(s.Errors, e.Error())
	}
	return s
}

// TestUpdate_MatchesFullPlan edits cells one at a time at random and checks
// that after every edit the incrementally updated plan equals a plan built
// from scratch for the edited notebook.
func TestUpdate_MatchesFullPlan(t *testing.T) {
	matchesFullPlan(t, []string{
		"SELECT 1 AS x",
		"SELECT * FROM %s",
		"SELECT * FROM %s JOIN %s USING (x)",
		"WITH %s AS (SELECT 1 AS x) SELECT * FROM %s",
		"CREATE TABLE %s AS SELECT * FROM %s",
		"SELECT * FROM artifact_nb.%s WHERE x > {{n}}",
		"SELECT * FORM %s",
		"SELECT * FROM main.%s",
	})
}

// TestUpdate_MatchesFullPlanWithWriters does the same with definers and
// writers, so that families are kept current cell by cell too.
func TestUpdate_MatchesFullPlanWithWriters(t *testing.T) {
	if n := matchesFullPlan(t, []string{
		"SELECT 1 AS x",
		"SELECT * FROM %s",
		"CREATE TABLE %s (x INTEGER)",
		"CREATE OR REPLACE TABLE main.%s AS SELECT * FROM %s",
		"INSERT INTO %s SELECT * FROM %s",
		"UPDATE %s SET x = (SELECT max(x) FROM %s)",
		"DELETE FROM %s WHERE x > {{n}}",
		"WITH w AS (FROM %s) INSERT INTO main.%s FROM w",
		"CREATE TABLE %s (x INTEGER); INSERT INTO %s VALUES (1)",
		"CREATE TEMP TABLE %s AS SELECT * FROM %s",
		"TRUNCATE %s",
	}); n == 0 {
		t.Error("no step made a family: the writers were never tested")
	}
}

// cellStates is, for each cell, its deps, defines and errors: what a Diff
// compares.
func cellStates(ap *plan.ArtifactPlan) map[string][]string {
	out := map[string][]string{}
	for _, cp := range ap.Cells {
		st := []string{fmt.Sprint(cp.Deps), fmt.Sprint(cp.Defines)}
		for _, e := range cp.Errors {
			st = append(st, e.Describe())
		}
		out[cp.Cell.ID] = st
	}
	return out
}

func matchesFullPlan(t *testing.T, sqls []string) (families int) {
	t.Helper()
	pl := newPlanner(t, nil)
	names := []string{"a", "b", "c", "d", "e"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return names[rng.IntN(len(names))] }
	randomCell := func(id string) nbCell {
		sql := sqls[rng.IntN(len(sqls))]
		var args []any
		for range strings.Count(sql, "%s") {
			args = append(args, pick())
		}
		return sqlCell(id, pick(), fmt.Sprintf(sql, args...))
	}
	build := []nbCell{inputCell("in", "n", 3)}
	for i := range 6 {
		build = append(build, randomCell(fmt.Sprintf("c%d", i)))
	}
	nb := parseNotebook(t, art(build...))
	ap := mustPlan(t, pl, nb).Artifacts[0]
	// families counts the edges from families seen, over all steps.
	for step := range 200 {
		id := fmt.Sprintf("c%d", rng.IntN(6))
		edited := parseNotebook(t, art(randomCell(id))).Cells[id]
		nb.Cells[id] = edited
		was := cellStates(ap)
		diff, err := ap.Update(context.Background(), edited)
		if err != nil {
			t.Fatal(err)
		}
		now := cellStates(ap)
		var changed []string
		for _, cp := range ap.Cells {
			if id := cp.Cell.ID; !reflect.DeepEqual(was[id], now[id]) {
				changed = append(changed, id)
			}
		}
		if diff.Cell != id || !reflect.DeepEqual(diff.Changed, changed) {
			t.Fatalf("step %d, after editing %s to %q: diff %+v, want the cells %v", step, id, edited.SQL, diff, changed)
		}
		fresh := mustPlan(t, pl, nb).Artifacts[0]
		for _, cp := range fresh.Cells {
			families += len(cp.WriteDeps)
		}
		if got, want := stateOf(ap), stateOf(fresh); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d, after editing %s to %q (name %s):\nincremental %+v\nfull        %+v", step, id, edited.SQL, cells.ResultName(edited), got, want)
		}
	}
	return families
}

func TestUpdate_Rename(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t, art(
		sqlCell("c1", "orders", "SELECT 1 AS id"),
		sqlCell("c2", "old_readers", "SELECT * FROM orders"),
		sqlCell("c3", "new_readers", "SELECT * FROM sales"),
	))
	ap := mustPlan(t, pl, nb).Artifacts[0]
	renamed := *nb.Cells["c1"]
	renamed.ResultName = "sales"
	if _, err := ap.Update(context.Background(), &renamed); err != nil {
		t.Fatal(err)
	}
	if d := ap.Cell("c2").Deps; len(d) != 0 {
		t.Errorf("c2 still depends on %v after orders was renamed", d)
	}
	if got := ap.Cell("c2").ExternalTables; !reflect.DeepEqual(got, []string{"orders"}) {
		t.Errorf("c2 external tables = %v, want [orders]", got)
	}
	if d := ap.Cell("c3").Deps; !reflect.DeepEqual(d, []string{"c1"}) {
		t.Errorf("c3 deps = %v after c1 was renamed to sales, want [c1]", d)
	}
}

func TestUpdate_Errors(t *testing.T) {
	pl := newPlanner(t, nil)
	nb := parseNotebook(t, art(sqlCell("c1", "a", "SELECT 1"), textCell("t1")))
	ap := mustPlan(t, pl, nb).Artifacts[0]
	if _, err := ap.Update(context.Background(), &cells.Cell{ID: "nope", Type: cells.TypeSQL}); err == nil {
		t.Error("updating a cell that is not in the artifact succeeded")
	}
	if _, err := ap.Update(context.Background(), &cells.Cell{ID: "t1", Type: cells.TypeSQL}); err == nil {
		t.Error("changing a cell's type through Update succeeded")
	}
}
