package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/cellsd/cellsd/cells"
)

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
//
// The cell is parsed (through DuckDB for a DuckDB cell) without the
// scheduler's lock, on copies of the artifact plans that hold it; the
// copies replace the plans under the lock. Edits are serialised, so the
// copies start from the plans as the last edit left them.
func (s *Session) Update(ctx context.Context, p CellPatch) (*Run, error) {
	s.updates.Lock()
	defer s.updates.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	c, err := s.patched(p)
	var edited []int // the artifacts holding the cell
	for i, ap := range s.plan.Artifacts {
		if ap.Cell(p.CellID) != nil {
			edited = append(edited, i)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// Only Update changes plans, and edits are serialised: reading them
	// here without mu is safe.
	fresh := make([]*ArtifactPlan, len(edited))
	for k, i := range edited {
		ap := s.plan.Artifacts[i].clone()
		if err := ap.Update(ctx, c); err != nil {
			return nil, err
		}
		fresh[k] = ap
	}

	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var targets []*cellState
	reasons := map[*cellState]string{}
	for k, i := range edited {
		ap := fresh[k]
		s.plan.Artifacts[i] = ap
		for _, st := range s.states {
			if st.ref.artifact == ap.Artifact.ID {
				st.ap = ap
			}
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
	s.nb.Cells[c.ID] = c
	if s.opts.Mode == Lazy {
		return nil, nil
	}
	return s.startRun(targets, reasons, s.opts.Timeout), nil
}

// patched returns a copy of the cell p edits, with p applied.
func (s *scheduler) patched(p CellPatch) (*cells.Cell, error) {
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
	return &c, nil
}

// clone returns a copy of ap that ArtifactPlan.Update can change while
// ap is read: the cell plans, the graph and every index Update writes to
// are copied; what it only reads or replaces whole is shared. It goes
// once the plans are immutable (issue 14, engine/plan).
func (ap *ArtifactPlan) clone() *ArtifactPlan {
	c := *ap
	c.Graph = ap.Graph.Clone()
	c.Cells = make([]*CellPlan, len(ap.Cells))
	c.byID = make(map[string]*CellPlan, len(ap.byID))
	for i, cp := range ap.Cells {
		n := *cp
		n.Errors = slices.Clone(cp.Errors)
		n.writeKeys = slices.Clone(cp.writeKeys)
		c.Cells[i], c.byID[cp.Cell.ID] = &n, &n
	}
	c.Order = slices.Clone(ap.Order)
	c.Errors = slices.Clone(ap.Errors)
	c.definers = cloneLists(ap.definers)
	c.writers = cloneLists(ap.writers)
	c.readers = make(map[string]map[string]bool, len(ap.readers))
	for k, ids := range ap.readers {
		c.readers[k] = maps.Clone(ids)
	}
	return &c
}

func cloneLists(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, ids := range m {
		out[k] = slices.Clone(ids)
	}
	return out
}
