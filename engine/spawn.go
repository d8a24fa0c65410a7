package engine

import "sync"

// spawner is the one way the engine starts a goroutine: Go refuses once
// close has been called, and wait returns when every goroutine it started
// has ended (nats-server's startGoRoutine). hold does the same for work on
// a caller's goroutine that Close must wait for. The zero value is ready.
type spawner struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs fn on a new goroutine and reports true, or reports false after
// close.
func (g *spawner) Go(fn func()) bool {
	if !g.add() {
		return false
	}
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// hold counts the caller as one of the spawner's until it calls the
// returned release; ok is false after close.
func (g *spawner) hold() (release func(), ok bool) {
	if !g.add() {
		return nil, false
	}
	return g.wg.Done, true
}

func (g *spawner) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// close refuses every later Go and hold.
func (g *spawner) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// wait blocks until every goroutine started (and every hold taken) has
// ended.
func (g *spawner) wait() { g.wg.Wait() }

// sequencer lets work that must not run under a lock keep the order in
// which it was decided under it: take a turn with the lock held, then
// wait for it, do the work and call done, without it.
type sequencer struct {
	mu         sync.Mutex
	cond       *sync.Cond
	next, turn uint64
}

func (q *sequencer) take() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.next
	q.next++
	return t
}

func (q *sequencer) wait(t uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cond == nil {
		q.cond = sync.NewCond(&q.mu)
	}
	for q.turn != t {
		q.cond.Wait()
	}
}

func (q *sequencer) done() {
	q.mu.Lock()
	q.turn++
	if q.cond != nil {
		q.cond.Broadcast()
	}
	q.mu.Unlock()
}
