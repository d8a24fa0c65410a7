package engine

import (
	"encoding/xml"
	"fmt"
	"io"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: a suite per artifact, a test
// case per SQL cell. An error is a failure, a cancelled cell an error, a
// blocked cell skipped.
func (r *Report) WriteJUnit(w io.Writer, name string) error {
	doc := junitSuites{Name: name}
	for _, ar := range r.Artifacts {
		s := junitSuite{Name: ar.ID}
		var secs float64
		for _, c := range ar.Cells {
			tc := junitCase{Name: c.ID, Classname: ar.ID, Time: fmt.Sprintf("%.3f", c.Duration.Seconds())}
			secs += c.Duration.Seconds()
			switch c.Status {
			case StatusError:
				msg := deref(c.Err)
				tc.Failure = &junitMessage{Message: msg, Text: msg}
				s.Failures++
			case StatusCancel:
				tc.Error = &junitMessage{Message: c.Reason}
				s.Errors++
			case StatusBlocked:
				tc.Skipped = &junitMessage{Message: c.Reason}
				s.Skipped++
			}
			s.Cases = append(s.Cases, tc)
		}
		s.Tests, s.Time = len(s.Cases), fmt.Sprintf("%.3f", secs)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
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
