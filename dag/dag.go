package dag

import (
	"container/heap"
	"slices"
)

// Graph is a directed graph of cell ids. Create one with [New]; the zero
// value is an empty graph with no nodes.
type Graph struct {
	ids   []string       // ids[i] is the node at position i
	index map[string]int // id -> position

	// deps[i] holds the positions cell i depends on; rdeps[i] the positions
	// that depend on i. Both are kept in step by setEdge and clearDeps.
	deps  []map[int]struct{}
	rdeps []map[int]struct{}
}

// New returns a graph with the given nodes and no edges. The position of a
// node is its index in ids; when an id appears more than once, the first
// occurrence is kept and later ones are dropped, so positions stay dense.
func New(ids []string) *Graph {
	g := &Graph{
		ids:   make([]string, 0, len(ids)),
		index: make(map[string]int, len(ids)),
	}
	for _, id := range ids {
		if _, dup := g.index[id]; dup {
			continue
		}
		g.index[id] = len(g.ids)
		g.ids = append(g.ids, id)
	}
	g.deps = make([]map[int]struct{}, len(g.ids))
	g.rdeps = make([]map[int]struct{}, len(g.ids))
	return g
}

// Nodes returns all ids in position order. The slice is a copy.
func (g *Graph) Nodes() []string {
	return slices.Clone(g.ids)
}

// Has reports whether id is a node.
func (g *Graph) Has(id string) bool {
	_, ok := g.index[id]
	return ok
}

// SetDeps replaces the dependencies of cell with deps. Ids in deps that are
// not nodes are ignored and duplicates are collapsed. A cell listed among its
// own deps keeps that self edge: it is a cycle of one. SetDeps does nothing
// when cell is not a node.
func (g *Graph) SetDeps(cell string, deps []string) {
	c, ok := g.index[cell]
	if !ok {
		return
	}
	g.clearDeps(c)
	for _, dep := range deps {
		if d, ok := g.index[dep]; ok {
			g.setEdge(c, d)
		}
	}
}

func (g *Graph) setEdge(cell, dep int) {
	if g.deps[cell] == nil {
		g.deps[cell] = make(map[int]struct{})
	}
	if g.rdeps[dep] == nil {
		g.rdeps[dep] = make(map[int]struct{})
	}
	g.deps[cell][dep] = struct{}{}
	g.rdeps[dep][cell] = struct{}{}
}

func (g *Graph) clearDeps(cell int) {
	for d := range g.deps[cell] {
		delete(g.rdeps[d], cell)
	}
	g.deps[cell] = nil
}

// Deps returns the direct dependencies of id, sorted by id. It returns nil
// when id is not a node or has no dependencies.
func (g *Graph) Deps(id string) []string {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.sortedIDs(g.deps[i])
}

// Dependents returns the direct dependents of id, sorted by id. It returns
// nil when id is not a node or nothing depends on it.
func (g *Graph) Dependents(id string) []string {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.sortedIDs(g.rdeps[i])
}

func (g *Graph) sortedIDs(set map[int]struct{}) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for i := range set {
		out = append(out, g.ids[i])
	}
	slices.Sort(out)
	return out
}

// snapshot returns adjacency lists built from set, each sorted by position,
// so the algorithms below can walk them iteratively and deterministically.
func (g *Graph) snapshot(sets []map[int]struct{}) [][]int {
	adj := make([][]int, len(sets))
	for i, set := range sets {
		if len(set) == 0 {
			continue
		}
		l := make([]int, 0, len(set))
		for j := range set {
			l = append(l, j)
		}
		slices.Sort(l)
		adj[i] = l
	}
	return adj
}

// cyclicComponents returns the strongly connected components of the graph
// that contain a cycle (more than one node, or one node with a self edge),
// each sorted by position, ordered by the position of their first node.
// adj is the dependency adjacency from snapshot. It is Tarjan's algorithm
// with an explicit call stack.
func cyclicComponents(adj [][]int) [][]int {
	n := len(adj)
	index := make([]int, n) // discovery index + 1; 0 means unvisited
	low := make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	type frame struct{ v, next int }
	var call []frame
	var comps [][]int
	counter := 0

	visit := func(v int) {
		counter++
		index[v], low[v] = counter, counter
		stack = append(stack, v)
		onStack[v] = true
		call = append(call, frame{v: v})
	}

	for root := range n {
		if index[root] != 0 {
			continue
		}
		visit(root)
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < len(adj[v]) {
				w := adj[v][f.next]
				f.next++
				switch {
				case index[w] == 0:
					visit(w)
				case onStack[w]:
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			k := len(stack) - 1
			for stack[k] != v {
				k--
			}
			comp := slices.Clone(stack[k:])
			stack = stack[:k]
			for _, w := range comp {
				onStack[w] = false
			}
			if len(comp) > 1 || hasEdge(adj, v, v) {
				slices.Sort(comp)
				comps = append(comps, comp)
			}
		}
	}
	slices.SortFunc(comps, func(a, b []int) int { return a[0] - b[0] })
	return comps
}

func hasEdge(adj [][]int, from, to int) bool {
	_, ok := slices.BinarySearch(adj[from], to)
	return ok
}

// cyclePath returns a cycle through comp, a cyclic component sorted by
// position, as positions starting and ending at comp[0]. It walks
// dependency edges depth-first inside the component, trying the lowest
// position first and backing out of dead ends, so the path is a simple
// cycle. A self edge is used only when the component is a single node.
func cyclePath(adj [][]int, comp []int) []int {
	s := comp[0]
	if len(comp) == 1 {
		return []int{s, s}
	}
	in := make(map[int]bool, len(comp))
	for _, v := range comp {
		in[v] = true
	}
	seen := map[int]bool{s: true}
	path := []int{s}
	next := []int{0} // next[k] is the next neighbour of path[k] to try
	for len(path) > 0 {
		k := len(path) - 1
		v := path[k]
		if next[k] == len(adj[v]) {
			path, next = path[:k], next[:k]
			continue
		}
		w := adj[v][next[k]]
		next[k]++
		switch {
		case !in[w] || w == v:
		case w == s:
			return append(path, s)
		case !seen[w]:
			seen[w] = true
			path = append(path, w)
			next = append(next, 0)
		}
	}
	// Unreachable: every node of a strongly connected component reaches s.
	return nil
}

// Cycles returns one cycle for each strongly connected component that has
// more than one node, and for each node with a self edge. A cycle is a list
// of ids that starts and ends at the component's node with the lowest
// position, e.g. ["c3", "c4", "c3"] or ["c5", "c5"], and follows edges in
// the "depends on" direction: c3 depends on c4, which depends on c3. At each
// step the walk takes the lowest-position dependency inside the component
// that keeps the path a simple cycle (backtracking out of dead ends); in a
// component of several nodes, self edges are not used, so the path shows
// more than one node. Components are ordered by the position of their first
// node. Cycles returns nil when the graph is acyclic.
func (g *Graph) Cycles() [][]string {
	adj := g.snapshot(g.deps)
	comps := cyclicComponents(adj)
	if len(comps) == 0 {
		return nil
	}
	out := make([][]string, 0, len(comps))
	for _, comp := range comps {
		out = append(out, g.names(cyclePath(adj, comp)))
	}
	return out
}

// OnCycle returns the set of ids that lie on a cycle: the members of the
// components reported by [Graph.Cycles]. The map is never nil.
func (g *Graph) OnCycle() map[string]bool {
	set := make(map[string]bool)
	for _, comp := range cyclicComponents(g.snapshot(g.deps)) {
		for _, v := range comp {
			set[g.ids[v]] = true
		}
	}
	return set
}

// Order returns a topological order, dependencies before dependents, of
// every node that is not in exclude, not on a cycle and not downstream of an
// excluded or cyclic node. Among the nodes ready at each step, the one with
// the lowest position comes first. left lists the nodes left out, in
// position order. Ids in exclude that are not nodes are ignored. Both slices
// are non-nil.
func (g *Graph) Order(exclude map[string]bool) (order, left []string) {
	n := len(g.ids)
	out := make([]bool, n)
	var queue []int
	for id, ex := range exclude {
		if i, ok := g.index[id]; ok && ex && !out[i] {
			out[i] = true
			queue = append(queue, i)
		}
	}
	for _, comp := range cyclicComponents(g.snapshot(g.deps)) {
		for _, v := range comp {
			if !out[v] {
				out[v] = true
				queue = append(queue, v)
			}
		}
	}
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for w := range g.rdeps[v] {
			if !out[w] {
				out[w] = true
				queue = append(queue, w)
			}
		}
	}

	// Kahn's algorithm over the kept nodes. Every dependency of a kept node
	// is kept, since otherwise the node would be downstream of a left-out one.
	indegree := make([]int, n)
	ready := &minHeap{}
	order = make([]string, 0, n)
	left = []string{}
	for v := range n {
		if out[v] {
			left = append(left, g.ids[v])
			continue
		}
		indegree[v] = len(g.deps[v])
		if indegree[v] == 0 {
			*ready = append(*ready, v)
		}
	}
	heap.Init(ready)
	for ready.Len() > 0 {
		v := heap.Pop(ready).(int)
		order = append(order, g.ids[v])
		for w := range g.rdeps[v] {
			indegree[w]--
			if indegree[w] == 0 {
				heap.Push(ready, w)
			}
		}
	}
	return order, left
}

// minHeap is a min-heap of positions for container/heap.
type minHeap []int

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Downstream returns the transitive dependents of ids, in position order.
// The ids themselves are included only when reachable from one of them
// through an edge, that is when they lie on a cycle. Ids that are not nodes
// are ignored.
func (g *Graph) Downstream(ids ...string) []string {
	return g.closure(g.rdeps, ids)
}

// Upstream returns the transitive dependencies of ids, in position order,
// with the same convention as [Graph.Downstream].
func (g *Graph) Upstream(ids ...string) []string {
	return g.closure(g.deps, ids)
}

// closure returns the nodes reachable from ids through at least one edge of
// adj, in position order.
func (g *Graph) closure(adj []map[int]struct{}, ids []string) []string {
	reached := make(map[int]bool)
	var queue []int
	for _, id := range ids {
		if i, ok := g.index[id]; ok {
			queue = append(queue, i)
		}
	}
	var found []int
	for len(queue) > 0 {
		v := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for w := range adj[v] {
			if !reached[w] {
				reached[w] = true
				found = append(found, w)
				queue = append(queue, w)
			}
		}
	}
	slices.Sort(found)
	return g.names(found)
}

func (g *Graph) names(positions []int) []string {
	if len(positions) == 0 {
		return nil
	}
	out := make([]string, len(positions))
	for k, p := range positions {
		out[k] = g.ids[p]
	}
	return out
}
