package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/cellsd/cellsd/cells"
)

// The cache: a cell is served from its current result when the
// fingerprint of its inputs is the one that result was made from.

// fingerprint is the hash of what a cell's result depends on. It covers
// the SQL up to layout and comments, the connector, the values of the
// variables used, where the result goes, and the versions of the upstream
// results.
func (s *scheduler) fingerprint(st *cellState, cp *CellPlan, values map[string]any) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00%s\x00", cp.Fingerprint(), cp.Connection.ID, cp.HasResult(), cp.Name)
	for _, v := range cp.Analysis.Vars {
		b, _ := json.Marshal(values[v])
		fmt.Fprintf(h, "var %s=%s\x00", v, b)
	}
	for _, d := range cp.Deps {
		if dst := s.states[cellRef{st.ref.artifact, d}]; dst != nil {
			fmt.Fprintf(h, "dep %s@%d\x00", d, dst.version)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cacheHit reports whether st can be served from cache instead of
// executing spec: caching is on, st has a result made from the same
// inputs and, for the definer of a family, so has every writer of it. An
// external result is not served from cache to a run that names its cell,
// nor past its ttl, and an incremental one never is: its fetch asks for
// what is new.
func (s *scheduler) cacheHit(st *cellState, spec execSpec) bool {
	return !s.opts.NoCache && st.version > 0 && spec.fingerprint == st.fingerprint &&
		spec.refresh.Kind != cells.RefreshIncremental && !s.expired(st, spec) && !s.refetch(st, spec) &&
		(!st.ap.DefinesFamily(st.ref.cell) || s.familyCached(st))
}

// familyCached reports whether every writer of the family st defines
// would be served from cache too: a family is served from cache whole or
// not at all, so a rerun never applies a write twice.
func (s *scheduler) familyCached(st *cellState) bool {
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
