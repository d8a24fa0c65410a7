package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/leaktest"
	"github.com/cellsd/cellsd/internal/poll"
)

// openSession opens a session of its own DuckDB on nb and closes it when
// the test ends.
func openSession(t testing.TB, nb *cells.Notebook, opts engine.SessionOptions) *engine.Session {
	t.Helper()
	s, err := engine.OpenSession(context.Background(), engine.Config{}, nb, opts)
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func wait(t testing.TB, r *engine.Run) {
	t.Helper()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("run %s did not end: %v", r.ID, err)
	}
}

func mustRunSession(t testing.TB, s *engine.Session, req engine.RunRequest) {
	t.Helper()
	r, err := s.Run(req)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, r)
}

func mustUpdate(t testing.TB, s *engine.Session, p engine.CellPatch) *engine.Run {
	t.Helper()
	r, err := s.Update(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func statusOf(s *engine.Session) map[string]engine.Event {
	m := map[string]engine.Event{}
	for _, ev := range s.Status() {
		m[ev.Cell] = ev
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// chain is a three-cell chain whose source takes a moment.
func chain(t testing.TB, source string) *cells.Notebook {
	return parseNotebook(t, art(
		sqlCell("c1", "src", source),
		sqlCell("c2", "doubled", "SELECT v * 2 AS w FROM src"),
		sqlCell("c3", "plus_one", "SELECT w + 1 AS x FROM doubled"),
		sqlCell("c4", "other", "SELECT 42 AS answer"),
	))
}

func sourceSQL(v int) string {
	return fmt.Sprintf("SELECT %d AS v, sum(i) AS s FROM range(20000000) AS t(i)", v)
}

// TestSession_ConcurrentEdits edits the source of a running cascade from
// several goroutines at once and checks that the session ends in the state
// a fresh session running the last edit gives.
func TestSession_ConcurrentEdits(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			s := openSession(t, chain(t, sourceSQL(0)), engine.SessionOptions{Concurrency: 2})
			first, err := s.Run(engine.RunRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			runs := []*engine.Run{first}
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
					for e := range 4 {
						time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
						r, err := s.Update(context.Background(), engine.CellPatch{CellID: "c1", SQL: ptr(sourceSQL(100*g + e + 1))})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						runs = append(runs, r)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for _, r := range runs {
				wait(t, r)
			}
			last := s.Plan().Artifacts[0].Cell("c1").Cell.SQL

			replay := openSession(t, chain(t, last), engine.SessionOptions{})
			mustRunSession(t, replay, engine.RunRequest{})
			got, want := statusOf(s), statusOf(replay)
			for _, id := range []string{"c1", "c2", "c3", "c4"} {
				if got[id].Status != engine.StatusSuccess || want[id].Status != engine.StatusSuccess {
					t.Errorf("%s: %s (%s: %s), replay %s", id, got[id].Status, got[id].Reason, got[id].Err, want[id].Status)
				}
			}
			for _, rel := range []string{"src", "doubled", "plus_one", "other"} {
				q := "SELECT * FROM __sqlrooms_ephemeral.artifact_nb." + rel
				if g, w := queryRows(t, s.DB(), q), queryRows(t, replay.DB(), q); !reflect.DeepEqual(g, w) {
					t.Errorf("%s = %v after concurrent edits, %v in a replay of the last edit", rel, g, w)
				}
			}
		})
	}
}

// TestSession_SupersededQueryStops edits a cell while its endless query
// runs: the query must stop within a second and the new result land.
func TestSession_SupersededQueryStops(t *testing.T) {
	running := make(chan struct{})
	var once sync.Once
	rec := &recorder{on: func(ev engine.Event) {
		if ev.Cell == "c1" && ev.Status == engine.StatusRunning {
			once.Do(func() { close(running) })
		}
	}}
	s := openSession(t, chain(t, endlessSQL), engine.SessionOptions{Observe: rec.observe})
	if _, err := s.Run(engine.RunRequest{}); err != nil {
		t.Fatal(err)
	}
	<-running
	edited := time.Now()
	r := mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT 7 AS v")})
	wait(t, r)
	s.Flush()
	poll.Until(t, time.Second, 10*time.Millisecond, func() error {
		if n := s.DB().Stats().InUse; n != 0 {
			return fmt.Errorf("%d DuckDB connections still in use %s after the edit", n, time.Since(edited))
		}
		return nil
	})
	if got := queryRows(t, s.DB(), "SELECT * FROM __sqlrooms_ephemeral.artifact_nb.plus_one"); !reflect.DeepEqual(got, [][]string{{"15"}}) {
		t.Errorf("plus_one = %v, want [[15]]", got)
	}
	var reasons []string
	for _, ev := range rec.of("c1") {
		reasons = append(reasons, string(ev.Status)+": "+ev.Reason)
	}
	if !strings.Contains(strings.Join(reasons, "\n"), "queued: superseded by run r2") {
		t.Errorf("c1 events do not say it was superseded:\n%s", strings.Join(reasons, "\n"))
	}
}

// TestSession_SupersededResultNeverLands checks that a result superseded
// while it runs is never committed, not even for a moment: its provenance
// row, written in the result's own transaction, never appears.
func TestSession_SupersededResultNeverLands(t *testing.T) {
	superseded := 0
	for round := range 10 {
		rec := &recorder{}
		s := openSession(t, chain(t, "SELECT 1 AS v"), engine.SessionOptions{Observe: rec.observe})
		mustRunSession(t, s, engine.RunRequest{})
		slow := fmt.Sprintf("SELECT 2 AS v, sum(i) AS s FROM range(%d) AS t(i)", 40000000+round)
		mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr(slow)})
		time.Sleep(time.Duration(round) * time.Millisecond)
		wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT 3 AS v")}))
		s.Flush()
		sum := sha256.Sum256([]byte(slow))
		var landed int
		if err := s.DB().QueryRow(`SELECT count(*) FROM __sqlrooms_ephemeral.main.cellsd_provenance WHERE sql_sha256 = ?`, hex.EncodeToString(sum[:])).Scan(&landed); err != nil {
			t.Fatal(err)
		}
		wasSuperseded := false
		for _, ev := range rec.of("c1") {
			wasSuperseded = wasSuperseded || strings.HasPrefix(ev.Reason, "superseded by run")
		}
		if wasSuperseded {
			superseded++
			if landed > 0 {
				t.Errorf("round %d: the superseded result was committed", round)
			}
		}
		if v := queryRows(t, s.DB(), "SELECT v FROM __sqlrooms_ephemeral.artifact_nb.src"); !reflect.DeepEqual(v, [][]string{{"3"}}) {
			t.Errorf("round %d: src.v = %v, want 3", round, v)
		}
	}
	if superseded == 0 {
		t.Error("no round superseded the slow query; the test proves nothing")
	}
}

func TestSession_Cache(t *testing.T) {
	nb := parseNotebook(t, art(
		inputCell("in", "min", "2"),
		sqlCell("c1", "src", "SELECT range AS v FROM range(10)"),
		sqlCell("c2", "big", "SELECT * FROM src WHERE v > CAST({{min}} AS INTEGER)"),
		sqlCell("c3", "n", "SELECT count(*) AS n FROM big"),
	))
	rec := &recorder{}
	s := openSession(t, nb, engine.SessionOptions{Observe: rec.observe})
	mustRunSession(t, s, engine.RunRequest{})

	step := func(name string, p engine.CellPatch, wantCached map[string]bool) {
		t.Helper()
		wait(t, mustUpdate(t, s, p))
		st := statusOf(s)
		for id, cached := range wantCached {
			if st[id].Status != engine.StatusSuccess || st[id].Cached != cached {
				t.Errorf("%s: %s is %s cached=%v (%s), want success cached=%v", name, id, st[id].Status, st[id].Cached, st[id].Reason, cached)
			}
			if cached && st[id].Reason != "cached: inputs unchanged" {
				t.Errorf("%s: %s reason %q", name, id, st[id].Reason)
			}
		}
	}
	step("Reformatted", engine.CellPatch{CellID: "c1", SQL: ptr("select range as v\n  from range(10) -- same query")},
		map[string]bool{"c1": true, "c2": true, "c3": true})
	step("Changed", engine.CellPatch{CellID: "c1", SQL: ptr("SELECT range AS v FROM range(20)")},
		map[string]bool{"c1": false, "c2": false, "c3": false})
	step("InputValue", engine.CellPatch{CellID: "in", Value: "15", SetValue: true},
		map[string]bool{"c2": false, "c3": false})
	step("SameInputValue", engine.CellPatch{CellID: "in", Value: "15", SetValue: true},
		map[string]bool{"c2": true, "c3": true})
	if got := queryRows(t, s.DB(), "SELECT n FROM __sqlrooms_ephemeral.artifact_nb.n"); !reflect.DeepEqual(got, [][]string{{"4"}}) {
		t.Errorf("n = %v, want 4", got)
	}

	onlyWhereTheyBelong(t, rec)

	noCache := openSession(t, nb, engine.SessionOptions{NoCache: true})
	mustRunSession(t, noCache, engine.RunRequest{})
	mustRunSession(t, noCache, engine.RunRequest{})
	for id, ev := range statusOf(noCache) {
		if ev.Cached {
			t.Errorf("NoCache: %s was served from cache", id)
		}
	}
}

func TestSession_Lazy(t *testing.T) {
	nb := parseNotebook(t, art(
		sqlCell("c1", "a", "SELECT 1 AS v"),
		sqlCell("c2", "b", "SELECT v + 1 AS v FROM a"),
		sqlCell("c3", "c", "SELECT v + 1 AS v FROM b"),
		sqlCell("c4", "d", "SELECT 10 AS v"),
	))
	s := openSession(t, nb, engine.SessionOptions{Mode: engine.Lazy})
	mustRunSession(t, s, engine.RunRequest{})
	if r := mustUpdate(t, s, engine.CellPatch{CellID: "c1", SQL: ptr("SELECT 100 AS v")}); r != nil {
		t.Fatalf("lazy edit started run %s", r.ID)
	}
	st := statusOf(s)
	for id, want := range map[string]engine.Status{"c1": engine.StatusStale, "c2": engine.StatusStale, "c3": engine.StatusStale, "c4": engine.StatusSuccess} {
		if st[id].Status != want {
			t.Errorf("after a lazy edit of c1, %s is %s (%s), want %s", id, st[id].Status, st[id].Reason, want)
		}
	}
	if st["c2"].Reason != "upstream Cell c1 (c1) changed" {
		t.Errorf("c2 reason %q", st["c2"].Reason)
	}
	// Running c2 runs its stale upstream first, not its downstream.
	mustRunSession(t, s, engine.RunRequest{CellID: "c2"})
	st = statusOf(s)
	for id, want := range map[string]engine.Status{"c1": engine.StatusSuccess, "c2": engine.StatusSuccess, "c3": engine.StatusStale} {
		if st[id].Status != want {
			t.Errorf("after running c2, %s is %s, want %s", id, st[id].Status, want)
		}
	}
	if got := queryRows(t, s.DB(), "SELECT v FROM __sqlrooms_ephemeral.artifact_nb.b"); !reflect.DeepEqual(got, [][]string{{"101"}}) {
		t.Errorf("b = %v, want 101", got)
	}
}

func TestSession_RunCellCascades(t *testing.T) {
	rec := &recorder{}
	s := openSession(t, chain(t, "SELECT 1 AS v"), engine.SessionOptions{Observe: rec.observe})
	// A first run of c3 alone brings in its idle upstream.
	mustRunSession(t, s, engine.RunRequest{CellID: "c3"})
	st := statusOf(s)
	for id, want := range map[string]engine.Status{"c1": engine.StatusSuccess, "c2": engine.StatusSuccess, "c3": engine.StatusSuccess, "c4": engine.StatusIdle} {
		if st[id].Status != want {
			t.Errorf("%s is %s, want %s", id, st[id].Status, want)
		}
	}
	// Running c1 in autorun mode reruns its downstream, with reasons.
	mustRunSession(t, s, engine.RunRequest{CellID: "c1"})
	s.Flush()
	var queued []string
	for _, ev := range rec.all() {
		if ev.Status == engine.StatusQueued && ev.Run == "r2" {
			queued = append(queued, ev.Cell+": "+ev.Reason)
		}
	}
	if want := []string{"c1: run Cell c1 (c1)", "c2: upstream Cell c1 (c1) changed", "c3: upstream Cell c1 (c1) changed"}; !reflect.DeepEqual(queued, want) {
		t.Errorf("run r2 queued %q, want %q", queued, want)
	}
	var seqs []int64
	var runs []string
	for _, ev := range rec.withSession() {
		seqs = append(seqs, ev.Seq)
		if ev.SessionLevel() {
			runs = append(runs, ev.Run+" "+string(ev.Status)+": "+ev.Reason)
		}
	}
	for i := range seqs {
		if seqs[i] != int64(i+1) {
			t.Fatalf("event seqs %v are not contiguous from 1", seqs)
		}
	}
	// The session's own events frame each run.
	if want := []string{"r1 running: run r1: 3 cells", "r1 success: run r1 done: 3 success",
		"r2 running: run r2: 3 cells", "r2 success: run r2 done: 3 success"}; !reflect.DeepEqual(runs, want) {
		t.Errorf("session events %q, want %q", runs, want)
	}
}

func TestSession_FailureAndTimeout(t *testing.T) {
	nb := parseNotebook(t, art(
		sqlCell("c1", "a", "SELECT 1 AS v"),
		sqlCell("c2", "b", "SELECT v FROM a"),
		sqlCell("c3", "c", "SELECT * FROM b"),
	))
	rec := &recorder{}
	s := openSession(t, nb, engine.SessionOptions{Observe: rec.observe})
	mustRunSession(t, s, engine.RunRequest{})
	wait(t, mustUpdate(t, s, engine.CellPatch{CellID: "c2", SQL: ptr("SELECT no_such_column FROM a")}))
	st := statusOf(s)
	if st["c2"].Status != engine.StatusError || !strings.Contains(st["c2"].Err, "no_such_column") {
		t.Errorf("c2: %+v", st["c2"])
	}
	if st["c3"].Status != engine.StatusBlocked || st["c3"].Reason != "blocked: Cell c2 (c2) failed" {
		t.Errorf("c3: %s (%s), want blocked: Cell c2 (c2) failed", st["c3"].Status, st["c3"].Reason)
	}
	if got := queryRows(t, s.DB(), "SELECT v FROM __sqlrooms_ephemeral.artifact_nb.b"); !reflect.DeepEqual(got, [][]string{{"1"}}) {
		t.Errorf("b = %v: the failed edit must leave the previous result", got)
	}

	mustUpdate(t, s, engine.CellPatch{CellID: "c2", SQL: ptr(endlessSQL)}) // runs until superseded
	r, err := s.Run(engine.RunRequest{CellID: "c2", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	wait(t, r)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a 100ms timeout took %s", took)
	}
	st = statusOf(s)
	if st["c2"].Status != engine.StatusError || !strings.Contains(st["c2"].Err, "timed out after 100ms") {
		t.Errorf("c2: %s %q, want a timeout error", st["c2"].Status, st["c2"].Err)
	}
	s.Flush()
	onlyWhereTheyBelong(t, rec)
}

// onlyWhereTheyBelong checks that an event says cached only on a success
// and carries an error message only on an error: a cell queued again
// after either has neither.
func onlyWhereTheyBelong(t *testing.T, rec *recorder) {
	t.Helper()
	for _, ev := range rec.all() {
		if ev.Cached && ev.Status != engine.StatusSuccess {
			t.Errorf("seq %d: %s %s cached", ev.Seq, ev.Cell, ev.Status)
		}
		if ev.Err != "" && ev.Status != engine.StatusError {
			t.Errorf("seq %d: %s %s with error %q", ev.Seq, ev.Cell, ev.Status, ev.Err)
		}
	}
}

// TestSession_CloseReleasesEverything checks that no goroutine or DuckDB
// connection outlives Close, with an endless query running.
func TestSession_CloseReleasesEverything(t *testing.T) {
	verify := leaktest.Start(t)
	eng := engine.New(engine.Config{})
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, eng, chain(t, endlessSQL))
	s, err := eng.NewSession(context.Background(), plan, engine.SessionOptions{Observe: func(engine.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(engine.RunRequest{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, 5*time.Millisecond, func() error {
		if statusOf(s)["c1"].Status != engine.StatusRunning {
			return fmt.Errorf("c1 not running yet")
		}
		return nil
	})
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %s with a query running", took)
	}
	if n := eng.DB().Stats().InUse; n != 0 {
		t.Errorf("%d DuckDB connections in use after the session closed", n)
	}
	if _, err := s.Run(engine.RunRequest{}); err == nil {
		t.Error("Run on a closed session succeeded")
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	if n := eng.DB().Stats().OpenConnections; n != 0 {
		t.Errorf("%d DuckDB connections open after the engine closed", n)
	}
	verify()
}

// TestSession_CancelRacesStatementStart cancels an endless cell at random
// moments around the start of its statement, hundreds of times. duckdb-go
// loses the interrupt of a statement cancelled between DuckDB's pending
// result and its execution, and the connection then hung for good in the
// next statement (see interruptOnCancel); every cancel must end the cell.
func TestSession_CancelRacesStatementStart(t *testing.T) {
	s := openSession(t, parseNotebook(t, art(sqlCell("c1", "endless", endlessSQL))), engine.SessionOptions{})
	for i := range 1000 {
		r, err := s.Run(engine.RunRequest{CellID: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
		s.Cancel("c1")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("cancel %d: the cell did not stop within 10 s", i+1)
		}
	}
}
