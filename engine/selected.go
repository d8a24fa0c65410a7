package engine

import (
	"fmt"
	"strings"
	"time"
)

// runSelected queues the selected cells (of one artifact, or of all) with
// their stale or idle upstream, and nothing downstream, as one run.
func (s *Session) runSelected(sel Selection, artifact string, timeout time.Duration) (*Run, error) {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if artifact != "" && s.plan.Artifact(artifact) == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownArtifact, artifact)
	}
	reasons := map[*cellState]string{}
	for _, ap := range s.plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			if !sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				continue
			}
			_, rs := s.cascade(ap, cp.Cell.ID, Lazy, "selected")
			for st, why := range rs {
				if _, ok := reasons[st]; !ok {
					reasons[st] = why
				}
			}
		}
	}
	targets := make([]*cellState, 0, len(reasons))
	for st := range reasons {
		targets = append(targets, st)
	}
	sortStates(targets)
	if timeout == 0 {
		timeout = s.opts.Timeout
	}
	return s.startRun(targets, reasons, timeout), nil
}

// NotebookSearchPath is the search_path of SQL run on the results of a
// whole notebook rather than in one artifact: every artifact schema in the
// plan's order, then the core database's main schema. The schemas exist
// once a session of the plan is open.
func (e *Engine) NotebookSearchPath(plan *Plan) string {
	var parts []string
	for _, ap := range plan.Artifacts {
		parts = append(parts, quoteIdent(e.ResultDB())+"."+quoteIdent(ap.Schema))
	}
	return strings.Join(append(parts, quoteIdent(e.coreDB)+".main"), ",")
}
