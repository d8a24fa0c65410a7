// Package dag is the dependency graph of the cells of one notebook artifact.
//
// Nodes are cell ids. Each node has a position, its index in the artifact's
// cellIds, fixed when the graph is built with [New]. An edge dep -> cell
// means that cell depends on dep: dep must run first. [Graph.Deps] follows
// edges backwards (what a cell reads), [Graph.Dependents] forwards (what
// reads a cell).
//
// The graph answers the questions the engine asks of a notebook: which cells
// are on a cycle and along which path ([Graph.Cycles], [Graph.OnCycle]), in
// what order cells can run ([Graph.Order]), what an edit affects
// ([Graph.Downstream], [Graph.Upstream]). Edges of one cell are replaced
// with [Graph.SetDeps] when that cell is edited. [Graph.Walk] runs a
// callback for every node as its dependencies finish, with a concurrency
// limit and cancellation, from one loop and without recursion; a failure is
// recorded at its root and its downstream is skipped.
//
// Every result is deterministic: lists of nodes are in position order, except
// [Graph.Deps] and [Graph.Dependents], which are sorted by id, and ties in
// [Graph.Order] and [Graph.Cycles] are broken by position, never by map
// iteration order or id spelling. The algorithms are iterative, so deep
// graphs cannot overflow the stack, and run in O(V+E log V) or better.
//
// The package does no I/O and imports only the standard library; the
// goroutines Walk starts have all ended when it returns.
//
// A Graph is not safe for concurrent use: callers that share one between
// goroutines must synchronise access themselves. Methods that only read
// (everything but SetDeps) may run concurrently with each other.
package dag
