package main

import (
	"encoding/json"

	"github.com/cellsd/cellsd/engine"
)

type graphCmd struct {
	notebookFlags
	Format string `required:"" enum:"json,dot,mermaid" help:"Output format: ${enum}." placeholder:"json|dot|mermaid"`
}

func (c *graphCmd) Run(e *env) error {
	nb, reg, err := c.load(e)
	if err != nil {
		return err
	}
	if c.Format != "json" {
		return usagef("--format %s is not built yet; use --format json", c.Format)
	}
	eng, err := openEngine(e, engine.Config{Connections: reg})
	if err != nil {
		return err
	}
	defer eng.Close()
	plan, err := eng.Planner().Plan(e.ctx, nb)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(plan.Graph())
}
