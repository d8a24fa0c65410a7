package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nuid"

	"github.com/cellsd/cellsd/engine"
)

type runCmd struct {
	notebookFlags
	Params          []string      `name:"param" sep:"none" placeholder:"VAR=VALUE" help:"Override an input cell's value (repeatable)."`
	Artifact        string        `placeholder:"ID" help:"Run only this artifact."`
	Concurrency     int           `placeholder:"N" help:"Cells run at once (default: number of CPUs)."`
	Timeout         time.Duration `placeholder:"DUR" help:"Per-cell timeout, e.g. 30s (default: none)."`
	NoCache         bool          `help:"Execute every cell even if its inputs are unchanged."`
	DB              string        `name:"db" type:"path" placeholder:"PATH" help:"Core DuckDB database file (default: in memory)."`
	Materialization string        `enum:"attached_ephemeral,schema" default:"attached_ephemeral" help:"Where results live: ${enum}."`
	Report          string        `type:"path" placeholder:"FILE.json" help:"Write the run report here."`
	JUnit           string        `name:"junit" type:"path" placeholder:"FILE.xml" help:"Write a JUnit XML report here."`
	NATS            string        `name:"nats" placeholder:"URL" help:"Publish status events to this NATS server (JetStream stream CELLSD_EVENTS, KV CELLSD_STATUS)."`
	Session         string        `placeholder:"ID" help:"Session id of the run's events (default: run-<random>)."`
	Sandbox         bool          `help:"Run SQL sandboxed, as cellsd serve does: no host files but under --allow-dir, no ATTACH, no extensions, no network."`
	AllowDir        []string      `name:"allow-dir" sep:"none" type:"existingdir" placeholder:"DIR" help:"With --sandbox, let SQL read files under DIR. Repeatable."`
}

func (c *runCmd) Run(e *env) error {
	if c.Concurrency < 0 {
		return usagef("--concurrency must be positive, got %d", c.Concurrency)
	}
	nb, reg, err := c.load(e)
	if err != nil {
		return err
	}
	for _, p := range c.Params {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return usagef("--param %q: want VAR=VALUE", p)
		}
		if err := nb.SetParam(name, value); err != nil {
			return usageError{err}
		}
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
	eng, err := openEngine(e, engine.Config{
		DBPath:          c.DB,
		Materialization: engine.Strategy(c.Materialization),
		Connections:     reg,
		Sandbox:         sandbox,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	plan, err := eng.Planner().Plan(e.ctx, nb)
	if err != nil {
		return err
	}
	if err := secretsSet(plan, c.Artifact, c.Connections); err != nil {
		return err
	}
	prog := newProgress(e.stderr, plan, c.Artifact)
	observe := prog.observe
	if c.NATS != "" {
		ev, err := openEvents(e, c.NATS)
		if err != nil {
			return err
		}
		defer ev.close()
		if c.Session == "" {
			c.Session = "run-" + strings.ToLower(nuid.Next())
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
		Concurrency: c.Concurrency,
		Timeout:     c.Timeout,
		Observe:     observe,
	})
	prog.done()
	if err != nil {
		return err
	}
	if c.Report != "" {
		if err := writeFile(c.Report, func(f *os.File) error {
			enc := json.NewEncoder(f)
			enc.SetIndent("", "  ")
			return enc.Encode(report)
		}); err != nil {
			return err
		}
	}
	if c.JUnit != "" {
		if err := writeFile(c.JUnit, func(f *os.File) error { return report.WriteJUnit(f, nb.Path) }); err != nil {
			return err
		}
	}
	s := report.Summary
	fmt.Fprintf(e.stderr, "%d succeeded, %d failed, %d blocked, %d cancelled\n", s.Success, s.Error, s.Blocked, s.Cancel)
	if !s.OK() {
		return errFailed
	}
	return nil
}

// writeFile writes a file through write and reports any failure with the
// file's name.
func writeFile(path string, write func(*os.File) error) error {
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
func secretsSet(plan *engine.Plan, artifact, path string) error {
	for _, ap := range plan.Artifacts {
		if artifact != "" && ap.Artifact.ID != artifact {
			continue
		}
		for _, cp := range ap.Cells {
			if v := cp.Connection.UnsetSecretVar(); v != "" && len(cp.Errors) == 0 {
				return usagef("%s: connector %q: environment variable %s is not set (cell %s/%s uses the connection)",
					path, cp.Connection.ID, v, ap.Artifact.ID, cp.Cell.ID)
			}
		}
	}
	return nil
}
