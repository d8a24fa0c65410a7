package format

import (
	"encoding/json"
	"io"

	"github.com/cellsd/cellsd/engine"
)

// report, artifactReport, cellResult and summary are the report's JSON
// shape (DESIGN.md "CLI contract"): durations in milliseconds, relation,
// rows and error null when absent.
type report struct {
	Artifacts []artifactReport `json:"artifacts"`
	Summary   summary          `json:"summary"`
}

type artifactReport struct {
	ID    string       `json:"id"`
	Cells []cellResult `json:"cells"`
}

type cellResult struct {
	ID         string        `json:"id"`
	Status     engine.Status `json:"status"`
	Relation   *string       `json:"relation"`
	Rows       *int64        `json:"rows"`
	DurationMs float64       `json:"durationMs"`
	Cached     bool          `json:"cached"`
	Error      *string       `json:"error"`
}

type summary struct {
	Success int `json:"success"`
	Error   int `json:"error"`
	Blocked int `json:"blocked"`
	Cancel  int `json:"cancel"`
}

// MarshalReport returns the report in the shape `cellsd run --report`
// writes, without indentation.
func MarshalReport(r *engine.Report) ([]byte, error) { return json.Marshal(reportOf(r)) }

// WriteReport writes the report as `cellsd run --report` does: indented
// by two spaces, with a final newline.
func WriteReport(w io.Writer, r *engine.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reportOf(r))
}

func reportOf(r *engine.Report) report {
	s := r.Summary
	out := report{Artifacts: []artifactReport{}, Summary: summary{s.Success, s.Error, s.Blocked, s.Cancel}}
	if r.Artifacts == nil {
		out.Artifacts = nil // as encoding/json wrote a nil list: null
	}
	for _, ar := range r.Artifacts {
		a := artifactReport{ID: ar.ID}
		if ar.Cells != nil {
			a.Cells = make([]cellResult, 0, len(ar.Cells))
		}
		for _, c := range ar.Cells {
			var relation *string
			if c.Relation != "" {
				relation = &c.Relation
			}
			a.Cells = append(a.Cells, cellResult{c.ID, c.Status, relation, c.Rows, engine.Milliseconds(c.Duration), c.Cached, c.Err})
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	return out
}
