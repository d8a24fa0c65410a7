package plan

import (
	"context"
	"fmt"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/sqlparse"
)

// preparsedKey carries, in the context of ArtifactPlan.Update, the parse
// Preparse made of the edited cell.
type preparsedKey struct{}

type preparsed struct {
	text string
	a    *sqlparse.Analysis
}

// Preparse parses c with its dialect's Analyzer and returns ctx carrying
// the parse for ArtifactPlan.Update, so that a caller can do the parse (for
// DuckDB, a query) before it takes its lock. A cell whose connector is not
// configured is not parsed.
func (p *Planner) Preparse(ctx context.Context, c *cells.Cell) (context.Context, error) {
	if c.Type != cells.TypeSQL {
		return ctx, nil
	}
	reg := p.Connections
	if reg == nil {
		reg, _ = connectors.NewRegistry()
	}
	conn, ok := reg.Lookup(c.Connector())
	if !ok {
		return ctx, nil
	}
	a, err := p.analyzeOne(ctx, conn.SQLDialect(), c.SQL)
	if err != nil {
		return nil, fmt.Errorf("update cell %s: cell %s: %w", c.ID, c.ID, err)
	}
	return context.WithValue(ctx, preparsedKey{}, preparsed{c.SQL, a}), nil
}

// analyze parses one cell's text in dialect, or takes the parse Preparse
// made of it.
func (p *Planner) analyze(ctx context.Context, dialect, text string) (*sqlparse.Analysis, error) {
	if pre, ok := ctx.Value(preparsedKey{}).(preparsed); ok && pre.text == text {
		return pre.a, nil
	}
	return p.analyzeOne(ctx, dialect, text)
}
