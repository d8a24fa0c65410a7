package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cellsd/cellsd/cells"
)

// scheduler drives the cells of a session as their dependencies finish. It
// follows each cell, not each run: a run marks cells pending, a pending
// cell starts once no upstream cell is pending or running, and a newer run
// that wants a cell an older one is running cancels it there
// (supersession). It is the walk of dag.Graph.Walk, kept by hand because
// a session's runs come and go while cells run: one loop (schedule) moves
// cells on, a cell finishing wakes its dependents there, and nothing
// recurses. Everything below mu is read and written with mu held; no I/O
// runs under it (unlock does the provenance writes after releasing it).
// It is one type of many methods because they share that one lock and the
// state under it; the cell's own transitions are in cellstate.go.
type scheduler struct {
	e    *Engine
	opts SessionOptions
	// batch marks a session nobody can edit (Engine.Run): no run can
	// supersede another, so results commit without a guard.
	batch bool
	exec  Executor
	clock Clock

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	spawn   spawner // every goroutine that runs a cell, or holds the session open
	events  *eventQueue
	flushes sequencer // provenance writes, in the order their runs ended

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
	// ended are the runs that ended under mu: unlock writes the provenance
	// recorded so far, then closes their Done.
	ended []*Run
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
	// explicit are the cells the run names (a run of one cell, an edit):
	// a manual refresh fetches them again.
	explicit map[string]bool
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

// newScheduler returns the scheduler of a new session over plan, with
// every SQL cell idle.
func newScheduler(e *Engine, plan *Plan, opts SessionOptions, x Executor) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scheduler{
		e: e, opts: opts, exec: x, clock: opts.Clock, ctx: ctx, cancel: cancel,
		nb: plan.Notebook, plan: plan, states: map[cellRef]*cellState{}, runs: map[string]*Run{},
		seq: opts.FirstSeq,
	}
	if s.clock == nil {
		s.clock = realClock{}
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
	return s
}

// runTargets returns the cells req runs and why each is queued.
func (s *scheduler) runTargets(req RunRequest) ([]*cellState, map[*cellState]string, error) {
	if req.Artifact != "" && s.plan.Artifact(req.Artifact) == nil {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownArtifact, req.Artifact)
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
		ts, rs := s.cascade(ap, req.CellID, mode, "run "+label(ap, req.CellID))
		targets = append(targets, ts...)
		for k, v := range rs {
			reasons[k] = v
		}
	}
	if req.CellID != "" && len(targets) == 0 && s.findCell(req.CellID) == nil {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownCell, req.CellID)
	}
	return targets, reasons, nil
}

// cascade returns the cells running id brings in: id itself (if it is a SQL
// cell), in autorun mode its downstream, and the stale or idle upstream of
// all of them; reasons says why each is queued.
func (s *scheduler) cascade(ap *ArtifactPlan, id string, mode Mode, why string) ([]*cellState, map[*cellState]string) {
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
			add(d, "upstream "+label(ap, id)+" changed")
		}
	}
	s.addFamilies(ap, reasons, mode == Autorun)
	ids := make([]string, 0, len(reasons))
	for st := range reasons {
		ids = append(ids, st.ref.cell)
	}
	for _, u := range ap.Graph.Upstream(ids...) {
		if st := s.states[cellRef{ap.Artifact.ID, u}]; st != nil && (st.status == StatusIdle || st.status == StatusStale) {
			add(u, "needed by "+label(ap, id))
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
func (s *scheduler) addFamilies(ap *ArtifactPlan, cells map[*cellState]string, downstream bool) {
	if !ap.HasFamilies() {
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
					cells[mst] = "family member " + label(ap, st.ref.cell) + " changed"
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
							cells[dst] = "upstream " + label(ap, m) + " changed"
						}
					}
				}
			}
		}
	}
}

// startRun queues targets for a new run and schedules them.
// explicit names the cells the run was asked for by id.
func (s *scheduler) startRun(targets []*cellState, reasons map[*cellState]string, timeout time.Duration, explicit ...string) *Run {
	s.nextRun++
	r := &Run{ID: "r" + strconv.Itoa(s.nextRun), done: make(chan struct{}), started: time.Now(), wanted: len(targets)}
	for _, id := range explicit {
		if id != "" {
			if r.explicit == nil {
				r.explicit = map[string]bool{}
			}
			r.explicit[id] = true
		}
	}
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
func (s *scheduler) release(st *cellState) {
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

func (s *scheduler) endRun(r *Run) {
	delete(s.runs, r.ID)
	s.sessionEvent(r, r.ended.Status(), "run "+r.ID+" done: "+r.ended.describe(r.wanted), time.Since(r.started))
	s.ended = append(s.ended, r)
}

// unlock releases mu, then, when runs ended under it, writes the
// provenance recorded so far and closes the runs' Done: a run is over once
// its provenance is written. Writes happen in the order the runs ended.
// Every locked section that can end a run releases mu with unlock.
func (s *scheduler) unlock() {
	if len(s.ended) == 0 {
		s.mu.Unlock()
		return
	}
	rows, runs := s.provenance, s.ended
	s.provenance, s.ended = nil, nil
	turn := s.flushes.take()
	s.mu.Unlock()
	s.flushes.wait(turn)
	defer s.flushes.done()
	if err := s.e.writeProvenance(context.WithoutCancel(s.ctx), rows); err != nil {
		for _, r := range runs {
			s.e.log.Warn("provenance not recorded", "session", s.opts.ID, "run", r.ID, "err", err)
		}
	}
	for _, r := range runs {
		close(r.done)
	}
}

// flushProvenance writes the provenance rows recorded so far.
func (s *scheduler) flushProvenance(ctx context.Context) error {
	s.mu.Lock()
	rows := s.provenance
	s.provenance = nil
	turn := s.flushes.take()
	s.mu.Unlock()
	s.flushes.wait(turn)
	defer s.flushes.done()
	return s.e.writeProvenance(context.WithoutCancel(ctx), rows)
}

// schedule moves cells on until nothing more can happen now: it decides
// what each candidate can do (fail, be blocked, be cancelled, wait, or be
// ready), then starts ready cells while slots are free. A cell that starts
// and ends at once (a cache hit, a failure to prepare) makes its
// dependents the next candidates of the same loop: nothing recurses, and
// the ready queue is only changed here and by release.
func (s *scheduler) schedule(candidates []*cellState) {
	for {
		added := false
		for len(candidates) > 0 {
			st := candidates[0]
			candidates = candidates[1:]
			more, ready := s.decide(st)
			candidates = append(candidates, more...)
			added = added || ready
		}
		if added {
			sortStates(s.ready)
		}
		if s.running >= s.opts.Concurrency || len(s.ready) == 0 {
			return
		}
		st := s.ready[0]
		s.ready = s.ready[1:]
		st.inReady = false
		candidates = s.start(st)
	}
}

// decide settles what a candidate cell can do now. It returns the cells
// to decide next (the dependents of a cell it ended) and whether it put
// the cell in the ready queue.
func (s *scheduler) decide(st *cellState) (next []*cellState, ready bool) {
	if !st.pending() || st.inReady {
		return nil, false
	}
	cp := st.ap.Cell(st.ref.cell)
	if len(cp.Errors) > 0 {
		st.rootCause = label(st.ap, st.ref.cell) + " failed"
		s.finish(st, StatusError, cp.Errors[0].Kind+" error", cp.Errors[0].Describe())
		return s.dependents(st), false
	}
	wait, blockedBy := false, ""
	for _, d := range cp.Deps {
		dst := s.states[cellRef{st.ref.artifact, d}]
		if dst == nil { // an input cell: ready, unless it has an error
			if dcp := st.ap.Cell(d); dcp != nil && len(dcp.Errors) > 0 && blockedBy == "" {
				blockedBy = label(st.ap, d) + " has a " + dcp.Errors[0].Kind + " error"
			}
			continue
		}
		switch {
		case dst.run != nil:
			wait = true
		case dst.status != StatusSuccess && blockedBy == "":
			blockedBy = dst.rootCause
			if blockedBy == "" {
				blockedBy = label(st.ap, d) + " has not run"
			}
		}
	}
	if !wait && blockedBy == "" && st.ap.DefinesFamily(st.ref.cell) {
		wait = s.familyWaits(st)
	}
	switch {
	case wait:
		return nil, false
	case blockedBy != "":
		st.rootCause = blockedBy
		s.finish(st, StatusBlocked, "blocked: "+blockedBy, "")
		return s.dependents(st), false
	case st.run.cancelled:
		st.rootCause = label(st.ap, st.ref.cell) + " was cancelled"
		s.finish(st, StatusCancel, "run cancelled", "")
		return s.dependents(st), false
	}
	st.inReady = true
	s.ready = append(s.ready, st)
	return nil, true
}

// familyWaits reports whether the definer st of a family must wait for a
// cell outside the family that one of its writers depends on: whether the
// family is served from cache is decided for all of it when the definer
// starts, so everything its writers read must be done by then.
func (s *scheduler) familyWaits(st *cellState) bool {
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
				below = map[string]bool{}
				for _, id := range ap.Graph.Downstream(st.ref.cell) {
					below[id] = true
				}
			}
			if !below[d] {
				return true
			}
		}
	}
	return false
}

// dependents returns the SQL cells that depend on st directly, and the
// definers of the families of those that are writers.
func (s *scheduler) dependents(st *cellState) []*cellState {
	var out []*cellState
	for _, d := range st.ap.Graph.Dependents(st.ref.cell) {
		if dst := s.states[cellRef{st.ref.artifact, d}]; dst != nil {
			out = append(out, dst)
		}
		// The definer of a family waits for what its writers read
		// (familyWaits): it may be ready now.
		for _, m := range st.ap.Family(d) {
			if mst := s.states[cellRef{st.ref.artifact, m}]; mst != nil && m != d && st.ap.DefinesFamily(m) {
				out = append(out, mst)
			}
		}
	}
	sortStates(out)
	return out
}

// start begins executing a cell whose upstream is done: from the cache when
// its fingerprint is unchanged, else on a goroutine of its own. It returns
// the cells to decide next when the cell ended at once.
func (s *scheduler) start(st *cellState) []*cellState {
	cp := st.ap.Cell(st.ref.cell)
	spec, err := s.spec(st, cp)
	if err != nil {
		st.rootCause = label(st.ap, st.ref.cell) + " failed"
		s.finish(st, StatusError, failedReason(err), err.Error())
		return s.dependents(st)
	}
	if s.manualHit(st, spec) {
		st.cached = true
		s.finish(st, StatusSuccess, "manual refresh", "")
		return s.dependents(st)
	}
	if s.cacheHit(st, spec) {
		st.cached = true
		st.rootCause = ""
		s.finish(st, StatusSuccess, s.cachedReason(st, spec), "")
		return s.dependents(st)
	}
	ctx, cancel := context.WithCancelCause(s.ctx)
	ex := &execution{cancel: cancel}
	guard := commitGuard(ex.commit)
	if s.batch {
		guard = nil
	}
	queued := s.awaitsWorker(st, ex, spec)
	prev, done := st.lastExec, make(chan struct{})
	// The goroutine reports through finished, which takes mu: it sees the
	// bookkeeping below.
	ok := s.spawn.Go(func() {
		defer close(done)
		defer cancel(nil)
		if prev != nil {
			<-prev
		}
		started := time.Now()
		rows, err := execute(ctx, s.exec, spec, guard)
		if err != nil && ctx.Err() != nil {
			err = &cancelledError{cause: context.Cause(ctx)}
		}
		s.finished(st, ex, spec, rows, started, time.Since(started), err)
	})
	if !ok { // Close has begun: nothing starts any more
		cancel(nil)
		st.rootCause = label(st.ap, st.ref.cell) + " was cancelled"
		s.finish(st, StatusCancel, "session closed", "")
		return s.dependents(st)
	}
	st.exec, st.lastExec = ex, done
	s.running++
	if queued {
		return nil // until a worker runs it (jobStatus)
	}
	s.transition(st, StatusRunning, "dependencies ready")
	return nil
}

// finished records the end of an execution, unless a newer run took the
// cell over meanwhile.
func (s *scheduler) finished(st *cellState, ex *execution, spec execSpec, rows *int64, started time.Time, d time.Duration, err error) {
	s.mu.Lock()
	defer s.unlock()
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
		reason := "executed"
		if n := spec.note; n != nil && n.appended {
			reason = "incremental: " + newRows(n.added)
		}
		if n := spec.note; n == nil || !n.appended || n.added > 0 {
			s.version++ // an increment that adds nothing keeps the result's version: downstream is cached
			st.version = s.version
		}
		st.fingerprint, st.rows, st.cached, st.rootCause = spec.fingerprint, rows, false, ""
		st.bytes = nil
		if spec.received != nil && spec.received.Load() > 0 {
			n := spec.received.Load()
			st.bytes = &n
		}
		if spec.note != nil {
			st.fetchedAt = s.clock.Now()
			if spec.refresh.Kind == cells.RefreshTTL {
				s.armTTL(st, spec.refresh.TTL, st.version)
			}
		}
		if spec.hasResult {
			s.provenance = append(s.provenance, newProvenance(s.e, spec, started, started.Add(d), *rows, st.bytes))
		}
		s.finish(st, StatusSuccess, reason, "")
	case errors.As(err, new(*cancelledError)):
		st.rootCause = label(st.ap, st.ref.cell) + " was cancelled"
		s.finish(st, StatusCancel, err.Error(), "")
	default:
		st.rootCause = label(st.ap, st.ref.cell) + " failed"
		s.finish(st, StatusError, failedReason(err), err.Error())
	}
	s.schedule(s.dependents(st))
}

// markStale marks an edited cell and its downstream stale, stopping any of
// them that is queued or running.
func (s *scheduler) markStale(ap *ArtifactPlan, id string) {
	reasons := map[*cellState]string{}
	for _, cid := range append([]string{id}, ap.Graph.Downstream(id)...) {
		if st := s.states[cellRef{ap.Artifact.ID, cid}]; st != nil {
			reasons[st] = "upstream " + label(ap, id) + " changed"
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
func (s *scheduler) Cancel(cellID string) error {
	return s.cancelWith(cellID, "cancelled on request")
}

// cancelWith is Cancel with the reason the cancelled cells show.
func (s *scheduler) cancelWith(cellID, reason string) error {
	s.mu.Lock()
	defer s.unlock()
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
			st.rootCause = label(st.ap, st.ref.cell) + " was cancelled"
			s.finish(st, StatusCancel, reason, "")
			touched = append(touched, s.dependents(st)...)
		default:
			touched = append(touched, st) // waiting: schedule cancels or blocks it
		}
	}
	s.schedule(touched)
	return nil
}

func (s *scheduler) findCell(id string) *cells.Cell { return s.nb.Cells[id] }

// label names cell id of ap in the reasons a person reads (blocked by,
// cancelled, changed): its title with the id in parentheses (cells.Label).
func label(ap *ArtifactPlan, id string) string {
	if cp := ap.Cell(id); cp != nil {
		return cells.Label(cp.Cell)
	}
	return id
}

func (s *scheduler) sortedStates() []*cellState {
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
