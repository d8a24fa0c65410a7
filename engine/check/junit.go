package check

import (
	"encoding/xml"
	"io"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes results as JUnit XML: a suite per fixture, a test case
// per golden; a mismatch is a failure carrying the diff, a fixture that
// could not run is an error.
func WriteJUnit(w io.Writer, results []Result) error {
	doc := junitSuites{}
	for _, r := range results {
		s := junitSuite{Name: r.Dir}
		if r.Err != nil {
			s.Cases = append(s.Cases, junitCase{Name: "run", Classname: r.Dir, Error: &junitMessage{Message: r.Err.Error(), Text: r.Err.Error()}})
			s.Errors++
		}
		for _, g := range r.Goldens {
			c := junitCase{Name: g.Name, Classname: r.Dir}
			if !g.OK {
				c.Failure = &junitMessage{Message: g.Name + " differs from the golden", Text: g.Diff}
				s.Failures++
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
