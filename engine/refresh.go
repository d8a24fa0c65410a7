package engine

import (
	"strconv"
	"time"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
)

// Refresh policies (DESIGN.md "Refresh of external results"): when an
// external cell's result is fetched again. on-change is the cache's
// rule; the scheduler adds the others here. manual: once a cell has a
// result, only a run that names it fetches it again (start serves it as
// a cache hit, reason "manual refresh"). ttl: a result older than its
// TTL is no cache hit, and a timer per result marks it stale when it
// ages and, in autorun mode, runs it again. incremental: the fetch asks
// the Source for the rows past the watermark and the materializer adds
// them (runExternal); a fetch that adds nothing leaves the result's
// version, so its downstream is served from cache.

// Clock is the time a session's refresh policies follow. Tests give one
// that runs faster; nil in SessionOptions is the real clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on a goroutine of its own once d has passed,
	// unless the returned timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a Clock's pending call.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// refreshNote carries what an incremental fetch did back from the
// executor: whether it appended to the current result, the rows it
// added and the watermark after it.
type refreshNote struct {
	appended  bool
	added     int64
	watermark string
}

// refreshOf is a cell's policy, checked against its connection: only a
// Postgres connection takes an incremental refresh today (the wrapper
// is the connector's; MySQL's is not written yet).
func refreshOf(cp *CellPlan) (cells.Refresh, error) {
	r := cp.Refresh()
	if r.Kind == cells.RefreshIncremental && cp.Connection.Engine != connectors.EnginePostgres {
		return r, &refreshError{"refresh " + r.String() + ": incremental refresh is supported for engine postgres only, not " + cp.Connection.Engine}
	}
	if r.UniqueKey != "" && r.Kind != cells.RefreshIncremental {
		return r, &refreshError{"unique_key " + r.UniqueKey + ": only with an incremental refresh (refresh is " + r.String() + ")"}
	}
	return r, nil
}

type refreshError struct{ msg string }

func (e *refreshError) Error() string { return e.msg }

// manualHit reports whether st is served from its current result by the
// manual policy: it has one and the run did not name it.
func (s *scheduler) manualHit(st *cellState, spec execSpec) bool {
	return spec.refresh.Kind == cells.RefreshManual && st.version > 0 && !st.run.explicit[st.ref.cell]
}

// refetch reports whether the run names st, an external cell: DESIGN.md
// fetches it again then, whatever its policy.
func (s *scheduler) refetch(st *cellState, spec execSpec) bool {
	return spec.note != nil && st.run != nil && st.run.explicit[st.ref.cell]
}

// expired reports whether st's result is older than its ttl.
func (s *scheduler) expired(st *cellState, spec execSpec) bool {
	return spec.refresh.Kind == cells.RefreshTTL && !st.fetchedAt.IsZero() && s.clock.Now().Sub(st.fetchedAt) >= spec.refresh.TTL
}

// armTTL starts the timer that ages st's result, made at version, once
// its ttl has passed; it replaces the timer of an older result. With mu.
func (s *scheduler) armTTL(st *cellState, ttl time.Duration, version int64) {
	if st.ttlTimer != nil {
		st.ttlTimer.Stop()
	}
	st.ttlTimer = s.clock.AfterFunc(ttl, func() {
		s.spawn.Go(func() { s.expire(st, ttl, version) }) // refused once Close has begun
	})
}

// expire marks st's result stale once it is older than ttl and, in
// autorun mode, runs it again with its downstream; unless a newer result
// or a run took the cell over meanwhile.
func (s *scheduler) expire(st *cellState, ttl time.Duration, version int64) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed || st.version != version || st.run != nil || st.status != StatusSuccess {
		return
	}
	reason := "older than " + cells.Refresh{Kind: cells.RefreshTTL, TTL: ttl}.String()[len("ttl:"):]
	s.transition(st, StatusStale, reason)
	if s.opts.Mode != Autorun {
		return
	}
	targets, reasons := s.cascade(st.ap, st.ref.cell, Autorun, reason)
	s.startRun(targets, reasons, s.opts.Timeout)
}

// stopTimers stops every ttl timer. With mu, once closed is set.
func (s *scheduler) stopTimers() {
	for _, st := range s.states {
		if st.ttlTimer != nil {
			st.ttlTimer.Stop()
			st.ttlTimer = nil
		}
	}
}

// newRows says how many rows an increment added ("1 new row").
func newRows(n int64) string {
	if n == 1 {
		return "1 new row"
	}
	return strconv.FormatInt(n, 10) + " new rows"
}

// age is an external cell's refresh policy and when its current result
// was fetched; empty for a core cell. With mu.
func (s *scheduler) age(st *cellState, cp *CellPlan) (policy string, fetchedAt time.Time) {
	if cp.Connection.Engine == connectors.EngineDuckDB {
		return "", time.Time{}
	}
	return cp.Refresh().String(), st.fetchedAt
}

// cachedReason says why st is served from its current result: "cached:
// inputs unchanged", and for a ttl result how old it is ("cached:
// fetched 3m ago, ttl:10m").
func (s *scheduler) cachedReason(st *cellState, spec execSpec) string {
	if spec.refresh.Kind == cells.RefreshTTL && !st.fetchedAt.IsZero() {
		return "cached: fetched " + FormatAge(s.clock.Now().Sub(st.fetchedAt)) + " ago, " + spec.refresh.String()
	}
	return "cached: inputs unchanged"
}

// FormatAge prints how old a result is to the unit a person reads it
// in: "0s", "42s", "3m", "2h5m", "3d4h".
func FormatAge(d time.Duration) string {
	switch d = max(d, 0); {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d" + strconv.Itoa(int(d%(24*time.Hour)/time.Hour)) + "h"
}
