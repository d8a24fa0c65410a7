package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// progress shows a run on stderr. On a terminal: the cells running now,
// each with its elapsed time ticking, and a bar of done/total, redrawn in
// place; at the end a table of every cell (status, title, rows, time,
// cached). Otherwise one line per finished cell (quiet: only those that did
// not succeed; verbose: also when each starts). Failures are always
// printed in full, as diagnostics. The summary line ends both.
type progress struct {
	w       io.Writer
	plan    *engine.Plan
	quiet   bool
	verbose bool
	start   time.Time

	mu       sync.Mutex
	tty      bool
	bar      *progressbar.ProgressBar
	running  map[string]time.Time // artifact/cell → when it started
	finished []engine.Event       // in the order they finished
	drawn    int                  // lines of the live area on screen
	stop     chan struct{}
	wg       sync.WaitGroup
}

// tickEvery is how often the live area is redrawn on a terminal.
const tickEvery = 100 * time.Millisecond

// newProgress shows the run of the SQL cells of sel (nil: all) in the
// artifact (empty: all).
func newProgress(w io.Writer, plan *engine.Plan, artifact string, sel engine.Selection, quiet bool) *progress {
	p := &progress{w: w, plan: plan, quiet: quiet, start: time.Now(), running: map[string]time.Time{}}
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
		p.tty = true
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(io.Discard), // drawn by redraw, with the running cells
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionThrottle(0),
		)
		p.stop = make(chan struct{})
		p.wg.Add(1)
		go p.tick(p.stop)
	}
	return p
}

// forEnv sets how much the progress says from --quiet and --verbose.
func (p *progress) forEnv(e *env) *progress {
	p.quiet = p.quiet || e.quiet
	p.verbose = e.verbose
	return p
}

func (p *progress) tick(stop <-chan struct{}) {
	defer p.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// observe is called by the engine, one event at a time.
func (p *progress) observe(ev engine.Event) {
	if ev.SessionLevel() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.Artifact + "/" + ev.Cell
	if !ev.Status.Final() {
		if ev.Status == engine.StatusRunning {
			p.running[key] = time.Now()
			if !p.tty && p.verbose {
				fmt.Fprintf(p.w, "%-8s %s\n", ev.Status, p.label(ev))
			}
		}
		return
	}
	delete(p.running, key)
	p.finished = append(p.finished, ev)
	if p.tty {
		p.bar.Add(1)
		if ev.Status != engine.StatusSuccess && ev.Status != engine.StatusBlocked {
			p.clear()
			fmt.Fprint(p.w, p.line(ev))
		}
		p.redraw()
		return
	}
	if !p.quiet || ev.Status != engine.StatusSuccess {
		fmt.Fprint(p.w, p.line(ev))
	}
}

// clear erases the live area.
func (p *progress) clear() {
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA\x1b[J", p.drawn)
		p.drawn = 0
	}
}

// redraw draws the live area: one line per running cell, then the bar.
func (p *progress) redraw() {
	if !p.tty || p.stop == nil {
		return
	}
	p.clear()
	keys := make([]string, 0, len(p.running))
	for k := range p.running {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return p.running[a].Compare(p.running[b]) })
	var b strings.Builder
	for _, k := range keys {
		art, cell, _ := strings.Cut(k, "/")
		fmt.Fprintf(&b, "  running  %s  %s\n", p.labelOf(art, cell), seconds(time.Since(p.running[k])))
	}
	fmt.Fprintf(&b, "%s\n", strings.TrimSpace(p.bar.String()))
	p.drawn = len(keys) + 1
	fmt.Fprint(p.w, b.String())
}

// summary counts the cells finished so far by state.
func (p *progress) summary() engine.Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sum engine.Summary
	for _, ev := range p.finished {
		switch ev.Status {
		case engine.StatusSuccess:
			sum.Success++
		case engine.StatusError:
			sum.Error++
		case engine.StatusBlocked:
			sum.Blocked++
		case engine.StatusCancel:
			sum.Cancel++
		}
	}
	return sum
}

// stopLive stops redrawing the live area and erases it.
func (p *progress) stopLive() bool {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop == nil {
		return false
	}
	close(stop)
	p.wg.Wait()
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
	return true
}

// done stops the live area and prints the final table (on a terminal) and
// the summary line.
func (p *progress) done(s engine.Summary, r *engine.Report) {
	if p.stopLive() && !p.quiet {
		p.mu.Lock()
		p.table()
		p.mu.Unlock()
	}
	if !p.quiet && r != nil {
		p.ages(r)
	}
	fmt.Fprintln(p.w, summaryLine(s, time.Since(p.start)))
}

// ages prints the refresh policy of every external cell that has a
// result and how old that result is: it may have been served from a
// persistent --db, fetched by an earlier run.
func (p *progress) ages(r *engine.Report) {
	var tw *tabwriter.Writer
	for _, ar := range r.Artifacts {
		for _, c := range ar.Cells {
			if c.Refresh == "" || c.FetchedAt.IsZero() {
				continue
			}
			if tw == nil {
				tw = tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "EXTERNAL\tREFRESH\tFETCHED")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s ago\n", p.labelOf(ar.ID, c.ID), c.Refresh, engine.FormatAge(time.Since(c.FetchedAt)))
		}
	}
	if tw != nil {
		tw.Flush()
	}
}

// table prints every finished cell: status, title, rows, time, cached.
func (p *progress) table() {
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCELL\tROWS\tTIME\tCACHED")
	for _, ev := range p.finished {
		rows, took, cached := "", "", ""
		if ev.Rows != nil {
			rows = fmt.Sprint(*ev.Rows)
		}
		if ev.Status != engine.StatusBlocked {
			took = fmt.Sprintf("%.1f ms", engine.Milliseconds(ev.Duration))
		}
		if ev.Cached {
			cached = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ev.Status, p.label(ev), rows, took, cached)
	}
	tw.Flush()
}

// summaryLine is "12 success, 1 error, 3 blocked in 1.4s" (and the
// cancelled cells, when there are).
func summaryLine(s engine.Summary, d time.Duration) string {
	line := fmt.Sprintf("%d success, %d error, %d blocked", s.Success, s.Error, s.Blocked)
	if s.Cancel > 0 {
		line += fmt.Sprintf(", %d cancelled", s.Cancel)
	}
	return line + " in " + seconds(d)
}

// seconds is a duration as "1.4s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// label names the event's cell as a person reads it: artifact/Title (id).
func (p *progress) label(ev engine.Event) string { return p.labelOf(ev.Artifact, ev.Cell) }

func (p *progress) labelOf(artifact, cell string) string {
	if c := p.cell(artifact, cell); c != nil {
		return artifact + "/" + cells.Label(c)
	}
	return artifact + "/" + cell
}

// cell finds a cell of the plan.
func (p *progress) cell(artifact, id string) *cells.Cell {
	if ap := p.plan.Artifact(artifact); ap != nil {
		for _, cp := range ap.Cells {
			if cp.Cell.ID == id {
				return cp.Cell
			}
		}
	}
	return nil
}

// line describes a finished cell: one line, or for an error the
// diagnostic of the cell's error.
func (p *progress) line(ev engine.Event) string {
	id := p.label(ev)
	switch {
	case ev.Status == engine.StatusSuccess && ev.Rows == nil: // a DDL cell: no result of its own
		return fmt.Sprintf("%-8s %s  %.1f ms\n", ev.Status, id, engine.Milliseconds(ev.Duration))
	case ev.Status == engine.StatusSuccess:
		return fmt.Sprintf("%-8s %s  %s  %s  %.1f ms\n", ev.Status, id, ev.Relation, rowsText(*ev.Rows), engine.Milliseconds(ev.Duration))
	case ev.Status == engine.StatusError:
		if c := p.cell(ev.Artifact, ev.Cell); c != nil {
			return fmt.Sprintf("%-8s %s\n%s", ev.Status, id, cells.Diagnose(p.plan.Notebook.Path, ev.Artifact, c, ev.Err))
		}
		return fmt.Sprintf("%-8s %s  %s\n", ev.Status, id, ev.Err)
	default:
		return fmt.Sprintf("%-8s %s  %s\n", ev.Status, id, ev.Reason)
	}
}
