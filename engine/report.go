package engine

import (
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of a run; format.WriteReport writes it in the
// shape of `cellsd run --report` (DESIGN.md "CLI contract").
type Report struct {
	Artifacts []*ArtifactReport
	Summary   Summary
}

// ArtifactReport lists the final state of every SQL cell of one artifact, in
// cellIds order.
type ArtifactReport struct {
	ID    string
	Cells []*CellResult
}

// CellResult is the final state of one SQL cell.
type CellResult struct {
	ID       string
	Status   Status
	Relation string
	Rows     *int64
	Duration time.Duration
	Cached   bool
	Err      *string
	// Reason is the reason of the last state change; not in the report.
	Reason string
	// Refresh is an external cell's refresh policy ("ttl:10m") and
	// FetchedAt when its current result was fetched (zero before the
	// first); empty for core cells. Not in the report.
	Refresh   string
	FetchedAt time.Time
}

// Milliseconds converts d to milliseconds with microsecond precision.
func Milliseconds(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// Summary counts cells by final state.
type Summary struct {
	Success int
	Error   int
	Blocked int
	Cancel  int
}

func (s *Summary) add(st Status) {
	switch st {
	case StatusSuccess:
		s.Success++
	case StatusError:
		s.Error++
	case StatusBlocked:
		s.Blocked++
	case StatusCancel:
		s.Cancel++
	}
}

// OK reports whether every cell succeeded.
func (s Summary) OK() bool { return s.Error == 0 && s.Blocked == 0 && s.Cancel == 0 }

// Status is the state a run with this summary ends in: error when a cell
// failed or was blocked, else cancel when one was cancelled, else success.
func (s Summary) Status() Status {
	switch {
	case s.Error > 0 || s.Blocked > 0:
		return StatusError
	case s.Cancel > 0:
		return StatusCancel
	}
	return StatusSuccess
}

// describe counts the states of wanted cells in words ("5 success, 1
// error, 2 superseded"); cells taken over by a newer run are superseded.
func (s Summary) describe(wanted int) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{s.Success, "success"}, {s.Error, "error"}, {s.Blocked, "blocked"}, {s.Cancel, "cancel"},
		{wanted - s.Success - s.Error - s.Blocked - s.Cancel, "superseded"}} {
		if c.n > 0 {
			parts = append(parts, strconv.Itoa(c.n)+" "+c.what)
		}
	}
	if len(parts) == 0 {
		return "nothing to run"
	}
	return strings.Join(parts, ", ")
}
