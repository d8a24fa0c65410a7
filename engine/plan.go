package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/dag"
	"github.com/cellsd/cellsd/sqlparse"
)

// Error kinds of DESIGN.md rule 8.
const (
	KindParse            = "parse"
	KindCycle            = "cycle"
	KindDuplicateName    = "duplicate-name"
	KindUnknownVariable  = "unknown-variable"
	KindUnknownConnector = "unknown-connector"
	KindInvalidName      = "invalid-name"
)

// CellError is a problem found in a cell before it runs. Line and Column
// are 1-based and set for parse errors only.
type CellError struct {
	CellID       string `json:"cellId"`
	Kind         string `json:"kind"`
	Message      string `json:"message"`
	Line, Column int
}

func (e *CellError) Error() string { return "cell " + e.CellID + ": " + e.Describe() }

// Describe says what is wrong without naming the cell: the kind, the
// position when known, and the message.
func (e *CellError) Describe() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s error at line %d, column %d: %s", e.Kind, e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("%s error: %s", e.Kind, e.Message)
}

// Plan is a notebook resolved into one dependency graph per artifact.
type Plan struct {
	Notebook  *cells.Notebook
	Artifacts []*ArtifactPlan
}

// ArtifactPlan is one artifact's graph, execution order and errors.
type ArtifactPlan struct {
	Artifact *cells.Artifact
	Schema   string
	// Cells are in cellIds order.
	Cells []*CellPlan
	Graph *dag.Graph
	// Order is the topological order of the cells that can run; cells with
	// errors and their downstream are left out.
	Order []string
	// Errors are in cell position order; a cell's errors in the order found.
	Errors []*CellError

	byID map[string]*CellPlan
}

// Cell returns the plan of cell id, or nil.
func (ap *ArtifactPlan) Cell(id string) *CellPlan { return ap.byID[id] }

// CellPlan is what cellsd knows about one cell before it runs.
type CellPlan struct {
	Cell *cells.Cell
	// Name is the effective result name of a SQL cell.
	Name string
	// Connection is the connection a SQL cell runs on.
	Connection connectors.Connection
	// Analysis is the parse of a SQL cell whose connector is known.
	Analysis *sqlparse.Analysis
	// Deps are the ids this cell depends on, sorted.
	Deps []string
	// Defines lists the relation names the cell creates.
	Defines []string
	// ExternalTables lists relations read that are not cells of the artifact.
	ExternalTables []string
	// Errors found in this cell, the first one decides its status.
	Errors []*CellError
}

// inGraph reports whether the cell takes part in the dependency graph:
// sql, input and vega cells do; text and unknown types do not.
func (cp *CellPlan) inGraph() bool {
	switch cp.Cell.Type {
	case cells.TypeSQL, cells.TypeInput, cells.TypeVega:
		return true
	}
	return false
}

// Planner resolves notebooks into plans.
type Planner struct {
	// DuckDB parses DuckDB-dialect cells.
	DuckDB *sqlparse.DuckDB
	// Connections resolves connectorIds; nil means only the core DuckDB.
	Connections *connectors.Registry
	// ResultDB is the catalog results live in, for matching names qualified
	// as <resultDb>.<schema>.<name>.
	ResultDB string
}

// Plan analyses every cell of every artifact of nb. An error is returned only
// for a failing database or context; problems in cells are in the plan.
func (p *Planner) Plan(ctx context.Context, nb *cells.Notebook) (*Plan, error) {
	reg := p.Connections
	if reg == nil {
		reg, _ = connectors.NewRegistry()
	}
	plan := &Plan{Notebook: nb}
	for _, a := range nb.Artifacts {
		ap, err := p.planArtifact(ctx, nb, a, reg)
		if err != nil {
			return nil, fmt.Errorf("plan artifact %s: %w", a.ID, err)
		}
		plan.Artifacts = append(plan.Artifacts, ap)
	}
	return plan, nil
}

func (p *Planner) planArtifact(ctx context.Context, nb *cells.Notebook, a *cells.Artifact, reg *connectors.Registry) (*ArtifactPlan, error) {
	ap := &ArtifactPlan{Artifact: a, Schema: cells.ArtifactSchema(a), byID: map[string]*CellPlan{}}
	vars := map[string][]string{} // varName -> input cell ids
	for _, id := range a.CellIDs {
		cp := &CellPlan{Cell: nb.Cells[id]}
		ap.Cells = append(ap.Cells, cp)
		ap.byID[id] = cp
		if in := cp.Cell.Input; in != nil && in.VarName != "" {
			vars[in.VarName] = append(vars[in.VarName], id)
		}
	}
	for name, ids := range vars {
		if len(ids) > 1 {
			for _, id := range ids {
				ap.byID[id].fail(KindDuplicateName, fmt.Sprintf("input variable %q is defined by cells %s", name, strings.Join(ids, ", ")))
			}
		}
	}

	// Parse every SQL cell and collect who defines which name.
	definedBy := map[string][]string{} // lowercased name -> cell ids
	for _, cp := range ap.Cells {
		if cp.Cell.Type != cells.TypeSQL {
			continue
		}
		if err := p.analyse(ctx, cp, reg); err != nil {
			return nil, err
		}
		if cp.Name != "" {
			cp.Defines = []string{cp.Name}
			key := strings.ToLower(cp.Name)
			definedBy[key] = append(definedBy[key], cp.Cell.ID)
		}
	}
	for _, cp := range ap.Cells {
		if ids := definedBy[strings.ToLower(cp.Name)]; cp.Name != "" && len(ids) > 1 {
			cp.fail(KindDuplicateName, fmt.Sprintf("result name %q is defined by cells %s", cp.Name, strings.Join(ids, ", ")))
		}
	}

	// Resolve references into dependencies.
	for _, cp := range ap.Cells {
		deps := map[string]bool{}
		switch cp.Cell.Type {
		case cells.TypeVega:
			if ap.byID[cp.Cell.SQLID] != nil {
				deps[cp.Cell.SQLID] = true
			}
		case cells.TypeSQL:
			if cp.Analysis == nil {
				break
			}
			for _, v := range cp.Analysis.Vars {
				ids := vars[v]
				if len(ids) == 0 {
					cp.fail(KindUnknownVariable, fmt.Sprintf("{{%s}}: no input cell in artifact %s has varName %q", v, a.ID, v))
				}
				for _, id := range ids {
					deps[id] = true
				}
			}
			var external []sqlparse.Ref
			for _, r := range cp.Analysis.Refs {
				ids := p.resolve(r, ap.Schema, definedBy, cp)
				if ids == nil {
					external = append(external, r)
				}
				for _, id := range ids {
					deps[id] = true
				}
			}
			cp.ExternalTables = sqlparse.ExternalTables(external)
		}
		cp.Deps = sortedSet(deps)
	}
	for _, e := range a.Edges {
		if e.Kind == cells.EdgeKindManual {
			if cp := ap.byID[e.Target]; cp != nil && ap.byID[e.Source] != nil {
				cp.Deps = sortedSet(setOf(append(cp.Deps, e.Source)...))
			}
		}
	}

	var nodes []string
	for _, cp := range ap.Cells {
		if cp.inGraph() {
			nodes = append(nodes, cp.Cell.ID)
		}
	}
	ap.Graph = dag.New(nodes)
	for _, cp := range ap.Cells {
		ap.Graph.SetDeps(cp.Cell.ID, cp.Deps)
	}
	ap.markCycles()

	failed := map[string]bool{}
	for _, cp := range ap.Cells {
		if len(cp.Errors) > 0 {
			failed[cp.Cell.ID] = true
			ap.Errors = append(ap.Errors, cp.Errors...)
		}
	}
	ap.Order, _ = ap.Graph.Order(failed)
	return ap, nil
}

// analyse resolves the cell's connector and name and parses its SQL in the
// connector's dialect.
func (p *Planner) analyse(ctx context.Context, cp *CellPlan, reg *connectors.Registry) error {
	c := cp.Cell
	cp.Name = cells.ResultName(c)
	if cp.Name == "" {
		cp.fail(KindInvalidName, fmt.Sprintf("no usable result name: resultName %q is not an identifier and title %q leaves nothing", c.ResultName, c.Title))
	}
	conn, ok := reg.Lookup(c.Connector())
	if !ok {
		cp.fail(KindUnknownConnector, fmt.Sprintf("connector %q is not configured (known: %s)", c.Connector(), strings.Join(reg.IDs(), ", ")))
		cp.Analysis = &sqlparse.Analysis{Vars: cells.Vars(c.SQL)}
		return nil
	}
	cp.Connection = conn
	switch conn.Engine {
	case connectors.EnginePostgres:
		cp.Analysis = sqlparse.AnalyzePostgres(c.SQL)
	default:
		a, err := p.DuckDB.Analyze(ctx, c.SQL)
		if err != nil {
			return fmt.Errorf("cell %s: %w", c.ID, err)
		}
		cp.Analysis = a
	}
	if e := cp.Analysis.Err; e != nil {
		cp.Errors = append(cp.Errors, &CellError{CellID: c.ID, Kind: KindParse, Message: e.Message, Line: e.Line, Column: e.Column})
	}
	return nil
}

// resolve returns the cells a reference names (DESIGN.md rules 1, 2 and 6),
// or nil for a relation outside the artifact.
func (p *Planner) resolve(r sqlparse.Ref, schema string, definedBy map[string][]string, cp *CellPlan) []string {
	if cp.Connection.Engine != connectors.EngineDuckDB {
		return nil // an external cell's names resolve in its own database
	}
	switch {
	case r.Catalog == "" && r.Schema == "":
	case r.Catalog == "" && strings.EqualFold(r.Schema, schema):
	case strings.EqualFold(r.Catalog, p.ResultDB) && strings.EqualFold(r.Schema, schema):
	default:
		return nil
	}
	return definedBy[strings.ToLower(r.Name)]
}

// markCycles records a cycle error on every cell of every cycle.
func (ap *ArtifactPlan) markCycles() {
	paths := ap.Graph.Cycles()
	if len(paths) == 0 {
		return
	}
	pathOf := map[string][]string{}
	for _, path := range paths {
		for _, id := range path {
			pathOf[id] = path
		}
	}
	for id := range ap.Graph.OnCycle() {
		path := pathOf[id]
		if path == nil {
			// On a cycle but not on the path reported for it: use the path
			// through a cell that is both upstream and downstream of it.
			up := setOf(ap.Graph.Upstream(id)...)
			for _, p := range paths {
				if up[p[0]] && setOf(ap.Graph.Downstream(id)...)[p[0]] {
					path = p
					break
				}
			}
		}
		ap.byID[id].fail(KindCycle, "cycle: "+strings.Join(path, " -> "))
	}
}

func (cp *CellPlan) fail(kind, msg string) {
	cp.Errors = append(cp.Errors, &CellError{CellID: cp.Cell.ID, Kind: kind, Message: msg})
}

func setOf(ids ...string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
