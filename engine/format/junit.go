package format

import (
	"fmt"
	"io"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/junit"
)

// WriteJUnit writes the report as JUnit XML: a suite per artifact, a test
// case per SQL cell. An error is a failure, a cancelled cell an error, a
// blocked cell skipped.
func WriteJUnit(w io.Writer, r *engine.Report, name string) error {
	doc := junit.Suites{Name: name}
	for _, ar := range r.Artifacts {
		s := junit.Suite{Name: ar.ID}
		var secs float64
		for _, c := range ar.Cells {
			tc := junit.Case{Name: c.ID, Classname: ar.ID, Time: fmt.Sprintf("%.3f", c.Duration.Seconds())}
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
