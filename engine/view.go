package engine

import (
	"time"

	"github.com/cellsd/cellsd/cells"
)

// CellView is one cell of a session as a frontend draws it: the cell as it
// now stands (edits applied) and, for a SQL cell, its effective result
// name.
type CellView struct {
	Artifact string
	Cell     cells.Cell // a copy; Input too
	// ResultName is the effective result name of a SQL cell.
	ResultName string
	// Refresh is an external cell's refresh policy ("ttl:10m") and
	// FetchedAt when its current result was fetched (zero before the
	// first) and Age how long ago that was, by the session's clock; empty
	// for other cells.
	Refresh   string
	FetchedAt time.Time
	Age       time.Duration
}

// Cells returns every cell of every artifact, in artifact and position
// order, as it now stands.
func (s *Session) Cells() []CellView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CellView
	for _, ap := range s.plan.Artifacts {
		for _, cp := range ap.Cells {
			c := *cp.Cell
			if c.Input != nil {
				in := *c.Input
				c.Input = &in
			}
			v := CellView{Artifact: ap.Artifact.ID, Cell: c, ResultName: cp.Name}
			if st := s.states[cellRef{ap.Artifact.ID, c.ID}]; st != nil {
				v.Refresh, v.FetchedAt = s.age(st, cp)
				if !v.FetchedAt.IsZero() {
					v.Age = s.clock.Now().Sub(v.FetchedAt)
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// Notebook returns the session's notebook as it now stands, in the shape
// it was read in (cells.Notebook.Marshal).
func (s *Session) Notebook() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nb.Marshal()
}
