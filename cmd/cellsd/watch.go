package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mattn/go-isatty"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// settle is how long a burst of writes to a watched file must be quiet
// before the notebook is read again (an editor's save is several events).
const settle = 150 * time.Millisecond

// errReload ends a watch to rerun the notebook with the connections file
// as saved.
var errReload = errors.New("connections file saved")

// watch runs the plan in a session, then reruns on every save of the
// notebook: each cell whose SQL, title, result name, connector or value
// changed is updated through the session, so only it and its downstream
// rerun. A save that does not load is shown and the next one awaited.
// It returns when ctx ends (Ctrl-C).
func (c *runCmd) watch(e *env, eng *engine.Engine, plan *engine.Plan) error {
	var current atomic.Pointer[progress]
	current.Store(newProgress(e.stderr, plan, c.Artifact, nil, false).forEnv(e))
	s, err := eng.NewSession(e.ctx, plan, engine.SessionOptions{Concurrency: c.Concurrency, Timeout: c.Timeout, NoCache: c.NoCache,
		Observe: func(ev engine.Event) { current.Load().observe(ev) }})
	if err != nil {
		return err
	}
	defer s.Close()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	connsAbs := ""
	if c.Connections != "" {
		connsAbs, _ = filepath.Abs(c.Connections)
	}
	connsSaved := false
	for _, p := range []string{c.Notebook, c.Connections} {
		if p == "" {
			continue
		}
		abs, _ := filepath.Abs(p)
		watched[abs] = true
		if err := w.Add(filepath.Dir(abs)); err != nil { // the directory: editors replace files
			return err
		}
	}
	r, err := s.Run(engine.RunRequest{Artifact: c.Artifact})
	if err != nil {
		return err
	}
	wait := func(runs []*engine.Run, p *progress) {
		for _, r := range runs {
			r.Wait(e.ctx)
		}
		s.Flush() // every event of the runs observed
		p.done(p.summary(), s.Report(c.Artifact))
		fmt.Fprintf(e.stderr, "watching %s for changes (Ctrl-C stops)\n", c.Notebook)
	}
	wait([]*engine.Run{r}, current.Load())
	tty := false
	if f, ok := e.stderr.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	nb := plan.Notebook
	var timer <-chan time.Time
	for {
		select {
		case <-e.ctx.Done():
			return errInterrupted
		case err := <-w.Errors:
			fmt.Fprintf(e.stderr, "watch: %v\n", err)
		case ev := <-w.Events:
			if abs, _ := filepath.Abs(ev.Name); watched[abs] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer = time.After(settle)
				connsSaved = connsSaved || abs == connsAbs
			}
		case <-timer:
			timer = nil
			if tty {
				fmt.Fprint(e.stderr, "\x1b[H\x1b[2J")
			}
			if connsSaved {
				// The engine's connections are those of the file it was
				// opened with: a save of the file reruns the notebook in a
				// new engine, once the file loads.
				if _, _, err := c.load(e); err != nil {
					fmt.Fprintf(e.stderr, "cellsd: %v\nwaiting for the next save of %s\n", err, c.Connections)
					continue
				}
				return errReload
			}
			next, err := cells.Load(c.Notebook)
			if err == nil {
				err = applyParams(next, c.Params)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "cellsd: %v\nwaiting for the next save of %s\n", err, c.Notebook)
				continue
			}
			p := newProgress(e.stderr, s.Plan(), c.Artifact, nil, false).forEnv(e)
			current.Store(p)
			var runs []*engine.Run
			for _, patch := range changes(nb, next) {
				r, err := s.Update(e.ctx, patch)
				if err != nil {
					fmt.Fprintf(e.stderr, "cellsd: %s: cell %s: %v\n", c.Notebook, patch.CellID, err)
					continue
				}
				if r != nil {
					runs = append(runs, r)
				}
			}
			nb = next
			if len(runs) == 0 {
				fmt.Fprintln(e.stderr, "no cell changed")
			}
			wait(runs, p)
		}
	}
}

// changes are the edits that turn the cells of old into those of next
// (cells added or removed are not edits: they need a new run).
func changes(old, next *cells.Notebook) []engine.CellPatch {
	var out []engine.CellPatch
	for id, n := range next.Cells {
		o := old.Cells[id]
		if o == nil {
			continue
		}
		p := engine.CellPatch{CellID: id}
		changed := false
		if n.SQL != o.SQL {
			p.SQL, changed = &n.SQL, true
		}
		if n.Title != o.Title {
			p.Title, changed = &n.Title, true
		}
		if n.ResultName != o.ResultName {
			p.ResultName, changed = &n.ResultName, true
		}
		if n.ConnectorID != o.ConnectorID {
			p.ConnectorID, changed = &n.ConnectorID, true
		}
		if n.Input != nil && o.Input != nil && fmt.Sprint(n.Input.Value) != fmt.Sprint(o.Input.Value) {
			p.Value, p.SetValue, changed = n.Input.Value, true, true
		}
		if changed {
			out = append(out, p)
		}
	}
	return out
}
