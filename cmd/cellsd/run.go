package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/format"
)

type runCmd struct {
	notebookFlags
	Params          []string      `name:"param" sep:"none" placeholder:"VAR=VALUE" help:"Override an input cell's value (repeatable)."`
	Artifact        string        `placeholder:"ID" help:"Run only this artifact."`
	Concurrency     int           `default:"${cpus}" placeholder:"N" help:"Cells run at once (default: the number of CPUs, ${default})."`
	Timeout         time.Duration `placeholder:"DUR" help:"Per-cell timeout, e.g. 30s (default: none)."`
	NoCache         bool          `help:"Execute every cell even if its inputs are unchanged, and fetch every external cell again whatever its refresh policy and --db kept."`
	DB              string        `name:"db" type:"path" placeholder:"PATH" help:"Core DuckDB database file (default: in memory)."`
	Materialization string        `enum:"attached_ephemeral,schema" default:"attached_ephemeral" help:"Where results live: ${enum}."`
	Report          string        `type:"path" placeholder:"FILE.json" predictor:"file" help:"Write the run report here (- for stdout)."`
	JUnit           string        `name:"junit" type:"path" placeholder:"FILE.xml" predictor:"file" help:"Write a JUnit XML report here (- for stdout)."`
	NATS            string        `name:"nats" placeholder:"URL" help:"Publish status events to this NATS server (JetStream stream CELLSD_EVENTS, KV CELLSD_STATUS)."`
	Session         string        `placeholder:"ID" help:"Session id of the run's events (default: run-<random>)."`
	Select          string        `placeholder:"SPEC" help:"Run only a subgraph, with its upstream: c1, c1+, +c1, +c1+ (cell id or result name), as check --select takes."`
	Show            string        `placeholder:"CELL" help:"Print the first 20 rows of this cell's result (cell id or result name) as a table on stdout."`
	Sandbox         bool          `help:"Run SQL sandboxed, as cellsd serve does: no host files but under --allow-dir, no ATTACH, no extensions, no network."`
	Watch           bool          `help:"Rerun on every save of the notebook: only the changed cells and their downstream."`
	AllowDir        []string      `name:"allow-dir" sep:"none" type:"existingdir" placeholder:"DIR" help:"With --sandbox, let SQL read files under DIR. Repeatable."`
}

// showRows is how many rows --show prints.
const showRows = 20

func (c *runCmd) Run(e *env) error {
	for {
		err := c.runOnce(e)
		if !errors.Is(err, errReload) {
			return err
		}
		fmt.Fprintf(e.stderr, "%s changed: rerunning the notebook\n", c.Connections)
	}
}

func (c *runCmd) runOnce(e *env) error {
	if c.Concurrency < 1 {
		return usagef("--concurrency must be at least 1, got %d", c.Concurrency)
	}
	nb, reg, err := c.load(e)
	if err != nil {
		return err
	}
	if err := applyParams(nb, c.Params); err != nil {
		return err
	}
	if c.Artifact != "" && nb.Artifact(c.Artifact) == nil {
		return usagef("%s: --artifact %q: no such artifact", nb.Path, c.Artifact)
	}

	if len(c.AllowDir) > 0 && !c.Sandbox {
		return usagef("--allow-dir needs --sandbox: without it SQL reads any file")
	}
	var sandbox *engine.Sandbox
	if c.Sandbox {
		sandbox = &engine.Sandbox{AllowDirs: c.AllowDir}
	}
	jobSources := newRunJobs(e, reg, c.NATS, c.Concurrency)
	defer jobSources.close() // after the engine's Close: its cells are over
	eng, err := openEngine(e, engine.Config{
		DBPath:          c.DB,
		Materialization: engine.Strategy(c.Materialization),
		Connections:     reg,
		Sandbox:         sandbox,
		Sources:         jobSources,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	plan, err := eng.Planner().Plan(e.ctx, nb)
	if err != nil {
		return err
	}
	sel, err := selectCells(plan, c.Select, c.Artifact)
	if err != nil {
		return err
	}
	if err := connectionsGiven(plan, c.Connections, c.Artifact, sel); err != nil {
		return err
	}
	var show *showTarget
	if c.Show != "" {
		if show, err = findShow(plan, c.Show, c.Artifact, sel); err != nil {
			return err
		}
	}
	if err := secretsSet(plan, c.Artifact, c.Connections, sel); err != nil {
		return err
	}
	if err := workersReachable(plan, c.Artifact, c.Connections, c.NATS, sel); err != nil {
		return err
	}
	if c.Watch {
		return c.watch(e, eng, plan)
	}
	prog := newProgress(e.stderr, plan, c.Artifact, sel, false).forEnv(e)
	observe := prog.observe
	var firstSeq int64
	if c.NATS != "" {
		ev, err := openEvents(e, c.NATS)
		if err != nil {
			return err
		}
		defer ev.close()
		if c.Session == "" {
			c.Session = "run-" + strings.ToLower(nuid.Next())
		}
		if firstSeq, err = ev.begin(c.Session); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "publishing events of session %s to %s\n", c.Session, c.NATS)
		publish := ev.pub.Observer()
		observe = func(ev engine.Event) {
			prog.observe(ev)
			publish(ev)
		}
	}
	report, err := eng.Run(e.ctx, plan, engine.RunOptions{
		Session:     c.Session,
		Artifact:    c.Artifact,
		Select:      sel,
		Concurrency: c.Concurrency,
		Timeout:     c.Timeout,
		Observe:     observe,
		FirstSeq:    firstSeq,
		NoCache:     c.NoCache,
	})
	if err != nil {
		prog.done(engine.Summary{}, nil)
		return err
	}
	prog.done(report.Summary, report)
	if sel != nil {
		onlyRun(report)
	}
	if show != nil {
		if err := show.print(e, eng, report); err != nil {
			return err
		}
	}
	if c.Report != "" {
		if err := writeFile(e, c.Report, func(f io.Writer) error { return format.WriteReport(f, report) }); err != nil {
			return err
		}
	}
	if c.JUnit != "" {
		if err := writeFile(e, c.JUnit, func(f io.Writer) error { return format.WriteJUnit(f, report, nb.Path, plan) }); err != nil {
			return err
		}
	}
	if e.ctx.Err() != nil {
		return errInterrupted
	}
	if !report.Summary.OK() {
		return errFailed
	}
	return nil
}

// writeFile writes a file through write and reports any failure with the
// file's name; "-" is stdout.
func writeFile(e *env, path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(e.stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := errors.Join(write(f), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// secretsSet checks, before anything runs, that every connection a cell
// to run uses finds its secret in the environment: a variable left unset
// is a load error naming the file, the connection and the variable, not a
// cell failing later.
func secretsSet(plan *engine.Plan, artifact, path string, sel engine.Selection) error {
	for _, ap := range plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			if !sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				continue
			}
			if v := cp.Connection.UnsetSecretVar(); v != "" && len(cp.Errors) == 0 {
				return usagef("%s: connector %q: environment variable %s is not set (cell %s/%s uses the connection)",
					path, cp.Connection.ID, v, ap.Artifact.ID, cp.Cell.ID)
			}
		}
	}
	return nil
}

// connectionsGiven refuses, before anything runs, a notebook whose cells
// name a connector when no --connections file was given: the run could
// only fail them.
func connectionsGiven(plan *engine.Plan, path, artifact string, sel engine.Selection) error {
	if path != "" {
		return nil
	}
	for _, ap := range plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			id := cp.Cell.ConnectorID
			if cp.Cell.Type != cells.TypeSQL || id == "" || id == connectors.CoreID || !sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				continue
			}
			return usagef("%s: artifact %s, cell %s uses connector %q, and no connections config names it: pass --connections FILE (TOML, [[db.connectors]] with id = %q)",
				plan.Notebook.Path, ap.Artifact.ID, cells.Label(cp.Cell), id, id)
		}
	}
	return nil
}

// applyParams sets the --param values on the notebook's input cells.
func applyParams(nb *cells.Notebook, params []string) error {
	for _, p := range params {
		if err := nb.ApplyParam(p); err != nil {
			return usageError{err}
		}
	}
	return nil
}

// selectCells resolves --select (in the artifact, when one is given) to
// the cells a run executes: the selection with its upstream. An empty spec
// is every cell (nil).
func selectCells(plan *engine.Plan, spec, artifact string) (engine.Selection, error) {
	sel, err := plan.Select(spec)
	if err != nil {
		return nil, usagef("%s: --select %s: %v", plan.Notebook.Path, spec, err)
	}
	if sel == nil {
		return nil, nil
	}
	if artifact != "" {
		sel = engine.Selection{artifact: sel[artifact]}
		if len(sel[artifact]) == 0 {
			return nil, usagef("%s: --select %s: no cell of artifact %q matches", plan.Notebook.Path, spec, artifact)
		}
	}
	sel = plan.WithUpstream(sel)
	for _, ap := range plan.Artifacts {
		for _, cp := range ap.Cells {
			if cp.Cell.Type == cells.TypeSQL && sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				return sel, nil
			}
		}
	}
	return nil, usagef("%s: --select %s: selects no SQL cell, so nothing would run", plan.Notebook.Path, spec)
}

// onlyRun keeps in the report the cells the run executed: a --select run
// leaves the others idle, and reports only what it ran.
func onlyRun(r *engine.Report) {
	for _, ar := range r.Artifacts {
		ar.Cells = slices.DeleteFunc(ar.Cells, func(c *engine.CellResult) bool { return c.Status == engine.StatusIdle })
	}
}

// showTarget is the cell whose result --show prints.
type showTarget struct {
	artifact string
	cp       *engine.CellPlan
	schema   string
}

// findShow resolves --show: a cell id, else a result name (case-insensitive),
// of a cell with a result table that the run executes.
func findShow(plan *engine.Plan, name, artifact string, sel engine.Selection) (*showTarget, error) {
	var byID, byName []*showTarget
	for _, ap := range plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			t := &showTarget{artifact: ap.Artifact.ID, cp: cp, schema: ap.Schema}
			switch {
			case cp.Cell.ID == name:
				byID = append(byID, t)
			case cp.HasResult() && strings.EqualFold(cp.Name, name):
				byName = append(byName, t)
			}
		}
	}
	path := plan.Notebook.Path
	found := byID
	if len(found) == 0 {
		found = byName
	}
	switch {
	case len(found) == 0:
		msg := fmt.Sprintf("%s: --show %s: no cell has the id or result name %q", path, name, name)
		if artifact != "" {
			msg += " in artifact " + artifact
		}
		if s := plan.Closest(name); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		return nil, usagef("%s", msg)
	case len(found) > 1:
		var ids []string
		for _, t := range found {
			ids = append(ids, t.artifact+"/"+t.cp.Cell.ID)
		}
		return nil, usagef("%s: --show %s: cells %s match; give a cell id (and --artifact)", path, name, strings.Join(ids, ", "))
	}
	t := found[0]
	if !t.cp.HasResult() {
		return nil, usagef("%s: --show %s: cell %s/%s has no result table (%s)", path, name, t.artifact, t.cp.Cell.ID, noResult(t.cp))
	}
	if !sel.Has(t.artifact, t.cp.Cell.ID) {
		return nil, usagef("%s: --show %s: cell %s/%s is not in the --select subgraph", path, name, t.artifact, t.cp.Cell.ID)
	}
	return t, nil
}

// noResult says why a cell has no result table.
func noResult(cp *engine.CellPlan) string {
	switch {
	case cp.Cell.Type != cells.TypeSQL:
		return "it is a cell of type " + cp.Cell.Type
	case len(cp.Errors) > 0:
		return cp.Errors[0].Describe()
	}
	return "its last statement is not a query"
}

// print writes the first rows of the cell's result as a table, or says on
// stderr why there is none.
func (t *showTarget) print(e *env, eng *engine.Engine, report *engine.Report) error {
	var res *engine.CellResult
	for _, ar := range report.Artifacts {
		for _, cr := range ar.Cells {
			if ar.ID == t.artifact && cr.ID == t.cp.Cell.ID {
				res = cr
			}
		}
	}
	if res == nil || res.Status != engine.StatusSuccess {
		status := engine.StatusIdle
		if res != nil {
			status = res.Status
		}
		fmt.Fprintf(e.stderr, "--show %s/%s: nothing to show, the cell's status is %s\n", t.artifact, t.cp.Cell.ID, status)
		return nil
	}
	conn, err := eng.DB().Conn(e.ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rel := eng.Relation(t.schema, t.cp.Name)
	cols, err := describe(e.ctx, conn, rel)
	if err != nil {
		return fmt.Errorf("--show %s/%s: %w", t.artifact, t.cp.Cell.ID, err)
	}
	var rows [][]*string
	if err := textRows(e.ctx, conn, rel, showRows, func(r []*string) error { rows = append(rows, r); return nil }); err != nil {
		return fmt.Errorf("--show %s/%s: %w", t.artifact, t.cp.Cell.ID, err)
	}
	total := int64(len(rows))
	if res.Rows != nil {
		total = *res.Rows
	}
	footer := fmt.Sprintf("%s/%s: %s", t.artifact, t.cp.Cell.ID, rowCount(total))
	if total > int64(len(rows)) {
		footer = fmt.Sprintf("%s/%s: first %d of %d rows", t.artifact, t.cp.Cell.ID, len(rows), total)
	}
	return writeTable(e.stdout, cols, rows, footer)
}
