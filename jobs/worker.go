package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
	"github.com/cellsd/cellsd/engine/natsbus"
)

// ErrNoConnection is wrapped when a worker took a job for a connection
// it cannot run.
var ErrNoConnection = errors.New("no such connection on the worker")

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// Name names the worker in events, provenance and metrics.
	Name string
	// Connections are the connections whose jobs it takes; each must
	// carry its credentials.
	Connections []connectors.Connection
	// Concurrency bounds the jobs it runs at once (default 4).
	Concurrency int
	// MaxResultBytes bounds every result it streams, on top of the
	// job's own bound; 0: no bound of its own.
	MaxResultBytes int64
	// Open opens a connection's Source (default OpenSource).
	Open func(connectors.Connection) (connectors.Source, error)
	// Registerer takes the worker's metrics (none when nil).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Worker takes jobs from CELLSD_JOBS and runs them. New has no side
// effects; Open starts it; Close stops it.
type Worker struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts WorkerOptions
	log  *slog.Logger
	m    *metrics

	slots chan struct{}

	mu      sync.Mutex
	sources map[string]connectors.Source
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool
}

// NewWorker returns a worker on nc.
func NewWorker(nc *nats.Conn, opts WorkerOptions) (*Worker, error) {
	if opts.Name == "" {
		return nil, errors.New("a worker needs a name")
	}
	if len(opts.Connections) == 0 {
		return nil, errors.New("a worker needs at least one connection")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Open == nil {
		opts.Open = OpenSource
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer, opts.Name)
	if err != nil {
		return nil, err
	}
	return &Worker{nc: nc, js: js, opts: opts, log: log.With("component", "worker", "worker", opts.Name), m: m,
		slots: make(chan struct{}, opts.Concurrency), sources: map[string]connectors.Source{}}, nil
}

// Open makes the stream and the consumers of the worker's connections
// and starts taking jobs.
//
// The stream is created only when it does not exist yet (a worker
// started before any engine), so a worker's NATS user needs no right to
// change it: see README "Workers on other machines".
func (w *Worker) Open(ctx context.Context) error {
	if _, err := w.js.Stream(ctx, StreamName); errors.Is(err, jetstream.ErrStreamNotFound) {
		err = ensureStream(ctx, w.js)
		if err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("stream %s: %w", StreamName, err)
	}
	var cons []jetstream.Consumer
	for _, c := range w.opts.Connections {
		cn, err := w.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
			Durable:       Consumer(c.ID),
			Description:   "cellsd workers of connection " + c.ID,
			FilterSubject: Subject(c.ID),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       AckWait,
			MaxDeliver:    MaxDeliver,
			MaxAckPending: -1,
		})
		if err != nil {
			return fmt.Errorf("consumer of connection %s: %w", c.ID, err)
		}
		cons = append(cons, cn)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("worker closed")
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	ids := make([]string, len(cons))
	for i, cn := range cons {
		ids[i] = w.opts.Connections[i].ID
		w.wg.Add(1)
		go w.pull(cn, w.opts.Connections[i])
	}
	w.wg.Add(1)
	go w.present(ids)
	w.log.Info("worker taking jobs", "connections", len(cons), "concurrency", w.opts.Concurrency)
	return nil
}

// Close stops taking jobs, cancels the running ones (they go back to the
// queue for another worker), waits for them and closes the sources. It is
// safe to call more than once.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for id, s := range w.sources {
		errs = append(errs, s.Close())
		delete(w.sources, id)
	}
	return errors.Join(errs...)
}

// pull takes conn's jobs, one free slot at a time.
func (w *Worker) pull(cn jetstream.Consumer, conn connectors.Connection) {
	defer w.wg.Done()
	for {
		select {
		case w.slots <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
		batch, err := cn.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond))
		var msg jetstream.Msg
		if err == nil {
			for m := range batch.Messages() {
				msg = m
			}
		}
		if msg == nil {
			<-w.slots
			if w.ctx.Err() != nil {
				return
			}
			if err != nil {
				w.log.Warn("fetch jobs", "connection", conn.ID, "err", err)
				select {
				case <-time.After(time.Second):
				case <-w.ctx.Done():
					return
				}
			}
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.slots }()
			w.run(msg, conn)
		}()
	}
}

func (w *Worker) source(c connectors.Connection) (connectors.Source, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.sources[c.ID]; ok {
		return s, nil
	}
	s, err := w.opts.Open(c)
	if err != nil {
		return nil, err
	}
	w.sources[c.ID] = s
	return s, nil
}

// Reasons a job's context ends on the worker.
var (
	errEngineCancel = errors.New("cancelled by the engine")
	errEngineGone   = errors.New("the engine is gone")
	errSuperseded   = errors.New("the job runs on another worker")
	errClosing      = errors.New("the worker is closing")
)

// run runs one delivery of a job.
func (w *Worker) run(msg jetstream.Msg, conn connectors.Connection) {
	md, err := msg.Metadata()
	if err != nil {
		msg.Term()
		return
	}
	attempt := int(md.NumDelivered)
	var job Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil || job.Reply == "" {
		w.log.Warn("job undecodable; dropped", "subject", msg.Subject(), "err", err)
		msg.Term()
		return
	}
	log := w.log.With("job", job.ID, "connection", job.Connector, "attempt", attempt)
	if job.Deadline != nil && time.Now().After(*job.Deadline) {
		msg.Term()
		return
	}
	if !job.ReadOnly && attempt > 1 {
		msg.Term() // the engine fails the cell
		return
	}

	ctx, cancel := context.WithCancelCause(w.ctx)
	defer cancel(nil)
	if job.Deadline != nil {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, *job.Deadline)
		defer c2()
	}
	fl := newFlow()
	fetched := make(chan struct{})
	ctl, err := w.nc.Subscribe(w.nc.NewInbox(), func(m *nats.Msg) {
		var c struct {
			Ack    *int64 `json:"ack"`
			Cancel bool   `json:"cancel"`
		}
		if json.Unmarshal(m.Data, &c) != nil {
			return
		}
		if c.Ack != nil {
			fl.ack(*c.Ack)
		}
		if c.Cancel {
			cancel(errEngineCancel)
			if m.Reply != "" {
				go func() {
					<-fetched
					m.Respond([]byte(`{"ok":true}`))
				}()
			}
		}
	})
	if err != nil {
		msg.NakWithDelay(time.Second)
		return
	}
	defer ctl.Unsubscribe()

	hdr := func(typ string) nats.Header {
		return nats.Header{HdrType: {typ}, HdrAttempt: {strconv.Itoa(attempt)}, HdrWorker: {w.opts.Name}}
	}
	request := func(typ string, body []byte, timeout time.Duration) (*nats.Msg, error) {
		return w.nc.RequestMsg(&nats.Msg{Subject: job.Reply, Header: hdr(typ), Data: body}, timeout)
	}
	rep, err := request(MsgStart, marshal(Start{Worker: w.opts.Name, Attempt: attempt, Control: ctl.Subject, Ack: msg.Reply()}), 5*time.Second)
	var g Go
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		log.Info("job dropped: its engine is gone")
		msg.Term()
		close(fetched)
		return
	case err != nil:
		msg.NakWithDelay(time.Second)
		close(fetched)
		return
	case json.Unmarshal(rep.Data, &g) != nil || !g.OK:
		log.Info("job dropped", "reason", g.Reason)
		if g.Reason != "a later attempt runs" {
			msg.Term()
		}
		close(fetched)
		return
	}
	fl.window = int64(max(g.Window, 1))
	w.m.run.Add(1)
	w.m.running.Add(1)
	defer w.m.running.Add(-1)
	if attempt > 1 {
		w.m.retried.Add(1)
	}
	log.Info("job started")

	// Heartbeats: InProgress keeps JetStream from redelivering the job,
	// the request tells the engine this worker lives (and the answer
	// whether the engine still wants the job).
	hbDone := make(chan struct{})
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		misses := 0
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
			}
			msg.InProgress()
			rep, err := request(MsgHeartbeat, nil, 2*time.Second)
			var b Beat
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				cancel(errEngineGone)
				return
			case err != nil:
				if misses++; misses >= 3 {
					cancel(errEngineGone)
					return
				}
			case json.Unmarshal(rep.Data, &b) == nil && b.Cancel:
				cancel(errSuperseded)
				return
			default:
				misses = 0
			}
		}
	}()

	start := time.Now()
	sw := &streamWriter{w: w, job: &job, hdr: hdr, ctx: ctx, cancel: cancel, flow: fl,
		maxBytes: job.MaxResultBytes, part: int(w.nc.MaxPayload() - 8<<10)}
	if m := w.opts.MaxResultBytes; m > 0 && (sw.maxBytes == 0 || m < sw.maxBytes) {
		sw.maxBytes = m
	}
	var ferr error
	if job.Engine != conn.Engine {
		ferr = fmt.Errorf("%w: the worker's connection %s is %s, the job's %s", ErrNoConnection, conn.ID, conn.Engine, job.Engine)
	} else if src, err := w.source(conn); err != nil {
		ferr = err
	} else {
		ferr = src.Fetch(ctx, job.Query(), sw)
	}
	close(fetched)
	close(hbDone)
	hbWG.Wait()

	if cause := context.Cause(ctx); ctx.Err() != nil && sw.err == nil && !errors.Is(cause, context.DeadlineExceeded) {
		switch cause {
		case errClosing, context.Canceled:
			msg.Nak() // another worker takes it now
		case errSuperseded:
			// the delivery is another worker's now
		default:
			msg.Term()
		}
		log.Info("job stopped", "why", cause)
		return
	}
	if sw.err != nil {
		ferr = fmt.Errorf("connection %s: %w", conn.ID, sw.err)
	}
	if ferr != nil {
		w.m.failed.Add(1)
		log.Info("job failed", "err", ferr)
		e := errorBody(conn, ferr)
		if w.finish(request, MsgError, marshal(e)) {
			msg.Term()
		}
		return
	}
	end := End{Rows: sw.rows, Bytes: sw.bytes, Parts: sw.parts, Meta: Meta{Worker: w.opts.Name, Attempt: attempt,
		Connector: conn.ID, Engine: conn.Engine, DurationMs: float64(time.Since(start).Microseconds()) / 1000}}
	if w.finish(request, MsgEnd, marshal(end)) {
		actx, c := context.WithTimeout(context.Background(), 5*time.Second)
		msg.DoubleAck(actx)
		c()
	}
	log.Info("job done", "rows", sw.rows, "bytes", sw.bytes)
}

// finish sends the job's last message and reports whether the delivery
// is to be removed from the queue: the engine took it, or is gone.
func (w *Worker) finish(request func(string, []byte, time.Duration) (*nats.Msg, error), typ string, body []byte) bool {
	for range 3 {
		rep, err := request(typ, body, 3*time.Second)
		if errors.Is(err, nats.ErrNoResponders) {
			return true
		}
		if err != nil {
			continue
		}
		var ok okReply
		json.Unmarshal(rep.Data, &ok)
		return ok.OK
	}
	return true
}

// errorBody is a fetch's error as the engine gets it, with the
// connection's secret removed whatever the error.
func errorBody(conn connectors.Connection, err error) Error {
	var ce *connectors.Error
	var se *SourceError
	if errors.As(err, &ce) {
		se = &SourceError{Offset: ce.Offset, Detail: ce.Detail}
		err = ce.Err
	}
	msg := err.Error()
	if pw, _ := conn.PasswordSecret(); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "********")
	}
	e := Error{Message: msg, Source: se}
	var pe *pgconn.PgError
	var me *mysql.Error
	switch {
	case errors.Is(err, ErrTooLarge):
		e.Code = CodeTooLarge
	case errors.Is(err, ErrNoConnection):
		e.Code = CodeNoConnection
	case errors.As(err, &pe):
		e.Postgres = &PGError{Severity: pe.Severity, Code: pe.Code, Message: pe.Message, Detail: pe.Detail, Hint: pe.Hint, Position: pe.Position}
	case errors.As(err, &me):
		off := me.Offset
		e.Offset = &off
	}
	return e
}

// flow is the worker's side of the window: how many parts the engine has
// consumed.
type flow struct {
	mu     sync.Mutex
	acked  int64
	window int64
	ch     chan struct{}
}

func newFlow() *flow { return &flow{window: DefaultWindow, ch: make(chan struct{})} }

func (f *flow) ack(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > f.acked {
		f.acked = n
		close(f.ch)
		f.ch = make(chan struct{})
	}
}

// wait returns when part n may be sent.
func (f *flow) wait(ctx context.Context, n int64) error {
	for {
		f.mu.Lock()
		if n-f.acked <= f.window {
			f.mu.Unlock()
			return nil
		}
		ch := f.ch
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// streamWriter is the ResultWriter a worker's source writes to: it sends
// the result to the engine.
type streamWriter struct {
	w        *Worker
	job      *Job
	hdr      func(string) nats.Header
	ctx      context.Context
	cancel   context.CancelCauseFunc
	flow     *flow
	maxBytes int64
	part     int

	buf                bytes.Buffer
	parts, rows, bytes int64
	err                error // why the writer stopped the fetch
}

func (s *streamWriter) Begin(schema *arrow.Schema, cols []connectors.Column) error {
	b, err := encodeSchema(schema)
	if err != nil {
		return err
	}
	return s.w.nc.PublishMsg(&nats.Msg{Subject: s.job.Reply, Header: s.hdr(MsgBegin), Data: marshal(Begin{Columns: cols, Schema: b})})
}

func (s *streamWriter) Write(rec arrow.RecordBatch) error {
	defer rec.Release()
	s.buf.Reset()
	iw := ipc.NewWriter(&s.buf, ipc.WithSchema(rec.Schema()))
	if err := iw.Write(rec); err != nil {
		return err
	}
	if err := iw.Close(); err != nil {
		return err
	}
	data := s.buf.Bytes()
	if s.maxBytes > 0 && s.bytes+int64(len(data)) > s.maxBytes {
		s.err = fmt.Errorf("%w: over the limit of %d bytes (--max-result-bytes)", ErrTooLarge, s.maxBytes)
		s.cancel(s.err) // the query stops now, whatever the source does with the error
		return s.err
	}
	for len(data) > 0 {
		n := min(len(data), s.part)
		if err := s.flow.wait(s.ctx, s.parts+1); err != nil {
			return err
		}
		h := s.hdr(MsgBatch)
		h.Set(HdrPart, strconv.FormatInt(s.parts+1, 10))
		if n < len(data) {
			h.Set(HdrMore, "1")
		}
		if err := s.w.nc.PublishMsg(&nats.Msg{Subject: s.job.Reply, Header: h, Data: data[:n]}); err != nil {
			return err
		}
		s.parts++
		s.bytes += int64(n)
		s.w.m.bytes.Add(int64(n))
		data = data[n:]
	}
	s.rows += rec.NumRows()
	s.w.m.rows.Add(rec.NumRows())
	return nil
}

// metrics are a worker's counters: published in its Presence, and on
// the Registerer, when there is one, as Prometheus counters.
type metrics struct {
	run, failed, retried, rows, bytes atomic.Int64
	running                           atomic.Int64
}

func (m *metrics) counters() Counters {
	return Counters{Run: m.run.Load(), Failed: m.failed.Load(), Retried: m.retried.Load(), Rows: m.rows.Load(), Bytes: m.bytes.Load()}
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	m := &metrics{}
	if reg == nil {
		return m, nil
	}
	c := func(n, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cellsd_worker_" + n, Help: help, ConstLabels: prometheus.Labels{"worker": name}},
			func() float64 { return float64(v.Load()) })
	}
	for _, x := range []prometheus.Collector{
		c("jobs_run_total", "Jobs the worker started.", &m.run),
		c("jobs_failed_total", "Jobs that ended in an error on the worker.", &m.failed),
		c("jobs_retried_total", "Jobs the worker took after another worker was lost.", &m.retried),
		c("rows_streamed_total", "Rows streamed to engines.", &m.rows),
		c("bytes_streamed_total", "Arrow IPC bytes streamed to engines.", &m.bytes),
	} {
		if err := reg.Register(x); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// present publishes the worker's Presence every PresenceInterval until
// the worker closes, then once more with Gone.
func (w *Worker) present(ids []string) {
	defer w.wg.Done()
	subj := WorkersPrefix + "." + natsbus.Token(w.opts.Name)
	send := func(gone bool) {
		w.nc.Publish(subj, marshal(Presence{V: 1, Worker: w.opts.Name, Connectors: ids, Concurrency: w.opts.Concurrency,
			Running: int(w.m.running.Load()), Gone: gone, Counters: w.m.counters()}))
	}
	t := time.NewTicker(PresenceInterval)
	defer t.Stop()
	for {
		send(false)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			send(true)
			w.nc.FlushTimeout(time.Second)
			return
		}
	}
}
