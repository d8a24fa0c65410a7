package dag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellsd/cellsd/dag"
)

// recorder records the order in which a walk starts and ends nodes.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(ev string) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) index(ev string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.events {
		if e == ev {
			return i
		}
	}
	return -1
}

func TestWalk_Order(t *testing.T) {
	// Timing-dependent: repeated, as terraform's walk tests are.
	for range 50 {
		g := build(t, []string{"z", "a", "m", "b", "c"}, edges{"a": {"z"}, "m": {"z"}, "b": {"a", "m"}, "c": {"b"}})
		var r recorder
		failed := g.Walk(context.Background(), 0, func(_ context.Context, id string) error {
			r.add("start " + id)
			r.add("end " + id)
			return nil
		})
		if len(failed) != 0 {
			t.Fatalf("Walk failed: %v", failed)
		}
		for cell, deps := range map[string][]string{"a": {"z"}, "m": {"z"}, "b": {"a", "m"}, "c": {"b"}} {
			for _, d := range deps {
				if r.index("end "+d) > r.index("start "+cell) {
					t.Fatalf("%s started before its dependency %s ended: %v", cell, d, r.events)
				}
			}
		}
		if len(r.events) != 10 {
			t.Fatalf("events = %v, want each of 5 nodes started and ended once", r.events)
		}
	}
}

func TestWalk_OneAtATimeIsPositionOrder(t *testing.T) {
	ids := []string{"z", "a", "m", "b", "c", "y"}
	g := build(t, ids, edges{"a": {"z"}, "m": {"z"}, "b": {"a", "m"}, "c": {"y"}})
	var got []string
	g.Walk(context.Background(), 1, func(_ context.Context, id string) error {
		got = append(got, id)
		return nil
	})
	order, _ := g.Order(nil)
	equal(t, "visits with limit 1", got, order)
}

func TestWalk_LimitHonoured(t *testing.T) {
	for _, limit := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			ids := []string{"root"}
			for i := range 24 {
				ids = append(ids, fmt.Sprintf("leaf%02d", i))
			}
			g := dag.New(ids)
			for _, id := range ids[1:] {
				g.SetDeps(id, []string{"root"})
			}
			var now, peak atomic.Int32
			failed := g.Walk(context.Background(), limit, func(context.Context, string) error {
				n := now.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				now.Add(-1)
				return nil
			})
			if len(failed) != 0 {
				t.Fatalf("Walk failed: %v", failed)
			}
			if p := peak.Load(); p > int32(limit) {
				t.Errorf("%d nodes ran at once, limit %d", p, limit)
			}
			if limit > 1 && peak.Load() < 2 {
				t.Errorf("at most %d node ran at once with limit %d: the walk did not run leaves concurrently", peak.Load(), limit)
			}
		})
	}
}

func TestWalk_FailureBlocksDependents(t *testing.T) {
	g := build(t, []string{"src", "bad", "mid", "leaf", "other"},
		edges{"bad": {"src"}, "mid": {"bad"}, "leaf": {"mid", "src"}, "other": {"src"}})
	boom := errors.New("boom")
	var visited []string
	var mu sync.Mutex
	failed := g.Walk(context.Background(), 2, func(_ context.Context, id string) error {
		mu.Lock()
		visited = append(visited, id)
		mu.Unlock()
		if id == "bad" {
			return boom
		}
		return nil
	})
	if !errors.Is(failed["bad"], boom) {
		t.Errorf("failed[bad] = %v, want boom", failed["bad"])
	}
	for _, id := range []string{"mid", "leaf"} {
		var up *dag.UpstreamError
		if !errors.As(failed[id], &up) || up.Root != "bad" {
			t.Errorf("failed[%s] = %v, want upstream bad failed (the root, not %q)", id, failed[id], "mid")
		}
	}
	if len(failed) != 3 {
		t.Errorf("failed = %v, want bad, mid, leaf only", failed)
	}
	for _, id := range visited {
		if id == "mid" || id == "leaf" {
			t.Errorf("%s was visited although bad failed", id)
		}
	}
}

func TestWalk_Cancel(t *testing.T) {
	for range 50 {
		g := build(t, []string{"a", "b", "c", "d"}, edges{"c": {"a"}, "d": {"c"}})
		ctx, cancel := context.WithCancelCause(context.Background())
		started := make(chan struct{})
		stop := errors.New("stopped")
		var visited atomic.Int32
		failed := g.Walk(ctx, 1, func(ctx context.Context, id string) error {
			visited.Add(1)
			if id != "a" {
				return nil
			}
			close(started)
			go func() { <-started; cancel(stop) }()
			<-ctx.Done() // a honours its context
			return context.Cause(ctx)
		})
		if visited.Load() != 1 {
			t.Fatalf("%d nodes visited, want only a (b waits for the one slot, then ctx is done)", visited.Load())
		}
		for _, id := range []string{"a", "b", "c", "d"} {
			if !errors.Is(failed[id], stop) {
				var up *dag.UpstreamError
				if id == "c" || id == "d" {
					if errors.As(failed[id], &up) && up.Root == "a" {
						continue
					}
				}
				t.Fatalf("failed[%s] = %v, want the cancel cause (or upstream a)", id, failed[id])
			}
		}
	}
}

func TestWalk_CyclesAndPanics(t *testing.T) {
	g := build(t, []string{"a", "b", "c", "p", "q"}, edges{"a": {"b"}, "b": {"a"}, "c": {"b"}, "q": {"p"}})
	failed := g.Walk(context.Background(), 0, func(_ context.Context, id string) error {
		if id == "p" {
			panic("kaboom")
		}
		return nil
	})
	for _, id := range []string{"a", "b"} {
		if !errors.Is(failed[id], dag.ErrCycle) {
			t.Errorf("failed[%s] = %v, want ErrCycle", id, failed[id])
		}
	}
	var up *dag.UpstreamError
	if !errors.As(failed["c"], &up) || (up.Root != "a" && up.Root != "b") {
		t.Errorf("failed[c] = %v, want upstream of the cycle", failed["c"])
	}
	if err := failed["p"]; err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Errorf("failed[p] = %v, want the recovered panic", err)
	}
	if !errors.As(failed["q"], &up) || up.Root != "p" {
		t.Errorf("failed[q] = %v, want upstream p failed", failed["q"])
	}
}

func TestWalk_Empty(t *testing.T) {
	if failed := dag.New(nil).Walk(context.Background(), 4, nil); len(failed) != 0 {
		t.Errorf("Walk of an empty graph = %v", failed)
	}
}
