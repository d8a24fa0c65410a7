package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellsd/cellsd/cells"
)

// fakeExecutor stands in for DuckDB and the sources: it records what runs
// when, holds a cell while its gate is set, and fails the cells told to.
type fakeExecutor struct {
	mu            sync.Mutex
	running, peak int
	log           []string                   // "start c", "end c"
	gates         map[string][]chan struct{} // per cell, one per execution in turn
	fail          map[string]error
	causes        []error // the context causes of executions stopped early
	started       chan string
}

func newFake() *fakeExecutor {
	return &fakeExecutor{gates: map[string][]chan struct{}{}, fail: map[string]error{}, started: make(chan string, 100)}
}

func (f *fakeExecutor) Execute(ctx context.Context, spec execSpec, guard commitGuard) (*int64, error) {
	f.mu.Lock()
	f.running++
	f.peak = max(f.peak, f.running)
	f.log = append(f.log, "start "+spec.cell)
	var gate chan struct{}
	if g := f.gates[spec.cell]; len(g) > 0 {
		gate, f.gates[spec.cell] = g[0], g[1:]
	}
	fail := f.fail[spec.cell]
	f.mu.Unlock()
	f.started <- spec.cell
	defer func() {
		f.mu.Lock()
		f.running--
		f.log = append(f.log, "end "+spec.cell)
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			f.mu.Lock()
			f.causes = append(f.causes, context.Cause(ctx))
			f.mu.Unlock()
			return nil, ctx.Err()
		}
	} else {
		time.Sleep(time.Millisecond) // let cells overlap
	}
	if fail != nil {
		return nil, fail
	}
	if guard != nil {
		if err := guard(ctx, func() error { return nil }); err != nil {
			return nil, err
		}
	}
	n := int64(1)
	return &n, nil
}

// fakeSession opens a session over cells (id -> sql; each cell's result
// is named after its id) whose cells run on a fake executor.
func fakeSession(t *testing.T, ids []string, sqls map[string]string, opts SessionOptions) (*Session, *fakeExecutor) {
	t.Helper()
	data := map[string]any{}
	for _, id := range ids {
		data[id] = map[string]any{"id": id, "type": "sql", "data": map[string]any{"title": id, "sql": sqls[id], "resultName": id}}
	}
	b, _ := json.Marshal(map[string]any{"data": data, "tableDepSchemas": []string{"main"},
		"artifacts": map[string]any{"nb": map[string]any{"id": "nb", "cellIds": ids, "edges": []any{}}}})
	nb, err := cells.Parse("fake.json", b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSession(context.Background(), Config{}, nb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := newFake()
	s.exec = f
	return s, f
}

func waitRun(t *testing.T, r *Run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("run %s: %v", r.ID, err)
	}
}

func statusOf(s *Session) map[string]Event {
	out := map[string]Event{}
	for _, ev := range s.Status() {
		out[ev.Cell] = ev
	}
	return out
}

// A diamond a -> b, c -> d with four independent cells beside it.
var (
	diamondIDs  = []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	diamondSQLs = map[string]string{
		"a": "SELECT 1 AS v", "b": "SELECT v FROM a", "c": "SELECT v FROM a", "d": "SELECT * FROM b, c",
		"e": "SELECT 1", "f": "SELECT 2", "g": "SELECT 3", "h": "SELECT 4",
	}
	diamondDeps = map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
)

func TestScheduler_FakeExecutor(t *testing.T) {
	t.Run("DependenciesFirstAndLimitHonoured", func(t *testing.T) {
		for range 10 { // timing-dependent: repeated
			s, f := fakeSession(t, diamondIDs, diamondSQLs, SessionOptions{Concurrency: 2})
			r, err := s.Run(RunRequest{})
			if err != nil {
				t.Fatal(err)
			}
			waitRun(t, r)
			f.mu.Lock()
			log, peak := slices.Clone(f.log), f.peak
			f.mu.Unlock()
			if peak > 2 {
				t.Errorf("%d cells ran at once, concurrency 2", peak)
			}
			for cell, deps := range diamondDeps {
				for _, d := range deps {
					if slices.Index(log, "end "+d) > slices.Index(log, "start "+cell) {
						t.Fatalf("%s started before %s ended: %v", cell, d, log)
					}
				}
			}
			for id, ev := range statusOf(s) {
				if ev.Status != StatusSuccess || ev.Reason != "executed" {
					t.Errorf("%s: %s %q, want success executed", id, ev.Status, ev.Reason)
				}
			}
			s.Close()
		}
	})

	t.Run("OneAtATimeRunsInPositionOrder", func(t *testing.T) {
		s, f := fakeSession(t, diamondIDs, diamondSQLs, SessionOptions{Concurrency: 1})
		r, _ := s.Run(RunRequest{})
		waitRun(t, r)
		var starts []string
		for _, l := range f.log {
			if id, ok := strings.CutPrefix(l, "start "); ok {
				starts = append(starts, id)
			}
		}
		if want := []string{"a", "b", "c", "d", "e", "f", "g", "h"}; !slices.Equal(starts, want) {
			t.Errorf("starts = %v, want %v", starts, want)
		}
	})

	t.Run("UpstreamFailsBlocksDependents", func(t *testing.T) {
		s, f := fakeSession(t, diamondIDs, diamondSQLs, SessionOptions{Concurrency: 4})
		f.fail["b"] = errors.New("no such thing")
		r, _ := s.Run(RunRequest{})
		waitRun(t, r)
		st := statusOf(s)
		if ev := st["b"]; ev.Status != StatusError || ev.Reason != "failed: no such thing" {
			t.Errorf("b: %s %q", ev.Status, ev.Reason)
		}
		if ev := st["d"]; ev.Status != StatusBlocked || ev.Reason != "blocked: b failed" {
			t.Errorf("d: %s %q, want blocked: b failed", ev.Status, ev.Reason)
		}
		if ev := st["c"]; ev.Status != StatusSuccess {
			t.Errorf("c: %s, want success (independent of b)", ev.Status)
		}
		if slices.Contains(f.log, "start d") {
			t.Errorf("d executed although b failed: %v", f.log)
		}
	})

	t.Run("SupersededExecutionNeverCommits", func(t *testing.T) {
		s, f := fakeSession(t, diamondIDs, diamondSQLs, SessionOptions{Concurrency: 4})
		first := make(chan struct{})
		f.gates["a"] = []chan struct{}{first}
		r1, _ := s.Run(RunRequest{CellID: "a"})
		if got := <-f.started; got != "a" {
			t.Fatalf("started %s, want a", got)
		}
		r2, _ := s.Run(RunRequest{CellID: "a"})
		waitRun(t, r1)
		waitRun(t, r2)
		f.mu.Lock()
		causes := slices.Clone(f.causes)
		f.mu.Unlock()
		if len(causes) != 1 || !errors.Is(causes[0], errSuperseded) {
			t.Errorf("first execution stopped by %v, want superseded", causes)
		}
		s.Flush()
		st := statusOf(s)
		if ev := st["a"]; ev.Status != StatusSuccess || ev.Run != r2.ID {
			t.Errorf("a: %+v, want success in run %s", ev, r2.ID)
		}
	})

	t.Run("ClosedSessionStartsNothing", func(t *testing.T) {
		s, f := fakeSession(t, diamondIDs, diamondSQLs, SessionOptions{Concurrency: 1})
		gate := make(chan struct{})
		f.gates["a"] = []chan struct{}{gate}
		r, _ := s.Run(RunRequest{})
		<-f.started
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		<-r.Done()
		if s.spawn.Go(func() {}) {
			t.Error("the spawner started a goroutine after Close")
		}
		if _, err := s.Run(RunRequest{}); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}
		if n := len(f.log); n != 2 {
			t.Errorf("executions = %v, want a alone", f.log)
		}
	})
}
