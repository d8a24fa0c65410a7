package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cellsd/cellsd/engine/check"
)

type checkCmd struct {
	Dirs   []string `arg:"" name:"fixture_dir" help:"Directories holding fixtures (a fixture is a directory with a notebook.json)." type:"path"`
	Update bool     `help:"Rewrite the goldens instead of comparing."`
	JUnit  string   `name:"junit" type:"path" placeholder:"FILE.xml" help:"Write a JUnit XML report here (- for stdout)."`
	Select string   `placeholder:"SPEC" help:"Check only a subgraph: c1, c1+, +c1, +c1+ (cell id or result name)."`
}

func (c *checkCmd) Run(e *env) error {
	if c.Update && c.Select != "" {
		return usagef("--update cannot be combined with --select")
	}
	dirs, err := check.Find(c.Dirs...)
	if err != nil {
		return usageError{err}
	}
	var results []check.Result
	failed, skipped := 0, 0
	for _, dir := range dirs {
		r := check.Run(e.ctx, dir, check.Options{Update: c.Update, Select: c.Select})
		results = append(results, r)
		switch {
		case r.Skipped != "":
			skipped++
			fmt.Fprintf(e.stdout, "skip %s\n  %s\n", dir, r.Skipped)
		case r.Err != nil:
			failed++
			fmt.Fprintf(e.stdout, "FAIL %s\n  %v\n", dir, r.Err)
		case !r.OK():
			failed++
			fmt.Fprintf(e.stdout, "FAIL %s\n", dir)
			for _, g := range r.Goldens {
				if !g.OK {
					if len(g.Cells) > 0 {
						fmt.Fprintf(e.stdout, "  cells that changed: %s\n", strings.Join(g.Cells, ", "))
					}
					fmt.Fprint(e.stdout, g.Diff)
				}
			}
		case c.Update:
			fmt.Fprintf(e.stdout, "updated %s\n", dir)
		default:
			fmt.Fprintf(e.stdout, "ok   %s\n", dir)
		}
	}
	if c.JUnit != "" {
		if err := writeFile(e, c.JUnit, func(f io.Writer) error { return check.WriteJUnit(f, results) }); err != nil {
			return err
		}
	}
	if skipped > 0 {
		fmt.Fprintf(e.stderr, "%d fixtures, %d failed, %d skipped (no cell matches --select)\n", len(dirs), failed, skipped)
	} else {
		fmt.Fprintf(e.stderr, "%d fixtures, %d failed\n", len(dirs), failed)
	}
	if failed > 0 {
		return errFailed
	}
	return nil
}
