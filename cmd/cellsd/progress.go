package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// progress shows a run on stderr: a progress bar when stderr is a terminal,
// else one line per finished cell (quiet: per cell that did not succeed).
// Failures are always printed in full.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	quiet bool
}

// newProgress shows the run of the SQL cells of sel (nil: all) in the
// artifact (empty: all).
func newProgress(w io.Writer, plan *engine.Plan, artifact string, sel engine.Selection, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		total := 0
		for _, ap := range plan.Artifacts {
			if artifact != "" && ap.Artifact.ID != artifact {
				continue
			}
			for _, cp := range ap.Cells {
				if cp.Cell.Type == cells.TypeSQL && sel.Has(ap.Artifact.ID, cp.Cell.ID) {
					total++
				}
			}
		}
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("running"),
			progressbar.OptionShowCount(),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// observe is called by the engine, one event at a time.
func (p *progress) observe(ev engine.Event) {
	if ev.SessionLevel() {
		return
	}
	if !ev.Status.Final() {
		if p.bar != nil && ev.Status == engine.StatusRunning {
			p.bar.Describe(ev.Artifact + "/" + ev.Cell)
		}
		return
	}
	if p.bar != nil {
		if ev.Status != engine.StatusSuccess {
			p.bar.Clear()
			fmt.Fprintln(p.w, line(ev))
		}
		p.bar.Add(1)
		return
	}
	if !p.quiet || ev.Status != engine.StatusSuccess {
		fmt.Fprintln(p.w, line(ev))
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// line describes a finished cell in one line.
func line(ev engine.Event) string {
	id := ev.Artifact + "/" + ev.Cell
	switch {
	case ev.Status == engine.StatusSuccess && ev.Rows == nil: // a DDL cell: no result of its own
		return fmt.Sprintf("%-8s %s  %.1f ms", ev.Status, id, engine.Milliseconds(ev.Duration))
	case ev.Status == engine.StatusSuccess:
		return fmt.Sprintf("%-8s %s  %s  %s  %.1f ms", ev.Status, id, ev.Relation, rowsText(*ev.Rows), engine.Milliseconds(ev.Duration))
	case ev.Status == engine.StatusError:
		return fmt.Sprintf("%-8s %s  %s", ev.Status, id, ev.Err)
	default:
		return fmt.Sprintf("%-8s %s  %s", ev.Status, id, ev.Reason)
	}
}
