package engine

import (
	"context"
	"fmt"

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
// A DuckDB cell is parsed through DuckDB before the scheduler's lock is
// taken (preparse); under it, the plan takes that parse and re-resolves
// the cells the edit concerns, which does no I/O. Edits are serialised, so
// the cell does not change between the two.
func (s *Session) Update(ctx context.Context, p CellPatch) (*Run, error) {
	s.updates.Lock()
	defer s.updates.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	c, err := s.patched(p)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ctx, err = s.e.Planner().Preparse(ctx, c)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var targets []*cellState
	reasons := map[*cellState]string{}
	for _, ap := range s.plan.Artifacts {
		if ap.Cell(c.ID) == nil {
			continue
		}
		if _, err := ap.Update(ctx, c); err != nil {
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
	s.nb.Cells[c.ID] = c
	if s.opts.Mode == Lazy {
		return nil, nil
	}
	return s.startRun(targets, reasons, s.opts.Timeout, c.ID), nil
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
