package check

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pmezard/go-difflib/difflib"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/postgres"
	"github.com/cellsd/cellsd/connectors/registry"
	"github.com/cellsd/cellsd/engine"
)

// The files of a fixture.
const (
	NotebookFile    = "notebook.json"
	ConnectionsFile = "connections.toml"
	SetupFile       = "setup.sql"
	ParamsFile      = "params"
	StepsFile       = "steps.json"
)

// Goldens, in the order they are checked.
var Goldens = []string{"graph.json", "run.json", "events.txt"}

// Options configures a check.
type Options struct {
	// Update rewrites the goldens instead of comparing.
	Update bool
	// Select limits the check to a dbt-style subgraph: "c1", "c1+", "+c1",
	// "+c1+", with a cell id or a result name.
	Select string
	// Timeout bounds one fixture; 0 means 5 minutes.
	Timeout time.Duration
}

// Result is the outcome of one fixture.
type Result struct {
	Dir string
	// Goldens holds one entry per golden file, in Goldens order; empty when
	// the fixture could not run.
	Goldens []Golden
	// Err is a fixture that could not run at all (a bad notebook, steps
	// that fail, a missing Postgres).
	Err error
	// Skipped says why a fixture was not checked: no cell of it matches
	// --select.
	Skipped string
}

// OK reports whether every golden matched.
func (r *Result) OK() bool {
	if r.Err != nil {
		return false
	}
	for _, g := range r.Goldens {
		if !g.OK {
			return false
		}
	}
	return true
}

// Golden is the comparison of one golden file.
type Golden struct {
	Name    string
	OK      bool
	Updated bool
	// Diff is a unified diff from the golden to what the run gave.
	Diff string
	// Cells lists the cells ("artifact/cell") whose final state or result
	// differs, for run.json.
	Cells []string
}

// Find returns the fixture directories (those holding a notebook.json)
// under each of dirs, sorted.
func Find(dirs ...string) ([]string, error) {
	var found []string
	for _, root := range dirs {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == NotebookFile {
				found = append(found, filepath.Dir(path))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(found)
	if len(found) == 0 {
		return nil, fmt.Errorf("no fixture (a directory with %s) under %s", NotebookFile, strings.Join(dirs, ", "))
	}
	return found, nil
}

// Run runs one fixture and compares (or, with Update, writes) its goldens.
func Run(ctx context.Context, dir string, opts Options) Result {
	res := Result{Dir: dir}
	if opts.Update && opts.Select != "" {
		res.Err = errors.New("--update rewrites whole goldens: it cannot be combined with --select")
		return res
	}
	got, sel, err := render(ctx, dir, opts)
	if opts.Select != "" && errors.Is(err, engine.ErrNoMatch) {
		res.Skipped = err.Error()
		return res
	}
	if err != nil {
		res.Err = err
		return res
	}
	for i, name := range Goldens {
		path := filepath.Join(dir, name)
		g := Golden{Name: name}
		if opts.Update {
			if err := os.WriteFile(path, got[i], 0o644); err != nil {
				res.Err = err
				return res
			}
			g.OK, g.Updated = true, true
			res.Goldens = append(res.Goldens, g)
			continue
		}
		want, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			g.Diff = path + ": no golden yet: run with --update\n"
			res.Goldens = append(res.Goldens, g)
			continue
		}
		if err != nil {
			res.Err = err
			return res
		}
		if sel != nil && want != nil {
			if want, err = selectGolden(name, want, sel); err != nil {
				res.Err = err
				return res
			}
		}
		g.OK = bytes.Equal(want, got[i])
		if !g.OK {
			g.Diff = unifiedDiff(path, want, got[i])
			if name == "run.json" {
				g.Cells = changedCells(want, got[i])
			}
		}
		res.Goldens = append(res.Goldens, g)
	}
	return res
}

func unifiedDiff(path string, want, got []byte) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
		FromFile: path + " (golden)", ToFile: path + " (this run)", Context: 3,
	})
	if d == "" && len(want) == 0 {
		return "--- " + path + " (golden)\n+++ missing: run cellsd check --update\n"
	}
	return d
}

// fixture is a loaded fixture directory.
type fixture struct {
	dir   string
	nb    *cells.Notebook
	conns *connectors.Registry
	steps steps
}

type steps struct {
	Mode  engine.Mode `json:"mode"`
	Steps []step      `json:"steps"`
}

type step struct {
	Op          string          `json:"op"`
	Cell        string          `json:"cell"`
	Mode        engine.Mode     `json:"mode"`
	SQL         *string         `json:"sql"`
	Title       *string         `json:"title"`
	ResultName  *string         `json:"resultName"`
	ConnectorID *string         `json:"connectorId"`
	Value       json.RawMessage `json:"value"`
}

func load(ctx context.Context, dir string) (*fixture, error) {
	f := &fixture{dir: dir}
	var err error
	if f.nb, err = cells.Load(filepath.Join(dir, NotebookFile)); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ConnectionsFile)); err == nil {
		if f.conns, err = connectors.LoadFile(filepath.Join(dir, ConnectionsFile)); err != nil {
			return nil, err
		}
	}
	if err := f.applyParams(); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, StepsFile)); err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f.steps); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StepsFile), err)
		}
	} else {
		f.steps.Steps = []step{{Op: "run"}}
	}
	if f.steps.Mode == "" {
		f.steps.Mode = engine.Autorun
	}
	if err := f.setup(ctx); err != nil {
		return nil, err
	}
	if err := f.setupMySQL(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fixture) applyParams() error {
	b, err := os.ReadFile(filepath.Join(f.dir, ParamsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f.nb.ApplyParam(line); err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Join(f.dir, ParamsFile), n, err)
		}
	}
	return sc.Err()
}

// setup runs setup.sql against the fixture's first Postgres connection.
func (f *fixture) setup(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(f.dir, SetupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if f.conns == nil {
		return fmt.Errorf("%s: %s needs a %s with a Postgres connection", f.dir, SetupFile, ConnectionsFile)
	}
	for _, id := range f.conns.IDs() {
		c, _ := f.conns.Lookup(id)
		if c.Engine != connectors.EnginePostgres {
			continue
		}
		cfg, err := postgres.NewConfig(c)
		if err != nil {
			return err
		}
		conn, err := pgx.ConnectConfig(ctx, cfg.Pool.ConnConfig)
		if err != nil {
			return fmt.Errorf("%s: connection %s: %w", filepath.Join(f.dir, SetupFile), id, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, string(b)); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(f.dir, SetupFile), err)
		}
		return nil
	}
	return fmt.Errorf("%s: %s names no Postgres connection", f.dir, ConnectionsFile)
}

// render runs the fixture and returns the three goldens' contents as this
// run gives them, cut to the selection it also returns.
func render(ctx context.Context, dir string, opts Options) ([][]byte, selected, error) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	f, err := load(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var events []engine.Event
	sources := registry.New()
	defer sources.Close() // after the session's Close below
	s, err := engine.OpenSession(ctx, engine.Config{Connections: f.conns, Sources: sources}, f.nb, engine.SessionOptions{
		Mode: f.steps.Mode,
		Observe: func(ev engine.Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	defer s.Close()
	if err := f.play(ctx, s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, StepsFile), err)
	}
	s.Flush()
	plan := s.Plan()
	sel, err := selection(plan, opts.Select)
	if err != nil {
		return nil, nil, err
	}
	graph, err := graphGolden(plan, sel)
	if err != nil {
		return nil, nil, err
	}
	run, err := runGolden(ctx, s, sel)
	if err != nil {
		return nil, nil, err
	}
	mu.Lock()
	evs := eventsGolden(plan, events, sel)
	mu.Unlock()
	return [][]byte{graph, run, evs}, sel, nil
}

// play executes the steps against the session and waits for every run.
func (f *fixture) play(ctx context.Context, s *engine.Session) error {
	var runs []*engine.Run
	waitAll := func() error {
		for _, r := range runs {
			if err := r.Wait(ctx); err != nil {
				return err
			}
		}
		runs = nil
		return nil
	}
	for i, st := range f.steps.Steps {
		var r *engine.Run
		var err error
		switch st.Op {
		case "run":
			r, err = s.Run(engine.RunRequest{CellID: st.Cell, Mode: st.Mode})
		case "update":
			p := engine.CellPatch{CellID: st.Cell, SQL: st.SQL, Title: st.Title, ResultName: st.ResultName, ConnectorID: st.ConnectorID}
			if st.Value != nil {
				dec := json.NewDecoder(bytes.NewReader(st.Value))
				dec.UseNumber()
				if err := dec.Decode(&p.Value); err != nil {
					return fmt.Errorf("step %d: value: %w", i+1, err)
				}
				p.SetValue = true
			}
			r, err = s.Update(ctx, p)
		case "wait":
			err = waitAll()
		case "waitRunning":
			err = waitFor(ctx, func() bool {
				for _, ev := range s.Status() {
					if ev.Cell == st.Cell && ev.Status == engine.StatusRunning {
						return true
					}
				}
				return false
			})
		case "cancel":
			err = s.Cancel(st.Cell)
		default:
			err = fmt.Errorf("unknown op %q (want run, update, wait, waitRunning, cancel)", st.Op)
		}
		if err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, st.Op, err)
		}
		if r != nil {
			runs = append(runs, r)
		}
	}
	return waitAll()
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
