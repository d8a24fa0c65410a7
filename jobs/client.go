package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
)

// Errors a caller branches on.
var (
	// ErrTooLarge is wrapped when a result passes MaxResultBytes.
	ErrTooLarge = errors.New("result too large")
	// ErrNotRetried is wrapped when the worker running a job on a
	// connection that is not read_only was lost.
	ErrNotRetried = errors.New("not retried: the connection is not read_only")
	// ErrCannotRestart is wrapped when a worker was lost after part of
	// its result reached a ResultWriter that is not a Restarter.
	ErrCannotRestart = errors.New("the result writer cannot start over")
)

// Status is how a job is doing, as an Observer hears it.
type Status struct {
	// State is StateQueued (no worker runs it), StateRunning or
	// StateDone (the result is complete: Meta is set).
	State string
	// Reason says why, for the cell's event: "waiting for a worker for
	// pg", "on worker w1", "retried on worker w2: w1 lost".
	Reason  string
	Worker  string
	Attempt int
	Meta    *Meta
}

// States of a Status.
const (
	StateQueued  = "queued"
	StateRunning = "running"
	StateDone    = "done"
)

// Observer hears how a fetch's job is doing, with the result's Meta at
// the end. A caller gives one with WithObserver, or its ResultWriter
// implements it; calls are serialized. (The engine, which imports no
// connector, hears the same through connectors.FetchInfo.Status.)
type Observer interface {
	JobStatus(Status)
}

// Restarter is a ResultWriter that can drop everything it received and
// take the result again from Begin: the engine's staging table is dropped
// and made anew. A Client calls it when a worker was lost after part of
// its stream reached the writer; without it, that fetch fails.
type Restarter interface {
	Restart() error
}

type ctxKey int

const observerKey ctxKey = iota

// WithObserver returns a context whose fetches report to o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey, o)
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// MaxResultBytes bounds the Arrow bytes of one result; 0: no bound.
	MaxResultBytes int64
	// Window is how many batch parts may be in flight (DefaultWindow).
	Window int
	Logger *slog.Logger
}

// Client submits fetches as jobs. It is a connectors.Sources: its Source
// of a connection runs that connection's cells on workers.
type Client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts ClientOptions
	log  *slog.Logger

	mu      sync.Mutex
	waiting map[string]int // jobs no worker has taken, per connection
	workers map[string]seen
	sub     *nats.Subscription // of the workers' presence
}

// seen is a worker's latest Presence and when it came.
type seen struct {
	p  Presence
	at time.Time
}

// NewClient returns a Client on nc; Open creates the stream.
func NewClient(nc *nats.Conn, opts ClientOptions) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{nc: nc, js: js, opts: opts, log: log.With("component", "jobs"), waiting: map[string]int{}, workers: map[string]seen{}}, nil
}

// Open creates (or updates) the CELLSD_JOBS stream and starts hearing
// the workers' presence.
func (c *Client) Open(ctx context.Context) error {
	if err := ensureStream(ctx, c.js); err != nil {
		return err
	}
	sub, err := c.nc.Subscribe(WorkersPrefix+".*", c.onPresence)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", WorkersPrefix, err)
	}
	c.mu.Lock()
	c.sub = sub
	c.mu.Unlock()
	return nil
}

// Close stops hearing the workers; the NATS connection is the caller's.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub != nil {
		c.sub.Unsubscribe()
		c.sub = nil
	}
	return nil
}

func (c *Client) onPresence(m *nats.Msg) {
	var p Presence
	if json.Unmarshal(m.Data, &p) != nil || p.Worker == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.Gone {
		delete(c.workers, p.Worker)
		return
	}
	c.workers[p.Worker] = seen{p: p, at: time.Now()}
}

// Workers returns the latest Presence of each worker alive (heard within
// three PresenceIntervals), sorted by name.
func (c *Client) Workers() []Presence {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Presence, 0, len(c.workers))
	for name, w := range c.workers {
		if time.Since(w.at) > 3*PresenceInterval {
			delete(c.workers, name)
			continue
		}
		out = append(out, w.p)
	}
	slices.SortFunc(out, func(a, b Presence) int { return strings.Compare(a.Worker, b.Worker) })
	return out
}

func ensureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "cellsd jobs: external cells waiting for a worker",
		Subjects:    []string{SubjectPrefix + ".*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      24 * time.Hour,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamName, err)
	}
	return nil
}

// Waiting returns how many jobs of each connection no worker has taken.
func (c *Client) Waiting() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.waiting))
	for k, v := range c.waiting {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func (c *Client) addWaiting(conn string, d int) {
	c.mu.Lock()
	c.waiting[conn] += d
	c.mu.Unlock()
}

// Sources runs the cells of Postgres and MySQL connections as jobs on
// Client's workers and those of other engines (bridges) on Other: the
// connectors.Sources of an engine whose external cells are jobs.
type Sources struct {
	Client *Client
	Other  connectors.Sources
}

var _ connectors.Queueing = Sources{}

// RunsOnWorkers reports whether c's cells are jobs.
func RunsOnWorkers(c connectors.Connection) bool {
	return c.Engine == connectors.EnginePostgres || c.Engine == connectors.EngineMySQL
}

// Source returns c's Source.
func (s Sources) Source(c connectors.Connection) (connectors.Source, error) {
	if RunsOnWorkers(c) {
		return s.Client.Source(c)
	}
	return s.Other.Source(c)
}

// Queues reports whether c's fetches wait for a worker.
func (s Sources) Queues(c connectors.Connection) bool { return RunsOnWorkers(c) }

// Source returns the Source that runs c's cells on workers.
func (c *Client) Source(conn connectors.Connection) (connectors.Source, error) {
	return &Source{c: c, conn: conn}, nil
}

// Source runs one connection's cells as jobs.
type Source struct {
	c    *Client
	conn connectors.Connection
}

// Close releases nothing: the Client's NATS connection is its owner's.
func (s *Source) Close() error { return nil }

// Fetch submits q as a job and streams the result a worker sends to w.
func (s *Source) Fetch(ctx context.Context, q connectors.Query, w connectors.ResultWriter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := "j-" + nuid.Next()
	f := &fetch{
		s: s, w: w, obs: observerOf(ctx, w),
		in:     make(chan *nats.Msg, s.c.opts.Window+8),
		notes:  make(chan Status, 64),
		failed: make(chan error, 1),
	}
	f.job = Job{
		V: 1, ID: id, Connector: s.conn.ID, Engine: s.conn.Engine,
		SQL: q.SQL, Values: q.Values, Args: q.Args, HasResult: q.HasResult, Since: q.Since,
		ReadOnly: s.conn.IsReadOnly(), MaxResultBytes: s.c.opts.MaxResultBytes,
		Reply: ReplyPrefix + "." + id,
	}
	if d, ok := ctx.Deadline(); ok {
		f.job.Deadline = &d
	}
	if fi, ok := connectors.FetchInfoOf(ctx); ok {
		f.job.Session, f.job.Artifact, f.job.Cell, f.job.Run = fi.Session, fi.Artifact, fi.Cell, fi.Run
		f.status = fi.Status
	}
	sub, err := s.c.nc.Subscribe(f.job.Reply, f.onMsg)
	if err != nil {
		return fmt.Errorf("connection %s: job: %w", s.conn.ID, err)
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1) // the window bounds what waits
	defer f.uncount()
	ack, err := s.c.js.Publish(ctx, Subject(s.conn.ID), marshal(f.job), jetstream.WithMsgID(id))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("connection %s: submit job: %w", s.conn.ID, err)
	}
	f.seq = ack.Sequence
	f.report(Status{State: StateQueued, Reason: "waiting for a worker for " + s.conn.ID})
	err = f.loop(ctx)
	f.mu.Lock()
	f.done = true
	f.mu.Unlock()
	return err
}

func observerOf(ctx context.Context, w connectors.ResultWriter) Observer {
	if o, ok := ctx.Value(observerKey).(Observer); ok {
		return o
	}
	if o, ok := w.(Observer); ok {
		return o
	}
	return nil
}

// fetch is one Fetch's job.
type fetch struct {
	s   *Source
	job Job
	seq uint64 // the job's stream sequence
	w   connectors.ResultWriter
	obs Observer
	// status is the caller's connectors.FetchInfo.Status, or nil.
	status func(connectors.FetchStatus)

	// in carries the followed attempt's data messages, in order, from
	// onMsg to loop.
	in chan *nats.Msg
	// notes carries onMsg's statuses to loop, which reports them.
	notes  chan Status
	failed chan error

	repMu   sync.Mutex
	counted bool // in the Client's waiting count

	mu   sync.Mutex
	cur  *attempt // the attempt followed; nil while none runs
	last int      // the highest attempt started
	done bool     // no attempt is wanted any more
	lost []string // the workers lost, in order
}

type attempt struct {
	n                    int
	worker, control, ack string
	seen                 time.Time
}

func (f *fetch) uncount() {
	f.repMu.Lock()
	defer f.repMu.Unlock()
	if f.counted {
		f.counted = false
		f.s.c.addWaiting(f.s.conn.ID, -1)
	}
}

func (f *fetch) report(st Status) {
	f.repMu.Lock()
	defer f.repMu.Unlock()
	switch {
	case st.State == StateQueued && !f.counted:
		f.counted = true
		f.s.c.addWaiting(f.s.conn.ID, 1)
	case st.State != StateQueued && f.counted:
		f.counted = false
		f.s.c.addWaiting(f.s.conn.ID, -1)
	}
	if f.obs != nil {
		f.obs.JobStatus(st)
	}
	if f.status != nil {
		f.status(connectors.FetchStatus{State: st.State, Reason: st.Reason, Worker: st.Worker, Attempt: st.Attempt})
	}
}

func (f *fetch) note(st Status) {
	select {
	case f.notes <- st:
	default: // a flood of statuses: the later ones say it
	}
}

func (f *fetch) drainNotes() {
	for {
		select {
		case st := <-f.notes:
			f.report(st)
		default:
			return
		}
	}
}

func (f *fetch) fail(err error) {
	select {
	case f.failed <- err:
	default:
	}
}

func respond(m *nats.Msg, v any) {
	if m.Reply != "" {
		m.Respond(marshal(v))
	}
}

type okReply struct {
	OK bool `json:"ok"`
}

// onMsg runs on the subscription's goroutine and never blocks: it
// answers start and heartbeat, and passes the followed attempt's data to
// loop.
func (f *fetch) onMsg(m *nats.Msg) {
	typ := m.Header.Get(HdrType)
	n, _ := strconv.Atoi(m.Header.Get(HdrAttempt))
	f.mu.Lock()
	defer f.mu.Unlock()
	switch typ {
	case MsgStart:
		var st Start
		if err := json.Unmarshal(m.Data, &st); err != nil || st.Attempt < 1 {
			respond(m, Go{Reason: "bad start"})
			return
		}
		f.start(m, st)
	case MsgHeartbeat:
		if f.cur != nil && f.cur.n == n && !f.done {
			f.cur.seen = time.Now()
			respond(m, Beat{})
			return
		}
		respond(m, Beat{Cancel: true})
	case MsgBegin, MsgBatch, MsgEnd, MsgError:
		if f.cur == nil || f.cur.n != n || f.done {
			respond(m, okReply{}) // a superseded attempt: its worker neither acks nor retries
			return
		}
		f.cur.seen = time.Now()
		select {
		case f.in <- m:
		default:
			f.loseLocked(fmt.Sprintf("%s sent past its window", f.cur.worker))
		}
	}
}

// start decides whether the attempt st may run. f.mu is held.
func (f *fetch) start(m *nats.Msg, st Start) {
	switch {
	case f.done:
		respond(m, Go{Reason: "the job is over"})
		return
	case f.cur != nil && f.cur.n == st.Attempt && f.cur.worker == st.Worker:
		respond(m, Go{OK: true, Window: f.s.c.opts.Window}) // the same start again
		return
	case st.Attempt <= f.last:
		respond(m, Go{Reason: "a later attempt runs"})
		return
	}
	if f.cur != nil {
		// JetStream gave the job to another worker: this one's acks
		// stopped, so it is lost even if it still talks.
		f.loseLocked(f.cur.worker + " lost")
		if f.done {
			respond(m, Go{Reason: "not retried"})
			return
		}
	}
	if !f.job.ReadOnly && (st.Attempt > 1 || len(f.lost) > 0) {
		f.done = true
		f.s.c.nc.Publish(st.Ack, []byte("+TERM"))
		respond(m, Go{Reason: "not retried"})
		f.fail(fmt.Errorf("connection %s: the job's first worker was lost; %w", f.job.Connector, ErrNotRetried))
		return
	}
	f.cur = &attempt{n: st.Attempt, worker: st.Worker, control: st.Control, ack: st.Ack, seen: time.Now()}
	f.last = st.Attempt
	respond(m, Go{OK: true, Window: f.s.c.opts.Window})
	reason := "on worker " + st.Worker
	if len(f.lost) > 0 {
		reason = "retried on worker " + st.Worker + ": " + f.lost[len(f.lost)-1] + " lost"
	}
	f.note(Status{State: StateRunning, Reason: reason, Worker: st.Worker, Attempt: st.Attempt})
}

// loseLocked gives up on the followed attempt: its worker is gone (or
// misbehaved). JetStream redelivers the job at once; a job that may not
// be retried fails. f.mu is held.
func (f *fetch) loseLocked(why string) {
	a := f.cur
	if a == nil {
		return
	}
	f.cur = nil
	f.lost = append(f.lost, a.worker)
	nc := f.s.c.nc
	nc.Publish(a.control, marshalCancel()) // in case it still runs
	if !f.job.ReadOnly {
		f.done = true
		nc.Publish(a.ack, []byte("+TERM"))
		f.fail(fmt.Errorf("connection %s: worker %s: %s; %w", f.job.Connector, a.worker, why, ErrNotRetried))
		return
	}
	if len(f.lost) >= MaxDeliver {
		f.done = true
		f.fail(fmt.Errorf("connection %s: %d workers lost running the job (the last: %s)", f.job.Connector, len(f.lost), a.worker))
		return
	}
	nc.Publish(a.ack, []byte("-NAK"))
	f.s.c.log.Warn("worker lost; job redelivered", "job", f.job.ID, "worker", a.worker, "why", why)
	f.note(Status{State: StateQueued, Reason: "waiting for a worker for " + f.job.Connector + ": " + why})
}

func marshalCancel() []byte { return []byte(`{"cancel":true}`) }

// received is what loop took of one attempt's stream.
type received struct {
	attempt     int
	begun       bool
	parts       int64
	rows, bytes int64
	buf         []byte
}

// loop feeds the followed attempt's stream to the writer until its end,
// an error, or ctx's end.
func (f *fetch) loop(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var r received
	for {
		select {
		case <-ctx.Done():
			return f.cancel(ctx)
		case err := <-f.failed:
			return err
		case st := <-f.notes:
			f.report(st)
		case <-tick.C:
			f.mu.Lock()
			if f.cur != nil && time.Since(f.cur.seen) > LostAfter {
				f.loseLocked(f.cur.worker + " lost")
			}
			f.mu.Unlock()
		case m := <-f.in:
			f.drainNotes()
			n, _ := strconv.Atoi(m.Header.Get(HdrAttempt))
			if n != r.attempt {
				if r.begun {
					rs, ok := f.w.(Restarter)
					if !ok {
						return fmt.Errorf("connection %s: worker lost after %d rows and %w", f.job.Connector, r.rows, ErrCannotRestart)
					}
					if err := rs.Restart(); err != nil {
						return err
					}
				}
				r = received{attempt: n}
			}
			done, err := f.take(m, &r)
			if done || err != nil {
				return err
			}
		}
	}
}

// take consumes one data message of the followed attempt.
func (f *fetch) take(m *nats.Msg, r *received) (done bool, err error) {
	switch m.Header.Get(HdrType) {
	case MsgBegin:
		var b Begin
		if err := json.Unmarshal(m.Data, &b); err != nil {
			return false, fmt.Errorf("connection %s: job: begin: %w", f.job.Connector, err)
		}
		schema, err := decodeSchema(b.Schema)
		if err != nil {
			return false, fmt.Errorf("connection %s: job: schema: %w", f.job.Connector, err)
		}
		r.begun = true
		return false, f.w.Begin(schema, b.Columns)
	case MsgBatch:
		part, _ := strconv.ParseInt(m.Header.Get(HdrPart), 10, 64)
		if part != r.parts+1 {
			f.lose(fmt.Sprintf("part %d after %d", part, r.parts))
			return false, nil
		}
		r.parts = part
		r.bytes += int64(len(m.Data))
		if max := f.job.MaxResultBytes; max > 0 && r.bytes > max {
			return false, f.tooLarge()
		}
		more := m.Header.Get(HdrMore) == "1"
		data := m.Data // a batch in one part is read where it arrived
		if more || len(r.buf) > 0 {
			r.buf = append(r.buf, m.Data...)
			data = r.buf
		}
		if !more {
			rd, err := ipc.NewReader(bytes.NewReader(data))
			if err != nil {
				return false, fmt.Errorf("connection %s: job: batch: %w", f.job.Connector, err)
			}
			for rd.Next() {
				rec := rd.RecordBatch()
				rec.Retain()
				r.rows += rec.NumRows()
				if err := f.w.Write(rec); err != nil {
					rd.Release()
					return false, err
				}
			}
			err = rd.Err()
			rd.Release()
			if err != nil {
				return false, fmt.Errorf("connection %s: job: batch: %w", f.job.Connector, err)
			}
			r.buf = nil
		}
		f.ackParts(r.parts)
		return false, nil
	case MsgEnd:
		var e End
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Parts != r.parts {
			respond(m, okReply{})
			f.lose(fmt.Sprintf("end after %d of %d parts", r.parts, e.Parts))
			return false, nil
		}
		respond(m, okReply{OK: true})
		e.Meta.Worker, e.Meta.Attempt = m.Header.Get(HdrWorker), r.attempt
		f.report(Status{State: StateDone, Reason: "on worker " + e.Meta.Worker, Worker: e.Meta.Worker, Attempt: r.attempt, Meta: &e.Meta})
		return true, nil
	case MsgError:
		var e Error
		if err := json.Unmarshal(m.Data, &e); err != nil {
			e.Message = "undecodable error from worker " + m.Header.Get(HdrWorker)
		}
		respond(m, okReply{OK: true})
		return true, remoteError(e, f.job.Connector)
	}
	return false, nil
}

func (f *fetch) lose(why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseLocked(why)
}

func (f *fetch) ackParts(n int64) {
	f.mu.Lock()
	a := f.cur
	f.mu.Unlock()
	if a != nil {
		f.s.c.nc.Publish(a.control, []byte(`{"ack":`+strconv.FormatInt(n, 10)+`}`))
	}
}

func (f *fetch) tooLarge() error {
	f.stopWorker()
	return fmt.Errorf("connection %s: %w: over the limit of %d bytes (--max-result-bytes)", f.job.Connector, ErrTooLarge, f.job.MaxResultBytes)
}

// stopWorker ends the job: the followed worker stops its query, and a job
// no worker has taken leaves the stream. It waits (a little) for the
// worker to say the query is gone.
func (f *fetch) stopWorker() {
	f.mu.Lock()
	f.done = true
	a := f.cur
	f.cur = nil
	f.mu.Unlock()
	nc := f.s.c.nc
	if a != nil {
		nc.Request(a.control, marshalCancel(), 2*time.Second)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st, err := f.s.c.js.Stream(ctx, StreamName); err == nil {
		st.DeleteMsg(ctx, f.seq) // taken meanwhile: its start gets "over"
	}
}

// cancel stops the job because ctx ended; the query is gone from the
// database when it returns (or the worker did not answer within 2 s).
func (f *fetch) cancel(ctx context.Context) error {
	f.stopWorker()
	return ctx.Err()
}

// workerError is a worker's error: its message, with the database's own
// error reachable through errors.As.
type workerError struct {
	msg string
	err error
}

func (e *workerError) Error() string { return e.msg }
func (e *workerError) Unwrap() error { return e.err }

// remoteError is the error a worker sent, as the connection's Source
// would have returned it in the engine's process: the same message, a
// *connectors.Error when it was one, the database's error reachable.
func remoteError(e Error, connector string) error {
	err := workerErr(e)
	if e.Source != nil {
		return &connectors.Error{Connection: connector, Offset: e.Source.Offset, Detail: e.Source.Detail, Err: err}
	}
	return err
}

func workerErr(e Error) error {
	we := &workerError{msg: e.Message}
	switch {
	case e.Code == CodeTooLarge:
		we.err = ErrTooLarge
	case e.Code == CodeNoConnection:
		we.err = ErrNoConnection
	case e.Postgres != nil:
		p := e.Postgres
		we.err = &pgconn.PgError{Severity: p.Severity, Code: p.Code, Message: p.Message, Detail: p.Detail, Hint: p.Hint, Position: p.Position}
	case e.Offset != nil:
		we.err = &mysql.Error{Err: errors.New(strings.TrimSpace(e.Message)), Offset: *e.Offset}
	}
	if we.err == nil {
		return errors.New(e.Message)
	}
	return we
}
