package check

import (
	"io"

	"github.com/cellsd/cellsd/internal/junit"
)

// WriteJUnit writes results as JUnit XML: a suite per fixture, a test case
// per golden; a mismatch is a failure carrying the diff, a fixture that
// could not run is an error.
func WriteJUnit(w io.Writer, results []Result) error {
	doc := junit.Suites{Name: "cellsd check"}
	for _, r := range results {
		s := junit.Suite{Name: r.Dir}
		if r.Err != nil {
			s.Cases = append(s.Cases, junit.Case{Name: "run", Classname: r.Dir, Error: &junit.Message{Message: r.Err.Error(), Text: r.Err.Error()}})
		}
		for _, g := range r.Goldens {
			c := junit.Case{Name: g.Name, Classname: r.Dir}
			if !g.OK {
				c.Failure = &junit.Message{Message: g.Name + " differs from the golden", Text: g.Diff}
			}
			s.Cases = append(s.Cases, c)
		}
		doc.Suites = append(doc.Suites, s)
	}
	return junit.Write(w, doc)
}
