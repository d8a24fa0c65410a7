package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
)

// Mode says what an edit does (DESIGN.md "Job API").
type Mode string

const (
	// Autorun reruns an edited cell and everything downstream at once.
	Autorun Mode = "autorun"
	// Lazy marks an edited cell and its downstream stale; running a stale
	// cell first runs its stale or idle upstream.
	Lazy Mode = "lazy"
)

// SessionOptions configures a Session.
type SessionOptions struct {
	// ID names the session in events; defaults to "s1".
	ID string
	// Mode is the default for edits and runs; defaults to Autorun.
	Mode Mode
	// Concurrency bounds the cells running at once; 0 means the number of
	// CPUs.
	Concurrency int
	// Timeout bounds each cell; 0 means none. A run may set its own.
	Timeout time.Duration
	// NoCache executes every cell even if its fingerprint is unchanged.
	NoCache bool
	// FirstSeq is the seq the session's events continue from: its first
	// event has FirstSeq+1 (an id used before keeps counting).
	FirstSeq int64
	// Observe, when set, receives every status change, one call at a time
	// and in the order they happened, from a goroutine of the session's: a
	// slow observer delays other observers' events, never the scheduler.
	Observe func(Event)
}

// Session is one open notebook: its plan, the state of every cell, and the
// runs in flight. A Session is safe for concurrent use. It owns every
// goroutine it starts; Close stops them.
//
// The scheduler follows each cell, not each run: a run marks cells pending,
// a pending cell starts once no upstream cell is pending or running, and a
// newer run that wants a cell an older one is running cancels it there
// (supersession), so a superseded result never becomes the current one.
type Session struct {
	e          *Engine
	ownsEngine bool
	opts       SessionOptions
	// batch marks a session nobody can edit (Engine.Run): no run can
	// supersede another, so results commit without a guard.
	batch bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	events *eventQueue

	mu      sync.Mutex
	closed  bool
	nb      *cells.Notebook
	plan    *Plan
	states  map[cellRef]*cellState
	runs    map[string]*Run
	nextRun int
	seq     int64
	running int
	ready   []*cellState // pending cells whose upstream is done, waiting for a slot
	version int64        // source of result versions
	// provenance rows waiting to be written, at the end of every run.
	provenance []provenance
}

// cellRef names a cell within an artifact.
type cellRef struct{ artifact, cell string }

// cellState is the scheduler's view of one SQL cell.
type cellState struct {
	ref cellRef
	ap  *ArtifactPlan
	pos int // position in the artifact, for deterministic order

	status Status
	reason string
	last   Event // the latest event published of the cell: its seq, time, prev
	run    *Run  // the run that wants it, while pending or running
	exec   *execution
	// lastExec is closed when the cell's latest execution goroutine has
	// ended; a new execution waits for it, so a superseded query has
	// stopped before the new one writes the same table.
	lastExec chan struct{}
	inReady  bool // in Session.ready
	// rootCause names what failed when this cell failed or is blocked
	// ("c3 failed"); dependents are blocked with it.
	rootCause string
	timeout   time.Duration // of the run that queued it

	// The current result.
	rows        *int64
	bytes       *int64 // received from an external connector
	duration    time.Duration
	cached      bool
	err         string
	version     int64  // of the current result; 0 before the first
	fingerprint string // of the inputs of the current result
}

func (c *cellState) pending() bool { return c.run != nil && c.exec == nil }

// execution is one execution of a cell. Its commit is guarded by mu so
// that a supersession either happens before the commit (and stops it) or
// after (and the result was current when it landed).
type execution struct {
	cancel     context.CancelCauseFunc
	mu         sync.Mutex
	superseded bool
}

// Run is one request to run cells. It is done when every cell it wanted
// has finished or was taken over by a newer run.
type Run struct {
	ID        string
	done      chan struct{}
	started   time.Time
	wanted    int // cells queued by this run
	remaining int
	cancelled bool    // cells that become ready are cancelled, not started
	ended     Summary // final states of the cells this run finished
}

// Done is closed when the run is over.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait blocks until the run is over or ctx is done.
func (r *Run) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errSuperseded is the cause of an execution's cancellation by a newer run.
var errSuperseded = errors.New("superseded")

// ErrUnknownCell is returned for a cell id the notebook lacks.
var ErrUnknownCell = errors.New("unknown cell")

// ErrClosed is returned by the methods of a closed Session.
var ErrClosed = errors.New("session closed")

// OpenSession opens a new DuckDB instance with cfg, plans nb and returns a
// session that owns both; Close releases them.
func OpenSession(ctx context.Context, cfg Config, nb *cells.Notebook, opts SessionOptions) (*Session, error) {
	e := New(cfg)
	if err := e.Open(ctx); err != nil {
		e.Close()
		return nil, err
	}
	plan, err := e.Planner().Plan(ctx, nb)
	if err != nil {
		e.Close()
		return nil, err
	}
	s, err := e.NewSession(ctx, plan, opts)
	if err != nil {
		e.Close()
		return nil, err
	}
	s.ownsEngine = true
	return s, nil
}

// NewSession returns a session over a plan made by this engine's planner,
// creating the schemas its artifacts' results live in. Closing it leaves
// the engine open.
func (e *Engine) NewSession(ctx context.Context, plan *Plan, opts SessionOptions) (*Session, error) {
	for _, ap := range plan.Artifacts {
		if _, err := e.db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(e.ResultDB())+"."+quoteIdent(ap.Schema)); err != nil {
			return nil, fmt.Errorf("create schema for artifact %s: %w", ap.Artifact.ID, err)
		}
	}
	if opts.ID == "" {
		opts.ID = "s1"
	}
	if opts.Mode == "" {
		opts.Mode = Autorun
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency()
	}
	e.db.SetMaxIdleConns(opts.Concurrency + 1)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		e: e, opts: opts, ctx: ctx, cancel: cancel,
		nb: plan.Notebook, plan: plan, states: map[cellRef]*cellState{}, runs: map[string]*Run{},
		seq: opts.FirstSeq,
	}
	s.events = newEventQueue(opts.Observe)
	for _, ap := range plan.Artifacts {
		for i, cp := range ap.Cells {
			if cp.Cell.Type == cells.TypeSQL {
				ref := cellRef{ap.Artifact.ID, cp.Cell.ID}
				s.states[ref] = &cellState{ref: ref, ap: ap, pos: i, status: StatusIdle}
			}
		}
	}
	return s, nil
}

// DB returns the session's DuckDB, for reading results.
func (s *Session) DB() *sql.DB { return s.e.db }

// ID returns the session's id.
func (s *Session) ID() string { return s.opts.ID }

// Plan returns the session's current plan. It changes with Update; read it
// only while no Update runs.
func (s *Session) Plan() *Plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.plan
}

// RunRequest says what to run.
type RunRequest struct {
	// Artifact limits the run to one artifact; empty means every artifact
	// (or every artifact holding CellID).
	Artifact string
	// CellID runs one cell: in autorun mode with everything downstream, in
	// lazy mode alone; in both, with its stale or idle upstream first.
	// Empty runs every cell.
	CellID string
	// Mode overrides the session's mode for this run.
	Mode Mode
	// Timeout overrides the session's per-cell timeout for this run.
	Timeout time.Duration
}

// Run starts running cells and returns at once; the returned Run says when
// they are done.
func (s *Session) Run(req RunRequest) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if req.Artifact != "" && s.plan.Artifact(req.Artifact) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownArtifact, req.Artifact)
	}
	mode := req.Mode
	if mode == "" {
		mode = s.opts.Mode
	}
	var targets []*cellState
	reasons := map[*cellState]string{}
	for _, ap := range s.plan.Artifacts {
		if req.Artifact != "" && ap.Artifact.ID != req.Artifact {
			continue
		}
		if req.CellID == "" {
			for _, cp := range ap.Cells {
				if st := s.states[cellRef{ap.Artifact.ID, cp.Cell.ID}]; st != nil {
					targets = append(targets, st)
					reasons[st] = "run all"
				}
			}
			continue
		}
		if ap.Cell(req.CellID) == nil {
			continue
		}
		ts, rs := s.cascade(ap, req.CellID, mode, "run "+req.CellID)
		targets = append(targets, ts...)
		for k, v := range rs {
			reasons[k] = v
		}
	}
	if req.CellID != "" && len(targets) == 0 && s.findCell(req.CellID) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownCell, req.CellID)
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = s.opts.Timeout
	}
	return s.startRun(targets, reasons, timeout), nil
}

// cascade returns the cells running id brings in: id itself (if it is a SQL
// cell), in autorun mode its downstream, and the stale or idle upstream of
// all of them; reasons says why each is queued.
func (s *Session) cascade(ap *ArtifactPlan, id string, mode Mode, why string) ([]*cellState, map[*cellState]string) {
	reasons := map[*cellState]string{}
	add := func(cid, reason string) {
		if st := s.states[cellRef{ap.Artifact.ID, cid}]; st != nil {
			if _, ok := reasons[st]; !ok {
				reasons[st] = reason
			}
		}
	}
	add(id, why)
	if mode == Autorun && ap.Graph.Has(id) {
		for _, d := range ap.Graph.Downstream(id) {
			add(d, "upstream "+id+" changed")
		}
	}
	s.addFamilies(ap, reasons, mode == Autorun)
	ids := make([]string, 0, len(reasons))
	for st := range reasons {
		ids = append(ids, st.ref.cell)
	}
	for _, u := range ap.Graph.Upstream(ids...) {
		if st := s.states[cellRef{ap.Artifact.ID, u}]; st != nil && (st.status == StatusIdle || st.status == StatusStale) {
			add(u, "needed by "+id)
		}
	}
	targets := make([]*cellState, 0, len(reasons))
	for st := range reasons {
		targets = append(targets, st)
	}
	sortStates(targets)
	return targets, reasons
}

// addFamilies adds to cells, until nothing changes, every family a cell
// of it belongs to (DESIGN.md rule 7: a change to any cell of a family
// reruns it from its definer, in order, so that no write is applied
// twice) and, when downstream is set, the downstream of what it adds.
func (s *Session) addFamilies(ap *ArtifactPlan, cells map[*cellState]string, downstream bool) {
	if ap.families == nil {
		return
	}
	for {
		var added []string
		sts := make([]*cellState, 0, len(cells))
		for st := range cells {
			sts = append(sts, st)
		}
		sortStates(sts) // the first member that changed names the reason
		for _, st := range sts {
			for _, m := range ap.Family(st.ref.cell) {
				mst := s.states[cellRef{ap.Artifact.ID, m}]
				if _, ok := cells[mst]; mst != nil && !ok {
					cells[mst] = "family member " + st.ref.cell + " changed"
					added = append(added, m)
				}
			}
		}
		if len(added) == 0 {
			return
		}
		if downstream {
			for _, m := range added {
				for _, d := range ap.Graph.Downstream(m) {
					if dst := s.states[cellRef{ap.Artifact.ID, d}]; dst != nil {
						if _, ok := cells[dst]; !ok {
							cells[dst] = "upstream " + m + " changed"
						}
					}
				}
			}
		}
	}
}

// startRun queues targets for a new run and schedules them.
func (s *Session) startRun(targets []*cellState, reasons map[*cellState]string, timeout time.Duration) *Run {
	s.nextRun++
	r := &Run{ID: "r" + strconv.Itoa(s.nextRun), done: make(chan struct{}), started: time.Now(), wanted: len(targets)}
	s.runs[r.ID] = r
	s.sessionEvent(r, StatusRunning, fmt.Sprintf("run %s: %d cells", r.ID, len(targets)), 0)
	for _, st := range targets {
		reason := reasons[st]
		if st.run != nil {
			// Wanted by an older run: take it over, and stop it there if it
			// is running.
			s.release(st)
			if st.exec != nil {
				st.exec.supersede()
				st.exec = nil
				s.running--
				reason = "superseded by run " + r.ID
			}
		}
		st.run, st.timeout = r, timeout
		r.remaining++
		s.transition(st, StatusQueued, reason)
	}
	if r.remaining == 0 {
		s.endRun(r)
	}
	s.schedule(targets)
	return r
}

// release takes a cell out of the run that wanted it.
func (s *Session) release(st *cellState) {
	r := st.run
	st.run = nil
	if r == nil {
		return
	}
	if st.inReady {
		st.inReady = false
		s.ready = slices.DeleteFunc(s.ready, func(c *cellState) bool { return c == st })
	}
	r.remaining--
	if r.remaining == 0 {
		s.endRun(r)
	}
}

func (s *Session) endRun(r *Run) {
	delete(s.runs, r.ID)
	s.sessionEvent(r, r.ended.Status(), "run "+r.ID+" done: "+r.ended.describe(r.wanted), time.Since(r.started))
	if err := s.flushProvenanceLocked(s.ctx); err != nil {
		s.e.log.Warn("provenance not recorded", "session", s.opts.ID, "run", r.ID, "err", err)
	}
	close(r.done)
}

// flushProvenance writes the provenance rows recorded so far.
func (s *Session) flushProvenance(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushProvenanceLocked(ctx)
}

func (s *Session) flushProvenanceLocked(ctx context.Context) error {
	rows := s.provenance
	s.provenance = nil
	return s.e.writeProvenance(context.WithoutCancel(ctx), rows)
}

// schedule decides what the candidate cells can do now: fail, be blocked,
// start, or wait; then fills free slots from the ready queue.
func (s *Session) schedule(candidates []*cellState) {
	for len(candidates) > 0 {
		st := candidates[0]
		candidates = candidates[1:]
		if !st.pending() || st.inReady {
			continue
		}
		cp := st.ap.Cell(st.ref.cell)
		if len(cp.Errors) > 0 {
			st.rootCause = st.ref.cell + " failed"
			s.finish(st, StatusError, cp.Errors[0].Kind+" error", cp.Errors[0].Describe())
			candidates = append(candidates, s.dependents(st)...)
			continue
		}
		wait, blockedBy := false, ""
		for _, d := range cp.Deps {
			dst := s.states[cellRef{st.ref.artifact, d}]
			if dst == nil { // an input cell: ready, unless it has an error
				if dcp := st.ap.Cell(d); dcp != nil && len(dcp.Errors) > 0 && blockedBy == "" {
					blockedBy = d + " has a " + dcp.Errors[0].Kind + " error"
				}
				continue
			}
			switch {
			case dst.run != nil:
				wait = true
			case dst.status != StatusSuccess && blockedBy == "":
				blockedBy = dst.rootCause
				if blockedBy == "" {
					blockedBy = d + " has not run"
				}
			}
		}
		if !wait && blockedBy == "" && st.ap.definesFamily(st.ref.cell) {
			wait = s.familyWaits(st)
		}
		switch {
		case wait:
		case blockedBy != "":
			st.rootCause = blockedBy
			s.finish(st, StatusBlocked, "blocked: "+blockedBy, "")
			candidates = append(candidates, s.dependents(st)...)
		case st.run.cancelled:
			st.rootCause = st.ref.cell + " was cancelled"
			s.finish(st, StatusCancel, "run cancelled", "")
			candidates = append(candidates, s.dependents(st)...)
		default:
			st.inReady = true
			s.ready = append(s.ready, st)
		}
	}
	sortStates(s.ready)
	for s.running < s.opts.Concurrency && len(s.ready) > 0 {
		st := s.ready[0]
		s.ready = s.ready[1:]
		st.inReady = false
		s.start(st)
	}
}

// familyWaits reports whether the definer st of a family must wait for a
// cell outside the family that one of its writers depends on: whether the
// family is served from cache is decided for all of it when the definer
// starts, so everything its writers read must be done by then.
func (s *Session) familyWaits(st *cellState) bool {
	ap := st.ap
	family := ap.Family(st.ref.cell)
	var below map[string]bool // downstream of the definer: they wait for it
	for _, m := range family {
		if m == st.ref.cell {
			continue
		}
		for _, d := range ap.Cell(m).Deps {
			if slices.Contains(family, d) {
				continue
			}
			dst := s.states[cellRef{st.ref.artifact, d}]
			if dst == nil || dst.run == nil {
				continue
			}
			if below == nil {
				below = setOf(ap.Graph.Downstream(st.ref.cell)...)
			}
			if !below[d] {
				return true
			}
		}
	}
	return false
}

// familyCached reports whether every writer of the family st defines
// would be served from cache too: a family is served from cache whole or
// not at all, so a rerun never applies a write twice.
func (s *Session) familyCached(st *cellState) bool {
	for _, m := range st.ap.Family(st.ref.cell) {
		if m == st.ref.cell {
			continue
		}
		mst := s.states[cellRef{st.ref.artifact, m}]
		if mst == nil {
			continue
		}
		spec, err := s.spec(mst, st.ap.Cell(m))
		if err != nil || mst.version == 0 || spec.fingerprint != mst.fingerprint {
			return false
		}
	}
	return true
}

// dependents returns the SQL cells that depend on st directly, and the
// definers of the families of those that are writers.
func (s *Session) dependents(st *cellState) []*cellState {
	var out []*cellState
	for _, d := range st.ap.Graph.Dependents(st.ref.cell) {
		if dst := s.states[cellRef{st.ref.artifact, d}]; dst != nil {
			out = append(out, dst)
		}
		// The definer of a family waits for what its writers read
		// (familyWaits): it may be ready now.
		for _, m := range st.ap.Family(d) {
			if mst := s.states[cellRef{st.ref.artifact, m}]; mst != nil && m != d && st.ap.definesFamily(m) {
				out = append(out, mst)
			}
		}
	}
	sortStates(out)
	return out
}

// start begins executing a cell whose upstream is done: from the cache when
// its fingerprint is unchanged, else on a goroutine of its own.
func (s *Session) start(st *cellState) {
	cp := st.ap.Cell(st.ref.cell)
	spec, err := s.spec(st, cp)
	if err != nil {
		st.rootCause = st.ref.cell + " failed"
		s.finish(st, StatusError, failedReason(err), err.Error())
		s.schedule(s.dependents(st))
		return
	}
	if !s.opts.NoCache && st.version > 0 && spec.fingerprint == st.fingerprint &&
		(!st.ap.definesFamily(st.ref.cell) || s.familyCached(st)) {
		st.cached = true
		st.rootCause = ""
		s.finish(st, StatusSuccess, "cached: inputs unchanged", "")
		s.schedule(s.dependents(st))
		return
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	ex := &execution{cancel: cancel}
	st.exec = ex
	prev, done := st.lastExec, make(chan struct{})
	st.lastExec = done
	s.running++
	s.transition(st, StatusRunning, "dependencies ready")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer cancel(nil)
		if prev != nil {
			<-prev
		}
		started := time.Now()
		rows, err := s.execute(ctx, ex, spec)
		if err != nil && ctx.Err() != nil {
			err = &cancelledError{cause: context.Cause(ctx)}
		}
		s.finished(st, ex, spec, rows, started, time.Since(started), err)
	}()
}

// execSpec is everything an execution needs, captured when it starts so
// that edits to the plan cannot race with it.
type execSpec struct {
	artifact, cell string
	schema, name   string
	hasResult      bool
	statements     int // how many the cell has
	// show and expands are the last statement's sqlparse.Analysis Show
	// and Expands: how a DuckDB cell materializes its result.
	show, expands bool
	sql           string         // rendered (a MySQL cell's as written: its connection renders it)
	values        map[string]any // of the {{var}}s, by name
	conn          connectors.Connection
	timeout       time.Duration
	fingerprint   string
	// family marks a cell of a family of writers (rule 7): in an
	// interactive session its statements run in one transaction
	// committed through the supersession guard.
	family bool
	// drops are the statements that remove what a DDL cell created when
	// it last ran, so that running it again starts afresh.
	drops []string
	// received counts the bytes of the Arrow batches an external
	// connector sent; nil for core cells.
	received *atomic.Int64
}

func (s *Session) spec(st *cellState, cp *CellPlan) (execSpec, error) {
	values := map[string]any{}
	for _, v := range cp.Analysis.Vars {
		for _, id := range st.ap.definers[varKey(v)] {
			values[v] = st.ap.Cell(id).Cell.Input.Value
		}
	}
	rendered, err := renderCell(cp, values)
	if err != nil {
		return execSpec{}, fmt.Errorf("render {{var}}: %w", err)
	}
	// The fingerprint covers the SQL up to layout and comments, the
	// connector, the values of the variables used, where the result goes,
	// and the versions of the upstream results.
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00%s\x00", cp.sqlFingerprint, cp.Connection.ID, cp.HasResult(), cp.Name)
	for _, v := range cp.Analysis.Vars {
		b, _ := json.Marshal(values[v])
		fmt.Fprintf(h, "var %s=%s\x00", v, b)
	}
	for _, d := range cp.Deps {
		if dst := s.states[cellRef{st.ref.artifact, d}]; dst != nil {
			fmt.Fprintf(h, "dep %s@%d\x00", d, dst.version)
		}
	}
	spec := execSpec{
		artifact: st.ref.artifact, cell: st.ref.cell, schema: st.ap.Schema, name: cp.Name,
		hasResult: cp.HasResult(), statements: cp.Analysis.Statements, show: cp.Analysis.Show, expands: cp.Analysis.Expands,
		sql: rendered, values: values, conn: cp.Connection, timeout: st.timeout,
		fingerprint: hex.EncodeToString(h.Sum(nil)),
	}
	if cp.Connection.Engine != connectors.EngineDuckDB {
		spec.received = new(atomic.Int64)
	} else if !cp.HasResult() {
		spec.family = st.ap.familyOf[st.ref.cell] != nil
		if st.version > 0 && !s.batch {
			spec.drops = dropStatements(cp)
		}
	}
	return spec, nil
}

// execute runs one cell; it is called without the session lock.
func (s *Session) execute(ctx context.Context, ex *execution, spec execSpec) (rows *int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v\n%s", p, debug.Stack())
		}
	}()
	if spec.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, spec.timeout, fmt.Errorf("timed out after %s", spec.timeout))
		defer cancel()
	}
	guard := ex.commit
	if s.batch {
		guard = nil
	}
	switch spec.conn.Engine {
	case connectors.EngineDuckDB:
		rows, err = s.e.runDuckDB(ctx, spec, guard)
	default:
		rows, err = s.e.runExternal(ctx, spec, guard)
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, context.Cause(ctx) // "timed out after ..."
	}
	return rows, err
}

// commit runs fn unless the execution was superseded or cancelled, and
// keeps it from being superseded while fn runs.
func (ex *execution) commit(ctx context.Context, fn func() error) error {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.superseded {
		return errSuperseded
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return fn()
}

func (ex *execution) supersede() {
	ex.mu.Lock()
	ex.superseded = true
	ex.mu.Unlock()
	ex.cancel(errSuperseded)
}

// finished records the end of an execution, unless a newer run took the
// cell over meanwhile.
func (s *Session) finished(st *cellState, ex *execution, spec execSpec, rows *int64, started time.Time, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.exec != ex {
		return // superseded: the newer run decides this cell's state
	}
	st.exec = nil
	s.running--
	st.duration = d
	if err != nil && !errors.As(err, new(*cancelledError)) {
		err = explainMissing(st.ap, st.ref.cell, err)
	}
	switch {
	case err == nil:
		s.version++
		st.version, st.fingerprint, st.rows, st.cached, st.rootCause = s.version, spec.fingerprint, rows, false, ""
		st.bytes = nil
		if spec.received != nil && spec.received.Load() > 0 {
			n := spec.received.Load()
			st.bytes = &n
		}
		if spec.hasResult {
			s.provenance = append(s.provenance, newProvenance(s.e, spec, started, started.Add(d), *rows, st.bytes))
		}
		s.finish(st, StatusSuccess, "executed", "")
	case errors.As(err, new(*cancelledError)):
		st.rootCause = st.ref.cell + " was cancelled"
		s.finish(st, StatusCancel, err.Error(), "")
	default:
		st.rootCause = st.ref.cell + " failed"
		s.finish(st, StatusError, failedReason(err), err.Error())
	}
	s.schedule(s.dependents(st))
}

// failedReason is the reason of a failed cell: the first line of its error,
// cut short; the whole message is the event's error.
func failedReason(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 160 {
		msg = msg[:157] + "..."
	}
	return "failed: " + msg
}

// cancelledError is an execution stopped from outside: on request, by a
// newer run, or by Close. Its text is the reason the cell shows.
type cancelledError struct{ cause error }

func (e *cancelledError) Error() string {
	var r cancelReason
	if errors.As(e.cause, &r) {
		return string(r)
	}
	return "cancelled"
}

// cancelReason is the cause given to an execution cancelled on request.
type cancelReason string

func (r cancelReason) Error() string { return string(r) }

// finish moves a cell to a final state and takes it out of its run.
func (s *Session) finish(st *cellState, to Status, reason, errMsg string) {
	if st.run != nil {
		st.run.ended.add(to)
	}
	if to != StatusSuccess {
		st.cached = false
	}
	st.err = errMsg
	if to == StatusError && errMsg == "" {
		st.err = reason
	}
	s.transition(st, to, reason)
	s.release(st)
}

// transition records a state change and publishes it.
func (s *Session) transition(st *cellState, to Status, reason string) {
	prev := st.status
	st.status, st.reason = to, reason
	s.seq++
	ev := s.eventOf(st)
	ev.Prev, ev.Time = prev, time.Now()
	st.last = ev
	s.events.push(ev)
}

// sessionEvent publishes a change of the session itself: a run starting
// or ending (run set), or the session closing.
func (s *Session) sessionEvent(r *Run, to Status, reason string, d time.Duration) {
	s.seq++
	ev := Event{Seq: s.seq, Time: time.Now(), Session: s.opts.ID, Status: to, Reason: reason, Duration: d}
	if r != nil {
		ev.Run = r.ID
	}
	s.events.push(ev)
}

// eventOf is the cell's current state as an event; cached and the error
// message belong to a success and an error only.
func (s *Session) eventOf(st *cellState) Event {
	ev := Event{Seq: s.seq, Session: s.opts.ID, Artifact: st.ref.artifact, Cell: st.ref.cell, Status: st.status,
		Reason: st.reason, Cached: st.cached && st.status == StatusSuccess}
	if st.status == StatusError {
		ev.Err = st.err
	}
	if st.run != nil {
		ev.Run = st.run.ID
	}
	if cp := st.ap.Cell(st.ref.cell); cp != nil && cp.HasResult() {
		ev.Relation = s.e.relationName(st.ap.Schema, cp.Name)
	}
	if st.status == StatusSuccess {
		ev.Rows, ev.Bytes, ev.Duration = st.rows, st.bytes, st.duration
	}
	if st.status == StatusError || st.status == StatusCancel {
		ev.Duration = st.duration
	}
	return ev
}

// CellPatch is an edit of one cell; nil fields are left alone.
type CellPatch struct {
	CellID      string
	SQL         *string
	Title       *string
	ResultName  *string
	ConnectorID *string
	// Value sets an input cell's value (a string, json.Number, bool or nil).
	Value    any
	SetValue bool
}

// Update applies an edit, re-parses only the edited cell and, in autorun
// mode, reruns it with everything downstream (the returned Run); in lazy
// mode it marks them stale and returns nil.
func (s *Session) Update(ctx context.Context, p CellPatch) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	old := s.nb.Cells[p.CellID]
	if old == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownCell, p.CellID)
	}
	c := *old
	if p.SQL != nil {
		c.SQL = *p.SQL
	}
	if p.Title != nil {
		c.Title = *p.Title
	}
	if p.ResultName != nil {
		c.ResultName = *p.ResultName
	}
	if p.ConnectorID != nil {
		c.ConnectorID = *p.ConnectorID
	}
	if p.SetValue {
		if c.Input == nil {
			return nil, fmt.Errorf("cell %q is not an input cell", p.CellID)
		}
		v, err := c.Input.Accept(p.Value)
		if err != nil {
			return nil, fmt.Errorf("cell %q: %w", p.CellID, err)
		}
		in := *c.Input
		in.Value = v
		c.Input = &in
	}
	var targets []*cellState
	reasons := map[*cellState]string{}
	for _, ap := range s.plan.Artifacts {
		if ap.Cell(c.ID) == nil {
			continue
		}
		if err := ap.Update(ctx, &c); err != nil {
			return nil, err
		}
		if s.opts.Mode == Lazy {
			s.markStale(ap, c.ID)
			continue
		}
		ts, rs := s.cascade(ap, c.ID, Autorun, "edited")
		targets = append(targets, ts...)
		for k, v := range rs {
			reasons[k] = v
		}
	}
	s.nb.Cells[c.ID] = &c
	if s.opts.Mode == Lazy {
		return nil, nil
	}
	return s.startRun(targets, reasons, s.opts.Timeout), nil
}

// markStale marks an edited cell and its downstream stale, stopping any of
// them that is queued or running.
func (s *Session) markStale(ap *ArtifactPlan, id string) {
	reasons := map[*cellState]string{}
	for _, cid := range append([]string{id}, ap.Graph.Downstream(id)...) {
		if st := s.states[cellRef{ap.Artifact.ID, cid}]; st != nil {
			reasons[st] = "upstream " + id + " changed"
			if cid == id {
				reasons[st] = "edited"
			}
		}
	}
	s.addFamilies(ap, reasons, true)
	sts := make([]*cellState, 0, len(reasons))
	for st := range reasons {
		sts = append(sts, st)
	}
	sortStates(sts)
	for _, st := range sts {
		if st.status == StatusIdle && st.run == nil {
			continue
		}
		reason := reasons[st]
		if st.exec != nil {
			st.exec.supersede()
			st.exec = nil
			s.running--
		}
		s.release(st)
		s.transition(st, StatusStale, reason)
	}
	s.schedule(nil)
}

// Cancel cancels a cell wherever it is queued or running; the cells
// waiting for it are blocked. An empty cellID cancels every run: running
// cells are cancelled, and queued ones are cancelled or, when they wait for
// a cancelled cell, blocked.
func (s *Session) Cancel(cellID string) error {
	return s.cancelWith(cellID, "cancelled on request")
}

// cancelWith is Cancel with the reason the cancelled cells show.
func (s *Session) cancelWith(cellID, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cellID != "" && s.findCell(cellID) == nil {
		return fmt.Errorf("%w %q", ErrUnknownCell, cellID)
	}
	if cellID == "" {
		for _, r := range s.runs {
			r.cancelled = true
		}
	}
	var touched []*cellState
	for _, st := range s.sortedStates() {
		if (cellID != "" && st.ref.cell != cellID) || st.run == nil {
			continue
		}
		switch {
		case st.exec != nil:
			st.exec.cancel(cancelReason(reason)) // finished() records it
		case cellID != "" || st.inReady:
			st.rootCause = st.ref.cell + " was cancelled"
			s.finish(st, StatusCancel, reason, "")
			touched = append(touched, s.dependents(st)...)
		default:
			touched = append(touched, st) // waiting: schedule cancels or blocks it
		}
	}
	s.schedule(touched)
	return nil
}

// Flush waits until the observer has received every event so far.
func (s *Session) Flush() { s.events.flush() }

// Status returns the latest state of every SQL cell, in artifact and cell
// order.
func (s *Session) Status() []Event {
	_, evs := s.Snapshot()
	return evs
}

// Snapshot is Status with the seq of the latest event: the states include
// every event up to it and none after. Each cell's state is its latest
// event (seq, time and prev included), or for a cell that never changed,
// its idle state with seq 0 and no time.
func (s *Session) Snapshot() (seq int64, cells []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.sortedStates() {
		if st.last.Seq != 0 {
			cells = append(cells, st.last)
			continue
		}
		ev := s.eventOf(st)
		ev.Seq = 0
		cells = append(cells, ev)
	}
	return s.seq, cells
}

// Report returns the state of every SQL cell of the artifact (or of all) in
// the report shape.
func (s *Session) Report(artifact string) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{}
	for _, ap := range s.plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		ar := &ArtifactReport{ID: ap.Artifact.ID, Cells: []*CellResult{}}
		for _, cp := range ap.Cells {
			st := s.states[cellRef{ap.Artifact.ID, cp.Cell.ID}]
			if st == nil {
				continue
			}
			res := &CellResult{ID: cp.Cell.ID, Status: st.status, Cached: st.cached, Reason: st.reason}
			if cp.HasResult() {
				res.Relation = s.e.relationName(ap.Schema, cp.Name)
			}
			if st.status == StatusSuccess {
				res.Rows = st.rows
			}
			if st.status.Final() && st.status != StatusBlocked {
				res.Duration = st.duration
			}
			if st.status == StatusError {
				msg := st.err
				res.Err = &msg
			}
			ar.Cells = append(ar.Cells, res)
			r.Summary.add(st.status)
		}
		r.Artifacts = append(r.Artifacts, ar)
	}
	return r
}

// Close cancels everything running, waits for every goroutine of the
// session, delivers the last events and, for a session from OpenSession,
// closes its DuckDB. It is safe to call more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancelWith("", "session closed")
	s.cancel()
	s.wg.Wait() // every execution has reported
	s.mu.Lock()
	s.sessionEvent(nil, StatusClosed, "closed", 0)
	s.mu.Unlock()
	s.events.close()
	if err := s.flushProvenance(context.Background()); err != nil {
		s.e.log.Warn("provenance not recorded", "session", s.opts.ID, "err", err)
	}
	if s.ownsEngine {
		return s.e.Close()
	}
	return nil
}

func (s *Session) findCell(id string) *cells.Cell { return s.nb.Cells[id] }

func (s *Session) sortedStates() []*cellState {
	out := make([]*cellState, 0, len(s.states))
	for _, st := range s.states {
		out = append(out, st)
	}
	sortStates(out)
	return out
}

// sortStates orders cells by artifact, then position.
func sortStates(sts []*cellState) {
	slices.SortFunc(sts, func(a, b *cellState) int {
		if a.ref.artifact != b.ref.artifact {
			if a.ref.artifact < b.ref.artifact {
				return -1
			}
			return 1
		}
		return a.pos - b.pos
	})
}
