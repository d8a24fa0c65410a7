package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/engine"
)

// maxBatch bounds the events published between two waits for acks: the
// 1,000 queued events a 1,000-cell run starts with go in one or two.
const maxBatch = 1024

// Publisher publishes events to JetStream in the order it is given them,
// keeping the KV bucket's latest state per cell.
//
// Observing an event never blocks: it is encoded and queued in memory. One
// goroutine publishes the queue, a batch at a time, with one write per
// event, into the bucket (see send): the server stores it as the cell's
// latest state and then publishes it again on the event's subject, where
// subscribers and CELLSD_EVENTS get it. So a client that subscribes to a
// session's events and then reads the bucket misses nothing: an event it
// did not receive was delivered before it subscribed, and its state (or a
// later one) was already in the bucket. An event counts as published once
// CELLSD_EVENTS holds it too. A publish that fails (NATS down, a server
// restarting) is retried, in order, until it is stored; a message id per
// event lets the bucket and the stream drop the copies of a retry.
type Publisher struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu     sync.Mutex
	queue  []message
	wake   chan struct{}
	closed bool

	ctx    context.Context // cancelled by Close when its deadline passes
	cancel context.CancelFunc
	done   chan struct{}

	published atomic.Int64
	hooks     Hooks

	events jetstream.Stream // CELLSD_EVENTS, once send has looked it up
}

// Hooks observe a Publisher, for metrics.
type Hooks struct {
	// Published is called with the number of events the server stored.
	Published func(n int)
	// Retried is called when a batch is published again after a failure.
	Retried func(err error)
}

type message struct {
	subject, key string
	data         []byte
	id           string // Nats-Msg-Id
}

// NewPublisher starts a publisher on js, which should be made with
// jetstream.WithPublishAsyncTimeout: an acknowledgement lost with a server
// is only noticed when it times out. Call Close to stop it.
func NewPublisher(js jetstream.JetStream, log *slog.Logger, hooks Hooks) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{js: js, log: log.With("component", "natsbus"), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), hooks: hooks}
	go p.loop()
	return p
}

// Observer returns the function a session gives every event to. Each call
// makes a new incarnation id, so a session id used again (a restarted
// daemon, a reopened session) never has its events taken for duplicates
// of the old ones.
func (p *Publisher) Observer() func(engine.Event) {
	incarnation := nuid.Next()
	return func(ev engine.Event) {
		key := Key(ev)
		p.enqueue(message{subject: SubjectPrefix + "." + key, key: key, data: Marshal(ev),
			id: incarnation + "." + strconv.FormatInt(ev.Seq, 10)})
	}
}

func (p *Publisher) enqueue(m message) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.log.Warn("event after close dropped", "subject", m.subject)
		return
	}
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Buffered returns the number of events not yet stored by the server.
func (p *Publisher) Buffered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// Published returns the number of events the server has stored.
func (p *Publisher) Published() int64 { return p.published.Load() }

// Flush waits until every event given so far is stored, or ctx is done.
func (p *Publisher) Flush(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if p.Buffered() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush events: %d not published: %w", p.Buffered(), ctx.Err())
		case <-p.done:
			if n := p.Buffered(); n > 0 {
				return fmt.Errorf("flush events: publisher closed with %d not published", n)
			}
			return nil
		case <-tick.C:
		}
	}
}

// Close publishes what is queued, waiting until ctx is done at most, then
// stops. Events given after Close are dropped (and logged).
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	p.cancel()
	if n := p.Buffered(); n > 0 {
		return fmt.Errorf("close event publisher: %d events not published", n)
	}
	return nil
}

func (p *Publisher) loop() {
	defer close(p.done)
	// stored events at the head of the queue are in the bucket (and so
	// delivered) but not yet seen in CELLSD_EVENTS: they are checked
	// once the queue is drained, the last one standing for them all.
	stored := 0
	for {
		p.mu.Lock()
		batch := p.queue[stored:min(len(p.queue), stored+maxBatch)]
		closed := p.closed
		p.mu.Unlock()
		switch {
		case len(batch) > 0:
			if !p.retry(func(retry bool) error { return p.send(batch, retry) }, len(batch)) {
				return // only when Close gave up
			}
			stored += len(batch)
			continue
		case stored > 0:
			p.mu.Lock()
			done := p.queue[:stored]
			p.mu.Unlock()
			if !p.retry(func(bool) error { return p.capture(done) }, len(done)) {
				return
			}
			p.mu.Lock()
			p.queue = p.queue[stored:]
			if len(p.queue) == 0 {
				p.queue = nil // let the backing array go
			}
			p.mu.Unlock()
			p.published.Add(int64(stored))
			if p.hooks.Published != nil {
				p.hooks.Published(stored)
			}
			stored = 0
			continue
		case closed:
			return
		}
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			return
		}
	}
}

// retry calls f until it succeeds, with retry set after a failure and a
// growing pause between calls. It returns false if Close gave up first.
func (p *Publisher) retry(f func(retry bool) error, events int) bool {
	backoff := 10 * time.Millisecond
	for retry := false; ; retry = true {
		err := f(retry)
		if err == nil {
			return true
		}
		if p.ctx.Err() != nil {
			return false
		}
		if p.hooks.Retried != nil {
			p.hooks.Retried(err)
		}
		p.log.Debug("publish failed; retrying", "events", events, "err", err)
		select {
		case <-time.After(backoff):
		case <-p.ctx.Done():
			return false
		}
		backoff = min(2*backoff, time.Second)
	}
}

// send stores a batch with one write per event, into the bucket: the
// bucket's stream stores each event as its key's latest state and then
// the server publishes it again on the event's subject (Setup's
// RePublish), where the subscribers and CELLSD_EVENTS get it. So an event
// reaches a subscriber only once its state is in the bucket, and a
// subscriber that reads the bucket after subscribing misses nothing. A
// retry probes first (see store); the bucket drops the events it already
// has by their message id, and so does CELLSD_EVENTS.
func (p *Publisher) send(batch []message, retry bool) error {
	states := make([]*nats.Msg, len(batch))
	for i, m := range batch {
		states[i] = &nats.Msg{Subject: "$KV." + BucketName + "." + m.key, Data: m.data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{m.id}}}
	}
	if err := p.store(states, retry); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	return nil
}

// captureWait bounds how long capture waits for CELLSD_EVENTS to store
// the republished copy of an event.
const captureWait = 2 * time.Second

// capture returns once CELLSD_EVENTS holds the events, which the bucket
// has stored. The server republishes a stream's messages in the order it
// stores them, and the stream stores them in that order, so the last
// event there means they all are. Should it not turn up (a stream made
// again meanwhile, a cluster's leader changing), the events are published
// to the stream themselves; it drops those it has by their id (a
// subscriber may then see an event twice, with the same seq).
func (p *Publisher) capture(events []message) error {
	if p.events == nil {
		st, err := p.js.Stream(p.ctx, StreamName)
		if err != nil {
			return fmt.Errorf("stream %s: %w", StreamName, err)
		}
		p.events = st
	}
	last := events[len(events)-1]
	deadline := time.Now().Add(captureWait)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		raw, err := p.events.GetLastMsgForSubject(p.ctx, last.subject)
		switch {
		case err == nil && raw.Header.Get(jetstream.MsgIDHeader) == last.id:
			return nil
		case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
			return fmt.Errorf("stream %s: last event: %w", StreamName, err)
		case time.Now().After(deadline):
			p.log.Warn("events not captured by the stream; publishing them to it", "stream", StreamName, "events", len(events))
			for len(events) > 0 {
				batch := events[:min(len(events), maxBatch)]
				msgs := make([]*nats.Msg, len(batch))
				for i, m := range batch {
					msgs[i] = &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{jetstream.MsgIDHeader: []string{m.id}}}
				}
				if err := p.store(msgs, true); err != nil {
					return fmt.Errorf("store events in %s: %w", StreamName, err)
				}
				events = events[len(batch):]
			}
			return nil
		}
		select {
		case <-time.After(wait):
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
}

// store publishes msgs, all bound for one stream, and returns once the
// server has stored them: all but the last go out as plain messages, the
// last asks for an acknowledgement. The stream stores one connection's
// messages in the order they arrive, so that one acknowledgement covers
// them all, at a fraction of the cost of one each. On any failure the
// caller sends the whole batch again; the stream drops the events it
// already has by their message id, and a state written twice is the same
// state.
//
// With probe (after a failure), the first message goes alone and is
// acknowledged before the others, proving the stream is back: a server
// still starting would otherwise drop plain messages without a word while
// the acknowledged last one got through. The connection must not buffer
// while reconnecting (nats.ReconnectBufSize(-1)), so nothing sent during
// an outage turns up after the batch sent again.
func (p *Publisher) store(msgs []*nats.Msg, probe bool) error {
	if len(msgs) == 0 {
		return nil
	}
	if probe && len(msgs) > 1 {
		if err := p.store(msgs[:1], false); err != nil {
			return err
		}
		msgs = msgs[1:]
	}
	nc := p.js.Conn()
	last := len(msgs) - 1
	for _, m := range msgs[:last] {
		if err := nc.PublishMsg(m); err != nil {
			return err
		}
	}
	f, err := p.js.PublishMsgAsync(msgs[last])
	if err != nil {
		return err
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}
