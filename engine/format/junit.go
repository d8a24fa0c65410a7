package format

import (
	"fmt"
	"io"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/junit"
)

// WriteJUnit writes the report as JUnit XML: a suite per artifact, a test
// case per SQL cell. An error is a failure, a cancelled cell an error, a
// blocked cell skipped. A test case is named as a person reads the cell,
// "Title (id)" (cells.Label), when plan has the cell; the id otherwise.
func WriteJUnit(w io.Writer, r *engine.Report, name string, plan *engine.Plan) error {
	doc := junit.Suites{Name: name}
	for _, ar := range r.Artifacts {
		s := junit.Suite{Name: ar.ID}
		var secs float64
		for _, c := range ar.Cells {
			tc := junit.Case{Name: caseName(plan, ar.ID, c.ID), Classname: ar.ID, Time: fmt.Sprintf("%.3f", c.Duration.Seconds())}
			secs += c.Duration.Seconds()
			switch c.Status {
			case engine.StatusError:
				msg := ""
				if c.Err != nil {
					msg = *c.Err
				}
				tc.Failure = &junit.Message{Message: msg, Text: msg}
			case engine.StatusCancel:
				tc.Error = &junit.Message{Message: c.Reason}
			case engine.StatusBlocked:
				tc.Skipped = &junit.Message{Message: c.Reason}
			}
			s.Cases = append(s.Cases, tc)
		}
		s.Time = fmt.Sprintf("%.3f", secs)
		doc.Suites = append(doc.Suites, s)
	}
	return junit.Write(w, doc)
}

// caseName is the cell's label (Title (id)) from the plan, or its id.
func caseName(plan *engine.Plan, artifact, id string) string {
	if plan == nil {
		return id
	}
	if ap := plan.Artifact(artifact); ap != nil {
		if cp := ap.Cell(id); cp != nil {
			return cells.Label(cp.Cell)
		}
	}
	return id
}
