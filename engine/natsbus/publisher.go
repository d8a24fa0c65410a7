package natsbus

import (
	"context"
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

// maxBatch bounds the events published between two waits for acks.
const maxBatch = 256

// Publisher publishes events to JetStream in the order it is given them,
// and keeps the KV bucket's latest state per cell.
//
// Observing an event never blocks: it is encoded and queued in memory. One
// goroutine publishes the queue, a batch at a time: first the batch's
// latest state per cell into the KV bucket, then, once the server has
// stored those, the events themselves. So a client that subscribes to a
// session's events and then reads the bucket misses nothing: an event it
// did not receive was published before it subscribed, and its state (or a
// later one) was already in the bucket. A publish that fails (NATS down, a
// server restarting) is retried, in order, until it is stored; a message id
// per event lets the stream drop the copies of a retry.
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
	for {
		p.mu.Lock()
		batch := p.queue[:min(len(p.queue), maxBatch)]
		closed := p.closed
		p.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			select {
			case <-p.wake:
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff := 10 * time.Millisecond
		for retry := false; ; retry = true {
			err := p.send(batch, retry)
			if err == nil {
				break
			}
			if p.ctx.Err() != nil {
				return // only when Close gave up
			}
			if p.hooks.Retried != nil {
				p.hooks.Retried(err)
			}
			p.log.Debug("publish failed; retrying", "events", len(batch), "err", err)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
		}
		p.mu.Lock()
		p.queue = p.queue[len(batch):]
		if len(p.queue) == 0 {
			p.queue = nil // let the backing array go
		}
		p.mu.Unlock()
		p.published.Add(int64(len(batch)))
		if p.hooks.Published != nil {
			p.hooks.Published(len(batch))
		}
	}
}

// send stores a batch: first its latest state per key in the bucket, then
// its events in the stream, so a subscriber that reads the bucket after
// subscribing misses nothing. A retry probes first (see store).
func (p *Publisher) send(batch []message, retry bool) error {
	latest := map[string]int{}
	for i, m := range batch {
		latest[m.key] = i
	}
	states := make([]*nats.Msg, 0, len(latest))
	for i, m := range batch {
		if latest[m.key] == i {
			states = append(states, &nats.Msg{Subject: "$KV." + BucketName + "." + m.key, Data: m.data})
		}
	}
	if err := p.store(states, retry); err != nil {
		return fmt.Errorf("store states: %w", err)
	}
	events := make([]*nats.Msg, len(batch))
	for i, m := range batch {
		events[i] = &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{jetstream.MsgIDHeader: []string{m.id}}}
	}
	if err := p.store(events, retry); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	return nil
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
