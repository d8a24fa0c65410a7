package engine

import "github.com/cellsd/cellsd/cells"

// CellView is one cell of a session as a frontend draws it: the cell as it
// now stands (edits applied) and, for a SQL cell, its effective result
// name.
type CellView struct {
	Artifact string
	Cell     cells.Cell // a copy; Input too
	// ResultName is the effective result name of a SQL cell.
	ResultName string
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
			out = append(out, CellView{Artifact: ap.Artifact.ID, Cell: c, ResultName: cp.Name})
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
