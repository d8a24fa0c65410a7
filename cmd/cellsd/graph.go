package main

import (
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/format"
)

type graphCmd struct {
	notebookFlags
	Format string `enum:"json,dot,mermaid" default:"json" help:"Output format: ${enum} (default: ${default})." placeholder:"json|dot|mermaid"`
}

func (c *graphCmd) Run(e *env) error {
	nb, reg, err := c.load(e)
	if err != nil {
		return err
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
	g := format.NewGraph(plan)
	switch c.Format {
	case "dot":
		return g.WriteDOT(e.stdout)
	case "mermaid":
		return g.WriteMermaid(e.stdout)
	}
	return g.WriteJSON(e.stdout)
}
