package dag_test

import (
	"fmt"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/cellsd/cellsd/dag"
)

// edges maps a cell to the cells it depends on.
type edges map[string][]string

// build returns a graph of ids with the given dependencies, set with SetDeps
// in the order of ids so construction is deterministic.
func build(t testing.TB, ids []string, deps edges) *dag.Graph {
	t.Helper()
	g := dag.New(ids)
	for _, id := range ids {
		if d, ok := deps[id]; ok {
			g.SetDeps(id, d)
		}
	}
	return g
}

func set(ids ...string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"Empty", nil, nil},
		{"KeepsPositionOrder", []string{"z", "a", "m"}, []string{"z", "a", "m"}},
		{"DuplicatesKeepFirst", []string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := dag.New(tt.ids)
			equal(t, "Nodes()", g.Nodes(), tt.want)
			for _, id := range tt.want {
				if !g.Has(id) {
					t.Errorf("Has(%q) = false, want true", id)
				}
			}
			if g.Has("missing") {
				t.Errorf("Has(%q) = true, want false", "missing")
			}
		})
	}

	t.Run("NodesIsACopy", func(t *testing.T) {
		g := dag.New([]string{"a", "b"})
		g.Nodes()[0] = "x"
		equal(t, "Nodes()", g.Nodes(), []string{"a", "b"})
	})
}

func TestEdges(t *testing.T) {
	ids := []string{"z", "a", "m", "b"}

	t.Run("DepsAndDependentsSortedByID", func(t *testing.T) {
		g := build(t, ids, edges{"b": {"z", "m", "a"}, "m": {"z"}})
		equal(t, "Deps(b)", g.Deps("b"), []string{"a", "m", "z"})
		equal(t, "Dependents(z)", g.Dependents("z"), []string{"b", "m"})
		equal(t, "Deps(z)", g.Deps("z"), nil)
		equal(t, "Dependents(b)", g.Dependents("b"), nil)
	})

	t.Run("UnknownDepsIgnored", func(t *testing.T) {
		g := build(t, ids, edges{"a": {"nope", "z", "other"}})
		g.SetDeps("ghost", []string{"z"})
		equal(t, "Deps(a)", g.Deps("a"), []string{"z"})
		equal(t, "Dependents(z)", g.Dependents("z"), []string{"a"})
		equal(t, "Deps(ghost)", g.Deps("ghost"), nil)
		equal(t, "Nodes()", g.Nodes(), ids)
	})

	t.Run("DuplicatesCollapsed", func(t *testing.T) {
		g := build(t, ids, edges{"a": {"z", "z", "m", "z", "m"}})
		equal(t, "Deps(a)", g.Deps("a"), []string{"m", "z"})
		equal(t, "Dependents(z)", g.Dependents("z"), []string{"a"})
	})

	t.Run("SetDepsReplacesEdges", func(t *testing.T) {
		g := build(t, ids, edges{"b": {"z", "a"}})
		g.SetDeps("b", []string{"a", "m"})
		equal(t, "Deps(b)", g.Deps("b"), []string{"a", "m"})
		equal(t, "Dependents(z)", g.Dependents("z"), nil)
		equal(t, "Dependents(a)", g.Dependents("a"), []string{"b"})
		equal(t, "Dependents(m)", g.Dependents("m"), []string{"b"})
		order, _ := g.Order(nil)
		equal(t, "Order", order, []string{"z", "a", "m", "b"})
	})

	t.Run("SetDepsEmptyClears", func(t *testing.T) {
		g := build(t, ids, edges{"b": {"z", "a"}})
		g.SetDeps("b", nil)
		equal(t, "Deps(b)", g.Deps("b"), nil)
		equal(t, "Dependents(z)", g.Dependents("z"), nil)
		equal(t, "Dependents(a)", g.Dependents("a"), nil)
	})

	t.Run("SetDepsBreaksCycle", func(t *testing.T) {
		g := build(t, ids, edges{"z": {"a"}, "a": {"z"}})
		if len(g.Cycles()) != 1 {
			t.Fatalf("Cycles() = %q, want one cycle", g.Cycles())
		}
		g.SetDeps("z", nil)
		if c := g.Cycles(); c != nil {
			t.Errorf("Cycles() after SetDeps = %q, want none", c)
		}
		order, left := g.Order(nil)
		equal(t, "order", order, []string{"z", "a", "m", "b"})
		equal(t, "left", left, nil)
	})

	t.Run("SelfDependencyKept", func(t *testing.T) {
		g := build(t, ids, edges{"m": {"m", "z"}})
		equal(t, "Deps(m)", g.Deps("m"), []string{"m", "z"})
		equal(t, "Dependents(m)", g.Dependents("m"), []string{"m"})
	})
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name      string
		ids       []string
		deps      edges
		exclude   []string
		wantOrder []string
		wantLeft  []string
	}{
		{
			name:      "Empty",
			wantOrder: nil,
		},
		{
			name:      "TiesByPosition",
			ids:       []string{"z", "a", "m"},
			wantOrder: []string{"z", "a", "m"},
		},
		{
			name:      "TiesByPositionAfterDeps",
			ids:       []string{"z", "a", "m", "b"},
			deps:      edges{"z": {"b"}, "a": {"b"}},
			wantOrder: []string{"m", "b", "z", "a"},
		},
		{
			name:      "LowestReadyFirst",
			ids:       []string{"z", "a", "m", "b"},
			deps:      edges{"a": {"m"}},
			wantOrder: []string{"z", "m", "a", "b"},
		},
		{
			name:      "Diamond",
			ids:       []string{"d", "c", "b", "a"},
			deps:      edges{"d": {"b", "c"}, "b": {"a"}, "c": {"a"}},
			wantOrder: []string{"a", "c", "b", "d"},
		},
		{
			name:      "FanOutFanIn",
			ids:       []string{"sink", "y", "x", "w", "src"},
			deps:      edges{"x": {"src"}, "y": {"src"}, "w": {"src"}, "sink": {"w", "x", "y"}},
			wantOrder: []string{"src", "y", "x", "w", "sink"},
		},
		{
			name:      "CycleLeftOutWithDownstream",
			ids:       []string{"c1", "c2", "c3", "c4", "c5", "c6"},
			deps:      edges{"c3": {"c4"}, "c4": {"c3"}, "c5": {"c4"}, "c6": {"c1"}, "c2": {"c1"}},
			wantOrder: []string{"c1", "c2", "c6"},
			wantLeft:  []string{"c3", "c4", "c5"},
		},
		{
			name:      "SelfCycleLeftOut",
			ids:       []string{"a", "b", "c"},
			deps:      edges{"b": {"b", "a"}, "c": {"b"}},
			wantOrder: []string{"a"},
			wantLeft:  []string{"b", "c"},
		},
		{
			name:      "ExcludePropagatesDownstream",
			ids:       []string{"a", "b", "c", "d", "e"},
			deps:      edges{"b": {"a"}, "c": {"b"}, "d": {"c", "e"}},
			exclude:   []string{"b"},
			wantOrder: []string{"a", "e"},
			wantLeft:  []string{"b", "c", "d"},
		},
		{
			name:      "ExcludeUnknownIgnored",
			ids:       []string{"a", "b"},
			deps:      edges{"b": {"a"}},
			exclude:   []string{"ghost"},
			wantOrder: []string{"a", "b"},
		},
		{
			name:      "ExcludeAndCycle",
			ids:       []string{"a", "b", "c", "d"},
			deps:      edges{"b": {"c"}, "c": {"b"}},
			exclude:   []string{"d"},
			wantOrder: []string{"a"},
			wantLeft:  []string{"b", "c", "d"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, tt.ids, tt.deps)
			order, left := g.Order(set(tt.exclude...))
			if order == nil || left == nil {
				t.Errorf("Order returned nil slice: order=%v left=%v", order == nil, left == nil)
			}
			equal(t, "order", order, tt.wantOrder)
			equal(t, "left", left, tt.wantLeft)
			checkTopological(t, g, order)
		})
	}

	t.Run("ExcludeFalseIgnored", func(t *testing.T) {
		g := build(t, []string{"a", "b"}, edges{"b": {"a"}})
		order, left := g.Order(map[string]bool{"a": false})
		equal(t, "order", order, []string{"a", "b"})
		equal(t, "left", left, nil)
	})
}

// checkTopological fails unless every dependency of a node in order comes
// before it.
func checkTopological(t *testing.T, g *dag.Graph, order []string) {
	t.Helper()
	at := make(map[string]int, len(order))
	for i, id := range order {
		at[id] = i
	}
	for i, id := range order {
		for _, d := range g.Deps(id) {
			if j, ok := at[d]; !ok || j >= i {
				t.Errorf("order %q: %s before its dependency %s", order, id, d)
			}
		}
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name        string
		ids         []string
		deps        edges
		want        [][]string
		wantOnCycle []string
	}{
		{
			name: "None",
			ids:  []string{"a", "b", "c"},
			deps: edges{"b": {"a"}, "c": {"a", "b"}},
		},
		{
			name:        "One",
			ids:         []string{"c1", "c5"},
			deps:        edges{"c5": {"c5"}},
			want:        [][]string{{"c5", "c5"}},
			wantOnCycle: []string{"c5"},
		},
		{
			name:        "Two",
			ids:         []string{"c1", "c2", "c3", "c4"},
			deps:        edges{"c3": {"c4"}, "c4": {"c3"}},
			want:        [][]string{{"c3", "c4", "c3"}},
			wantOnCycle: []string{"c3", "c4"},
		},
		{
			// Positions z, a, m: the path starts at z (lowest position),
			// not at a (lowest id). z depends on m, m on a, a on z.
			name:        "Three",
			ids:         []string{"z", "a", "m"},
			deps:        edges{"z": {"m"}, "m": {"a"}, "a": {"z"}},
			want:        [][]string{{"z", "m", "a", "z"}},
			wantOnCycle: []string{"z", "a", "m"},
		},
		{
			// z depends on both a and m, and both lead straight back: the
			// walk takes m (position 1), not a (lower id, position 2).
			name:        "NextByPosition",
			ids:         []string{"z", "m", "a"},
			deps:        edges{"z": {"a", "m"}, "m": {"z"}, "a": {"z"}},
			want:        [][]string{{"z", "m", "z"}},
			wantOnCycle: []string{"z", "m", "a"},
		},
		{
			// Greedy lowest position from s goes s -> b -> c, and c leads
			// only back to b: the walk backs out and takes b -> d -> s.
			name:        "BacktracksOutOfInnerLoop",
			ids:         []string{"s", "b", "c", "d"},
			deps:        edges{"s": {"b"}, "b": {"c", "d"}, "c": {"b"}, "d": {"s"}},
			want:        [][]string{{"s", "b", "d", "s"}},
			wantOnCycle: []string{"s", "b", "c", "d"},
		},
		{
			name:        "SelfEdgeInsideLargerComponent",
			ids:         []string{"a", "b"},
			deps:        edges{"a": {"a", "b"}, "b": {"a"}},
			want:        [][]string{{"a", "b", "a"}},
			wantOnCycle: []string{"a", "b"},
		},
		{
			name: "TwoIndependent",
			ids:  []string{"x", "p", "q", "y", "r"},
			deps: edges{
				"x": {"y"}, "y": {"x"},
				"p": {"q"}, "q": {"p"},
				"r": {"p", "y"},
			},
			want:        [][]string{{"x", "y", "x"}, {"p", "q", "p"}},
			wantOnCycle: []string{"x", "p", "q", "y"},
		},
		{
			name:        "OrderedByFirstPosition",
			ids:         []string{"a", "b", "c", "d", "e"},
			deps:        edges{"b": {"e"}, "e": {"b"}, "c": {"c"}, "d": {"a"}},
			want:        [][]string{{"b", "e", "b"}, {"c", "c"}},
			wantOnCycle: []string{"b", "c", "e"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(t, tt.ids, tt.deps)
			got := g.Cycles()
			if len(got) != len(tt.want) {
				t.Fatalf("Cycles() = %q, want %q", got, tt.want)
			}
			for i := range got {
				equal(t, fmt.Sprintf("Cycles()[%d]", i), got[i], tt.want[i])
				checkCycle(t, g, got[i])
			}
			on := g.OnCycle()
			if len(on) != len(tt.wantOnCycle) {
				t.Errorf("OnCycle() = %v, want %q", on, tt.wantOnCycle)
			}
			for _, id := range tt.wantOnCycle {
				if !on[id] {
					t.Errorf("OnCycle()[%q] = false, want true", id)
				}
			}
		})
	}
}

// checkCycle fails unless path is a real cycle: closed, each consecutive
// pair a dependency edge, no node repeated but the closing one.
func checkCycle(t *testing.T, g *dag.Graph, path []string) {
	t.Helper()
	if len(path) < 2 || path[0] != path[len(path)-1] {
		t.Errorf("cycle %q is not closed", path)
		return
	}
	seen := map[string]bool{}
	for i, id := range path[:len(path)-1] {
		if seen[id] {
			t.Errorf("cycle %q repeats %s", path, id)
		}
		seen[id] = true
		if !slices.Contains(g.Deps(id), path[i+1]) {
			t.Errorf("cycle %q: %s does not depend on %s", path, id, path[i+1])
		}
	}
}

func TestClosure(t *testing.T) {
	// z -> a -> b, z -> m, c independent, d <-> e cycle fed by b.
	ids := []string{"z", "a", "m", "b", "c", "d", "e"}
	deps := edges{"a": {"z"}, "m": {"z"}, "b": {"a"}, "d": {"b", "e"}, "e": {"d"}}
	tests := []struct {
		name     string
		ids      []string
		wantDown []string
		wantUp   []string
	}{
		{"None", nil, nil, nil},
		{"Root", []string{"z"}, []string{"a", "m", "b", "d", "e"}, nil},
		{"Middle", []string{"a"}, []string{"b", "d", "e"}, []string{"z"}},
		{"Leaf", []string{"m"}, nil, []string{"z"}},
		{"Isolated", []string{"c"}, nil, nil},
		{"Several", []string{"m", "a"}, []string{"b", "d", "e"}, []string{"z"}},
		{"ListedNodeReachable", []string{"z", "a"}, []string{"a", "m", "b", "d", "e"}, []string{"z"}},
		{"OnCycleIncludesSelf", []string{"d"}, []string{"d", "e"}, []string{"z", "a", "b", "d", "e"}},
		{"UnknownIgnored", []string{"ghost", "b"}, []string{"d", "e"}, []string{"z", "a"}},
	}
	g := build(t, ids, deps)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, "Downstream", g.Downstream(tt.ids...), tt.wantDown)
			equal(t, "Upstream", g.Upstream(tt.ids...), tt.wantUp)
		})
	}

	t.Run("SelfEdge", func(t *testing.T) {
		g := build(t, []string{"a", "b"}, edges{"a": {"a"}, "b": {"a"}})
		equal(t, "Downstream(a)", g.Downstream("a"), []string{"a", "b"})
		equal(t, "Upstream(b)", g.Upstream("b"), []string{"a"})
	})
}

// chain returns ids n0..n(size-1) where each depends on the previous one,
// with ids in reverse position order so that id order never agrees with
// position order by accident.
func chain(t testing.TB, size int) (*dag.Graph, []string) {
	t.Helper()
	ids := make([]string, size)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%05d", size-i)
	}
	g := dag.New(ids)
	for i := 1; i < size; i++ {
		g.SetDeps(ids[i], []string{ids[i-1]})
	}
	return g, ids
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func TestLarge(t *testing.T) {
	const size = 10_000
	budget := 100 * time.Millisecond
	if raceEnabled() {
		budget *= 10 // the race detector slows this code down 5-10x
	}

	timed := func(t *testing.T, what string, fn func()) {
		t.Helper()
		start := time.Now()
		fn()
		if d := time.Since(start); d > budget {
			t.Errorf("%s took %v, want under %v", what, d, budget)
		}
	}

	t.Run("Chain", func(t *testing.T) {
		g, ids := chain(t, size)
		var order, left []string
		timed(t, "Order", func() { order, left = g.Order(nil) })
		equal(t, "order", order, ids)
		equal(t, "left", left, nil)

		var cycles [][]string
		timed(t, "Cycles", func() { cycles = g.Cycles() })
		if cycles != nil {
			t.Errorf("Cycles() = %d cycles, want none", len(cycles))
		}

		var down, up []string
		timed(t, "Downstream", func() { down = g.Downstream(ids[0]) })
		equal(t, "Downstream", down, ids[1:])
		timed(t, "Upstream", func() { up = g.Upstream(ids[size-1]) })
		equal(t, "Upstream", up, ids[:size-1])

		_, left = g.Order(set(ids[1]))
		equal(t, "left after excluding the second node", left, ids[1:])
	})

	t.Run("ChainClosedIntoCycle", func(t *testing.T) {
		g, ids := chain(t, size)
		g.SetDeps(ids[0], []string{ids[size-1]})
		var cycles [][]string
		timed(t, "Cycles", func() { cycles = g.Cycles() })
		if len(cycles) != 1 {
			t.Fatalf("Cycles() = %d cycles, want 1", len(cycles))
		}
		c := cycles[0]
		if len(c) != size+1 || c[0] != ids[0] || c[1] != ids[size-1] || c[size-1] != ids[1] {
			t.Errorf("cycle has %d ids starting %q..., want %d starting [%s %s]",
				len(c), c[:min(3, len(c))], size+1, ids[0], ids[size-1])
		}
		checkCycle(t, g, c)
		order, left := g.Order(nil)
		equal(t, "order", order, nil)
		if len(left) != size {
			t.Errorf("left has %d ids, want %d", len(left), size)
		}
	})

	t.Run("FanOut", func(t *testing.T) {
		ids := make([]string, size+1)
		ids[0] = "root"
		for i := 1; i <= size; i++ {
			ids[i] = fmt.Sprintf("leaf%05d", size-i)
		}
		g := dag.New(ids)
		timed(t, "SetDeps", func() {
			for _, id := range ids[1:] {
				g.SetDeps(id, []string{"root"})
			}
		})
		var order []string
		timed(t, "Order", func() { order, _ = g.Order(nil) })
		equal(t, "order", order, ids)
		var cycles [][]string
		timed(t, "Cycles", func() { cycles = g.Cycles() })
		if cycles != nil {
			t.Errorf("Cycles() = %d cycles, want none", len(cycles))
		}
		var down []string
		timed(t, "Downstream", func() { down = g.Downstream("root") })
		equal(t, "Downstream", down, ids[1:])
		equal(t, "Upstream", g.Upstream(ids[size]), []string{"root"})
		if n := len(g.Dependents("root")); n != size {
			t.Errorf("len(Dependents(root)) = %d, want %d", n, size)
		}
	})

	t.Run("FanIn", func(t *testing.T) {
		ids := make([]string, size+1)
		for i := range size {
			ids[i] = fmt.Sprintf("src%05d", size-i)
		}
		ids[size] = "sink"
		g := dag.New(ids)
		timed(t, "SetDeps", func() { g.SetDeps("sink", ids[:size]) })
		order, _ := g.Order(nil)
		equal(t, "order", order, ids)
		equal(t, "Upstream", g.Upstream("sink"), ids[:size])
	})
}
