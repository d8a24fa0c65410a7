package engine

import "sync"

// eventQueue delivers events to an observer in order on its own goroutine,
// so the scheduler never waits for the observer.
type eventQueue struct {
	deliver   func(Event)
	mu        sync.Mutex
	cond      *sync.Cond
	buf       []Event
	pushed    int64
	delivered int64
	closed    bool
	spawn     spawner // the delivering goroutine
}

func newEventQueue(deliver func(Event)) *eventQueue {
	q := &eventQueue{deliver: deliver}
	q.cond = sync.NewCond(&q.mu)
	if deliver == nil {
		return q
	}
	q.spawn.Go(func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		for {
			for len(q.buf) == 0 && !q.closed {
				q.cond.Wait()
			}
			if len(q.buf) == 0 {
				return
			}
			batch := q.buf
			q.buf = nil
			q.mu.Unlock()
			for _, ev := range batch {
				q.deliver(ev)
			}
			q.mu.Lock()
			q.delivered += int64(len(batch))
			q.cond.Broadcast()
		}
	})
	return q
}

func (q *eventQueue) push(ev Event) {
	if q.deliver == nil {
		return
	}
	q.mu.Lock()
	q.buf = append(q.buf, ev)
	q.pushed++
	q.mu.Unlock()
	q.cond.Broadcast()
}

// flush waits until every event pushed so far has been delivered.
func (q *eventQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.deliver != nil && q.delivered < q.pushed {
		q.cond.Wait()
	}
}

// close delivers what is queued and stops the goroutine.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
	q.spawn.close()
	q.spawn.wait()
}
