package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/poll"
)

// fourCells is the everyday notebook of issue 23: a table created, filled,
// updated and read by four cells.
func fourCells(t testing.TB) *cells.Notebook {
	return parseNotebook(t, art(
		sqlCell("a", "create_t", "CREATE TABLE t (id INTEGER)"),
		sqlCell("b", "fill", "INSERT INTO t VALUES (1), (2)"),
		sqlCell("c", "scale", "UPDATE t SET id = id * 10 WHERE id = 2"),
		sqlCell("d", "total", "SELECT sum(id) AS s FROM t"),
	))
}

func sumOf(t testing.TB, s *engine.Session) string {
	t.Helper()
	return queryRows(t, s.DB(), "SELECT s FROM __sqlrooms_ephemeral.artifact_nb.total")[0][0]
}

// started returns the cells in the order they started running.
func started(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Status == engine.StatusRunning {
			out = append(out, ev.Cell)
		}
	}
	return out
}

func TestFamily_FourCells(t *testing.T) {
	t.Run("Batch", func(t *testing.T) {
		eng := openEngine(t, engine.Config{})
		rep := mustRun(t, context.Background(), eng, mustPlan(t, eng, fourCells(t)), engine.RunOptions{})
		if rep.Summary.Success != 4 {
			t.Fatalf("summary %+v", rep.Summary)
		}
		if got := queryRows(t, eng.DB(), "SELECT s FROM __sqlrooms_ephemeral.artifact_nb.total"); got[0][0] != "21" {
			t.Errorf("sum = %v, want 21", got)
		}
	})
	for range 10 { // timing-dependent: the order must hold every time
		t.Run("EditInsert", func(t *testing.T) {
			rec := &recorder{}
			s := openSession(t, fourCells(t), engine.SessionOptions{Observe: rec.observe, Concurrency: 4})
			mustRunSession(t, s, engine.RunRequest{})
			if got := sumOf(t, s); got != "21" {
				t.Fatalf("sum = %s, want 21", got)
			}
			s.Flush()
			before := len(rec.all())
			wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "b", SQL: ptr("INSERT INTO t VALUES (1), (2), (3)")}))
			s.Flush()
			if got, want := started(rec.all()[before:]), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
				t.Errorf("the edit ran %v, want %v", got, want)
			}
			if got := sumOf(t, s); got != "24" {
				t.Errorf("sum after the edit = %s, want 24 (1 + 20 + 3)", got)
			}
			// Editing the UPDATE reruns the family from its definer too.
			wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c", SQL: ptr("UPDATE t SET id = id * 100 WHERE id = 2")}))
			if got := sumOf(t, s); got != "204" {
				t.Errorf("sum after editing the UPDATE = %s, want 204", got)
			}
		})
	}
}

func TestFamily_CacheWholeOrNothing(t *testing.T) {
	nb := parseNotebook(t, art(
		inputCell("in", "k", 5),
		sqlCell("a", "create_t", "CREATE TABLE t (id INTEGER)"),
		sqlCell("b", "fill", "INSERT INTO t VALUES (1), (2)"),
		sqlCell("c", "more", "INSERT INTO t VALUES ({{k}})"),
		sqlCell("d", "total", "SELECT sum(id) AS s FROM t"),
		sqlCell("e", "other", "SELECT 1 AS x"),
	))
	s := openSession(t, nb, engine.SessionOptions{})
	mustRunSession(t, s, engine.RunRequest{})
	if got := sumOf(t, s); got != "8" {
		t.Fatalf("sum = %s, want 8", got)
	}
	// A run of everything with nothing changed: the family from cache.
	mustRunSession(t, s, engine.RunRequest{})
	for id, ev := range statusOf(s) {
		if !ev.Cached {
			t.Errorf("unchanged rerun: %s not cached (%s)", id, ev.Reason)
		}
	}
	// The input of the last writer changes: the whole family executes,
	// the definer first.
	wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "in", Value: 7.0, SetValue: true}))
	st := statusOf(s)
	for _, id := range []string{"a", "b", "c", "d"} {
		if st[id].Status != engine.StatusSuccess || st[id].Cached {
			t.Errorf("after the input changed, %s is %s cached=%v (%s)", id, st[id].Status, st[id].Cached, st[id].Reason)
		}
	}
	if got := sumOf(t, s); got != "10" {
		t.Errorf("sum = %s, want 10", got)
	}
	// Running one writer alone reruns its family, never just the write.
	mustRunSession(t, s, engine.RunRequest{CellID: "c", Mode: engine.Lazy})
	if got := sumOf(t, s); got != "10" {
		t.Errorf("sum after running c alone = %s, want 10", got)
	}
}

func TestFamily_LazyMarksFamilyStale(t *testing.T) {
	s := openSession(t, fourCells(t), engine.SessionOptions{Mode: engine.Lazy})
	mustRunSession(t, s, engine.RunRequest{})
	if r := mustUpdate(t, s, engine.CellPatch{CellID: "c", SQL: ptr("UPDATE t SET id = id * 100 WHERE id = 2")}); r != nil {
		t.Fatalf("lazy edit started run %s", r.ID)
	}
	st := statusOf(s)
	for _, id := range []string{"a", "b", "c", "d"} {
		if st[id].Status != engine.StatusStale {
			t.Errorf("after a lazy edit of c, %s is %s, want stale", id, st[id].Status)
		}
	}
	mustRunSession(t, s, engine.RunRequest{CellID: "d"})
	if got := sumOf(t, s); got != "201" {
		t.Errorf("sum = %s, want 201", got)
	}
}

// An edit while the family runs cancels its run and restarts it from the
// definer; no write lands twice.
func TestFamily_Supersession(t *testing.T) {
	for range 5 {
		nb := parseNotebook(t, art(
			sqlCell("a", "create_t", "CREATE TABLE t (id INTEGER)"),
			sqlCell("b", "fill", "INSERT INTO t SELECT 1 FROM range(3000000) r, (SELECT 1) x WHERE r.range = 0"),
			sqlCell("c", "slow", "INSERT INTO t SELECT count(*) % 1 + 10 FROM range(300000000)"),
			sqlCell("d", "total", "SELECT sum(id) AS s FROM t"),
		))
		rec := &recorder{}
		s := openSession(t, nb, engine.SessionOptions{Concurrency: 4, Observe: rec.observe})
		r, err := s.Run(engine.RunRequest{})
		if err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 20*time.Second, time.Millisecond, func() error {
			if st := statusOf(s)["c"]; st.Status != engine.StatusRunning {
				return fmt.Errorf("c is %s", st.Status)
			}
			return nil
		})
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c", SQL: ptr("INSERT INTO t VALUES (100)")}))
		wait(t, r)
		if got := sumOf(t, s); got != "101" {
			t.Errorf("sum = %s, want 101 (1 + 100, each written once)", got)
		}
		s.Flush()
		superseded := false
		for _, ev := range rec.of("c") {
			superseded = superseded || strings.HasPrefix(ev.Reason, "superseded by run")
		}
		if got := started(rec.of("a")); !superseded || len(got) != 2 {
			t.Errorf("c superseded: %v; a started %d times, want 2", superseded, len(got))
		}
	}
}

func TestFamily_BadInput(t *testing.T) {
	t.Run("WriterOfUndefinedName", func(t *testing.T) {
		nb := parseNotebook(t, art(
			sqlCell("a", "orders", "SELECT 1 AS id"),
			sqlCell("b", "fill", "INSERT INTO orderz VALUES (1)"),
			sqlCell("c", "fill2", "UPDATE ordrs SET id = 2"),
		))
		eng := openEngine(t, engine.Config{})
		res := cellResults(mustRun(t, context.Background(), eng, mustPlan(t, eng, nb), engine.RunOptions{}))
		for _, id := range []string{"b", "c"} {
			msg := ""
			if res[id].Err != nil {
				msg = *res[id].Err
			}
			if res[id].Status != engine.StatusError || !strings.Contains(msg, "does not exist") || !strings.Contains(msg, `Did you mean one of the notebook's tables: "orders"`) {
				t.Errorf("%s: %s %q, want DuckDB's error and the notebook's names", id, res[id].Status, msg)
			}
		}
	})
	t.Run("ReadsAnotherCellsTempTable", func(t *testing.T) {
		nb := parseNotebook(t, art(
			sqlCell("a", "prep", "CREATE TEMP TABLE scratch AS SELECT 1 AS x"),
			sqlCell("b", "use", "SELECT * FROM scratch"),
		))
		eng := openEngine(t, engine.Config{})
		res := cellResults(mustRun(t, context.Background(), eng, mustPlan(t, eng, nb), engine.RunOptions{}))
		msg := ""
		if res["b"].Err != nil {
			msg = *res["b"].Err
		}
		if res["b"].Status != engine.StatusError || !strings.Contains(msg, "TEMP table of cell a") || !strings.Contains(msg, "use CREATE TABLE") {
			t.Errorf("b: %s %q", res["b"].Status, msg)
		}
	})
	t.Run("TwoDefiners", func(t *testing.T) {
		eng := openEngine(t, engine.Config{})
		plan := mustPlan(t, eng, parseNotebook(t, art(
			sqlCell("a", "one", "CREATE TABLE t (id INTEGER)"),
			sqlCell("b", "two", "CREATE OR REPLACE TABLE t AS SELECT 1 AS id"),
			sqlCell("c", "fill", "INSERT INTO t VALUES (2)"),
		)))
		var kinds []string
		for _, e := range plan.Artifacts[0].Errors {
			kinds = append(kinds, e.CellID+" "+e.Kind)
		}
		if want := []string{"a duplicate-name", "b duplicate-name"}; !reflect.DeepEqual(kinds, want) {
			t.Errorf("errors %v, want %v", kinds, want)
		}
	})
	t.Run("CycleThroughFamily", func(t *testing.T) {
		eng := openEngine(t, engine.Config{})
		plan := mustPlan(t, eng, parseNotebook(t, art(
			sqlCell("a", "one", "CREATE TABLE t (id INTEGER)"),
			sqlCell("b", "latest", "SELECT max(id) AS m FROM t"),
			sqlCell("c", "fill", "INSERT INTO t SELECT m + 1 FROM latest"),
		)))
		var got []string
		for _, e := range plan.Artifacts[0].Errors {
			got = append(got, e.CellID+" "+e.Kind+" "+e.Message)
		}
		if want := []string{"b cycle cycle: b -> c -> b", "c cycle cycle: b -> c -> b"}; !reflect.DeepEqual(got, want) {
			t.Errorf("errors %q, want %q", got, want)
		}
	})
}
