package dag

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrCycle is the error of a node on a cycle: it can never run.
var ErrCycle = errors.New("on a dependency cycle")

// UpstreamError is the error of a node that did not run because a node it
// depends on, directly or not, failed. Root names the node that failed, so
// a failure is recorded once, at its root, and not repeated downstream.
type UpstreamError struct {
	Root string
}

func (e *UpstreamError) Error() string { return "upstream " + e.Root + " failed" }

// Walk calls visit for every node of g once each of its dependencies has
// returned nil, at most limit at a time (limit <= 0 means no limit), each
// on a goroutine of its own, and returns when every node has been visited
// or skipped, with the goroutines it started ended. Among the nodes ready
// at once, the one with the lowest position starts first.
//
// The result maps each node that did not succeed to why: the error visit
// returned (a panic in visit is recovered into one), [ErrCycle] for a node
// on a cycle, an [*UpstreamError] naming the failed root for a node
// downstream of a failure, or the context's cause for a node not started
// before ctx was done. ctx is passed to visit, which should honour it.
//
// Walk drives the nodes from one loop on the caller's goroutine: a node
// finishing wakes its dependents there, so nothing recurses. The graph must
// not change during the walk.
func (g *Graph) Walk(ctx context.Context, limit int, visit func(ctx context.Context, id string) error) map[string]error {
	n := len(g.ids)
	if limit <= 0 || limit > n {
		limit = max(n, 1)
	}
	failed := map[string]error{}
	waiting := make([]int, n) // dependencies not yet succeeded
	skipped := make([]bool, n)
	ready := &minHeap{}
	var skip []int // nodes to mark skipped, with the root that caused it
	var roots []string
	for _, comp := range cyclicComponents(g.snapshot(g.deps)) {
		for _, v := range comp {
			skipped[v] = true
			failed[g.ids[v]] = ErrCycle
			for w := range g.rdeps[v] {
				skip, roots = append(skip, w), append(roots, g.ids[v])
			}
		}
	}
	for v := range n {
		waiting[v] = len(g.deps[v])
		if waiting[v] == 0 && !skipped[v] {
			*ready = append(*ready, v)
		}
	}
	heap.Init(ready)

	type result struct {
		v   int
		err error
	}
	done := make(chan result)
	running := 0
	for {
		// Propagate skips iteratively: the root's name, once.
		for len(skip) > 0 {
			v, root := skip[len(skip)-1], roots[len(roots)-1]
			skip, roots = skip[:len(skip)-1], roots[:len(roots)-1]
			if skipped[v] {
				continue
			}
			skipped[v] = true
			failed[g.ids[v]] = &UpstreamError{Root: root}
			for w := range g.rdeps[v] {
				skip, roots = append(skip, w), append(roots, root)
			}
		}
		for running < limit && ready.Len() > 0 {
			v := heap.Pop(ready).(int)
			if skipped[v] {
				continue
			}
			if err := context.Cause(ctx); err != nil {
				failed[g.ids[v]] = err
				skipped[v] = true
				continue
			}
			running++
			go func() {
				done <- result{v, call(ctx, visit, g.ids[v])}
			}()
		}
		if running == 0 {
			break
		}
		r := <-done
		running--
		if r.err != nil {
			failed[g.ids[r.v]] = r.err
			for w := range g.rdeps[r.v] {
				skip, roots = append(skip, w), append(roots, g.ids[r.v])
			}
			continue
		}
		for w := range g.rdeps[r.v] {
			waiting[w]--
			if waiting[w] == 0 && !skipped[w] {
				heap.Push(ready, w)
			}
		}
	}
	// Nodes never reached: ready ones left when ctx ended, and their
	// downstream.
	for v := range n {
		if _, ok := failed[g.ids[v]]; !ok && waiting[v] > 0 {
			if err := context.Cause(ctx); err != nil {
				failed[g.ids[v]] = err
			}
		}
	}
	return failed
}

// call runs visit, turning a panic into an error.
func call(ctx context.Context, visit func(context.Context, string) error, id string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v\n%s", id, p, debug.Stack())
		}
	}()
	return visit(ctx, id)
}
