package plan

import (
	"context"
	"fmt"
	"slices"
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

// Artifact returns the plan of the artifact with the given id, or nil.
func (p *Plan) Artifact(id string) *ArtifactPlan {
	for _, ap := range p.Artifacts {
		if ap.Artifact.ID == id {
			return ap
		}
	}
	return nil
}

// ArtifactPlan is one artifact's graph, execution order and errors. It is
// kept current cell by cell with Update, and is not safe for concurrent use.
type ArtifactPlan struct {
	Artifact *cells.Artifact
	Schema   string
	// Cells are in cellIds order.
	Cells []*CellPlan
	Graph *dag.Graph
	// Order is the topological order of the cells that can run; cells with
	// errors and their downstream are left out.
	Order []string
	// Errors are in cell position order; a cell's own errors (invalid-name,
	// unknown-connector, parse) first, then unknown-variable,
	// duplicate-name and cycle.
	Errors []*CellError

	planner *Planner
	byID    map[string]*CellPlan
	// definers and readers index the keys cells define and read (see
	// relKeys), so that an edit re-resolves only the cells it concerns.
	definers map[string][]string        // key -> defining cell ids, in position order
	readers  map[string]map[string]bool // key -> ids of cells reading or writing it
	writers  map[string][]string        // key -> ids of cells that may write it, in position order
	// families maps the key of every relation some cell writes to its
	// family: the definer(s), then the writers in position order
	// (DESIGN.md rule 7); familyOf maps a cell to the keys of the
	// families it belongs to.
	families map[string][]string
	familyOf map[string][]string
	manual   map[string][]string // cell id -> sources of its manual edges
	position map[string]int
	// parsed holds, while PlanArtifact runs, the analyses of the SQL cells
	// parsed in one batch per dialect.
	parsed map[string]*sqlparse.Analysis
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
	// Defines lists the relation names the cell creates: its result name,
	// or for a DDL cell the tables and views it creates.
	Defines []string
	// Writes lists the relations the cell writes (INSERT, UPDATE, DELETE,
	// TRUNCATE, COPY x FROM, ALTER, DROP) and does not create itself, as
	// written.
	Writes []string
	// WriteDeps are the Deps that come from a family (DESIGN.md rule 7):
	// the definer and earlier writers of what the cell writes, or the
	// writers of what it reads.
	WriteDeps []string
	// ExternalTables lists relations read that are not cells of the artifact.
	ExternalTables []string
	// Errors found in this cell; the first one decides its status.
	Errors []*CellError

	own         []*CellError    // errors of the cell alone: invalid-name, unknown-connector, parse
	fingerprint string          // of the SQL, layout and comments left out
	defKeys     []string        // keys the cell defines
	ddlKeys     map[string]bool // the defKeys its DDL creates: reading them is no edge
	reads       []read
	writes      []read   // what the cell writes; keys as for reads
	writeKeys   []string // the keys its writes resolved to (families it writes into)
}

// HasResult reports whether the cell materializes a result relation: a SQL
// cell whose last statement is a query (or that does not parse, so it still
// claims its name). A DDL cell creates its relations itself.
func (cp *CellPlan) HasResult() bool {
	a := cp.Analysis
	return cp.Cell.Type == cells.TypeSQL && cp.Name != "" && a != nil && (a.Err != nil || a.Query)
}

// read is one thing a cell reads: the keys that could satisfy it, in order
// of preference, and the relation reference or variable it came from.
type read struct {
	keys []string
	ref  *sqlparse.Ref
	vari string
}

// inGraph reports whether the cell takes part in the dependency graph:
// sql, input and vega cells do; text and unknown types do not.
func inGraph(c *cells.Cell) bool {
	switch c.Type {
	case cells.TypeSQL, cells.TypeInput, cells.TypeVega:
		return true
	}
	return false
}

// Planner resolves notebooks into plans.
type Planner struct {
	// DuckDB parses DuckDB-dialect cells.
	DuckDB *sqlparse.DuckDB
	// Analyzers parse the cells of other dialects, by
	// Connection.SQLDialect; a dialect left out takes the built-in
	// PostgresAnalyzer or MySQLAnalyzer.
	Analyzers map[string]Analyzer
	// Connections resolves connectorIds; nil means only the core DuckDB.
	Connections *connectors.Registry
	// ResultDB is the catalog results live in, for matching names qualified
	// as <resultDb>.<schema>.<name>.
	ResultDB string
}

// Plan analyses every cell of every artifact of nb. An error is returned only
// for a failing database or context; problems in cells are in the plan.
func (p *Planner) Plan(ctx context.Context, nb *cells.Notebook) (*Plan, error) {
	plan := &Plan{Notebook: nb}
	for _, a := range nb.Artifacts {
		ap, err := p.PlanArtifact(ctx, nb, a)
		if err != nil {
			return nil, err
		}
		plan.Artifacts = append(plan.Artifacts, ap)
	}
	return plan, nil
}

// PlanArtifact analyses the cells of one artifact and builds its graph.
func (p *Planner) PlanArtifact(ctx context.Context, nb *cells.Notebook, a *cells.Artifact) (*ArtifactPlan, error) {
	ap := &ArtifactPlan{
		Artifact: a, Schema: cells.ArtifactSchema(a), planner: p,
		byID: map[string]*CellPlan{}, definers: map[string][]string{}, readers: map[string]map[string]bool{},
		writers: map[string][]string{}, manual: map[string][]string{}, position: map[string]int{},
	}
	var nodes []string
	for i, id := range a.CellIDs {
		cp := &CellPlan{Cell: nb.Cells[id]}
		ap.Cells = append(ap.Cells, cp)
		ap.byID[id], ap.position[id] = cp, i
		if inGraph(cp.Cell) {
			nodes = append(nodes, id)
		}
	}
	for _, e := range a.Edges {
		if e.Kind == cells.EdgeKindManual && ap.byID[e.Source] != nil && ap.byID[e.Target] != nil {
			ap.manual[e.Target] = append(ap.manual[e.Target], e.Source)
		}
	}
	ap.Graph = dag.New(nodes)
	parsed, err := ap.parseAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan artifact %s: %w", a.ID, err)
	}
	ap.parsed = parsed
	for _, cp := range ap.Cells {
		if err := ap.analyse(ctx, cp); err != nil {
			return nil, fmt.Errorf("plan artifact %s: %w", a.ID, err)
		}
		ap.index(cp)
	}
	ap.parsed = nil
	for _, cp := range ap.Cells {
		ap.resolve(cp)
	}
	ap.finish()
	return ap, nil
}

// Diff is what an edit changed in an artifact's plan.
type Diff struct {
	// Cell is the edited cell.
	Cell string
	// Changed lists, in position order, the cells whose dependencies,
	// definitions or errors the edit changed (the edited cell among them
	// when its own did).
	Changed []string
}

// Update replaces one cell of the artifact with c (same id, same type),
// re-parses only that cell and re-resolves only the cells whose
// dependencies it can change: those that define or read a name the cell
// defined before or defines now. It returns what changed. Adding or
// removing cells, or changing a cell's type, needs a new plan.
func (ap *ArtifactPlan) Update(ctx context.Context, c *cells.Cell) (*Diff, error) {
	cp := ap.byID[c.ID]
	if cp == nil {
		return nil, fmt.Errorf("update: cell %q is not in artifact %s", c.ID, ap.Artifact.ID)
	}
	if c.Type != cp.Cell.Type {
		return nil, fmt.Errorf("update: cell %q changes type from %s to %s; plan the notebook again", c.ID, cp.Cell.Type, c.Type)
	}
	touched := map[string]bool{}
	cp.touches(touched)
	before := map[string]cellSummary{c.ID: summarize(cp)}
	ap.unindex(cp)
	*cp = CellPlan{Cell: c}
	if err := ap.analyse(ctx, cp); err != nil {
		return nil, fmt.Errorf("update cell %s: %w", c.ID, err)
	}
	ap.index(cp)
	cp.touches(touched)
	affected := map[string]bool{c.ID: true}
	for k := range touched {
		for _, id := range ap.definers[k] {
			affected[id] = true
		}
		for id := range ap.readers[k] {
			affected[id] = true
		}
	}
	for _, cp := range ap.Cells {
		if affected[cp.Cell.ID] {
			if _, ok := before[cp.Cell.ID]; !ok {
				before[cp.Cell.ID] = summarize(cp)
			}
			ap.resolve(cp)
		}
	}
	cycles := ap.cycleErrors() // what the cells not re-resolved can change
	ap.finish()
	diff := &Diff{Cell: c.ID}
	nowCycles := ap.cycleErrors()
	for _, cp := range ap.Cells {
		id := cp.Cell.ID
		old, ok := before[id]
		if ok && !old.equal(summarize(cp)) || !ok && cycles[id] != nowCycles[id] {
			diff.Changed = append(diff.Changed, id)
		}
	}
	return diff, nil
}

// cycleErrors maps the cells with a cycle error to its message.
func (ap *ArtifactPlan) cycleErrors() map[string]string {
	var out map[string]string
	for _, e := range ap.Errors {
		if e.Kind == KindCycle {
			if out == nil {
				out = map[string]string{}
			}
			out[e.CellID] = e.Message
		}
	}
	return out
}

// cellSummary is what a Diff compares of a cell's plan.
type cellSummary struct {
	deps, defines, errors []string
}

func summarize(cp *CellPlan) cellSummary {
	s := cellSummary{deps: slices.Clone(cp.Deps), defines: slices.Clone(cp.Defines)}
	for _, e := range cp.Errors {
		s.errors = append(s.errors, e.Describe())
	}
	return s
}

func (s cellSummary) equal(o cellSummary) bool {
	return slices.Equal(s.deps, o.deps) && slices.Equal(s.defines, o.defines) && slices.Equal(s.errors, o.errors)
}

// touches adds the keys whose cells an edit of cp concerns: what it
// defines and what it writes (the readers of a written relation depend on
// its writers).
func (cp *CellPlan) touches(keys map[string]bool) {
	for _, k := range cp.defKeys {
		keys[k] = true
	}
	for _, w := range cp.writes {
		for _, k := range w.keys {
			keys[k] = true
		}
	}
}

// analyse parses a cell and records what it defines and reads.
func (ap *ArtifactPlan) analyse(ctx context.Context, cp *CellPlan) error {
	c := cp.Cell
	if inGraph(c) {
		cp.defKeys = []string{cellKey(c.ID)}
	}
	switch c.Type {
	case cells.TypeInput:
		if c.Input != nil && c.Input.VarName != "" {
			cp.defKeys = append(cp.defKeys, varKey(c.Input.VarName))
		}
	case cells.TypeVega:
		if c.SQLID != "" {
			cp.reads = append(cp.reads, read{keys: []string{cellKey(c.SQLID)}})
		}
	case cells.TypeSQL:
		if err := ap.analyseSQL(ctx, cp); err != nil {
			return err
		}
	}
	for _, src := range ap.manual[c.ID] {
		cp.reads = append(cp.reads, read{keys: []string{cellKey(src)}})
	}
	return nil
}

// registry returns the planner's connections, or the core DuckDB's alone.
func (ap *ArtifactPlan) registry() *connectors.Registry {
	reg := ap.planner.Connections
	if reg == nil {
		reg, _ = connectors.NewRegistry()
	}
	return reg
}

// parseAll parses the SQL cells of the artifact whose connector is known,
// one batch per dialect (issue 19 P8) through the dialect's Analyzer: the
// DuckDB cells in few json_serialize_sql queries, the Postgres cells in one
// pg_query parse. The analyses are those each cell's own parse gives.
func (ap *ArtifactPlan) parseAll(ctx context.Context) (map[string]*sqlparse.Analysis, error) {
	reg := ap.registry()
	var dialects []string
	batches := map[string][]*cells.Cell{}
	for _, cp := range ap.Cells {
		c := cp.Cell
		if c.Type != cells.TypeSQL {
			continue
		}
		conn, ok := reg.Lookup(c.Connector())
		if !ok {
			continue
		}
		d := conn.SQLDialect()
		if batches[d] == nil {
			dialects = append(dialects, d)
		}
		batches[d] = append(batches[d], c)
	}
	out := map[string]*sqlparse.Analysis{}
	for _, d := range dialects {
		cs := batches[d]
		texts := make([]string, len(cs))
		for i, c := range cs {
			texts[i] = c.SQL
		}
		as, err := ap.planner.analyzer(d).AnalyzeAll(ctx, texts)
		if err != nil {
			return nil, err
		}
		for i, c := range cs {
			out[c.ID] = as[i]
		}
	}
	return out, nil
}

func (ap *ArtifactPlan) analyseSQL(ctx context.Context, cp *CellPlan) error {
	c := cp.Cell
	cp.Name = cells.ResultName(c)
	if cp.Name == "" {
		cp.fail(KindInvalidName, fmt.Sprintf("no usable result name: resultName %q is not an identifier and title %q leaves nothing", c.ResultName, c.Title))
	}
	reg := ap.registry()
	conn, ok := reg.Lookup(c.Connector())
	parsed := ap.parsed[c.ID]
	switch {
	case !ok:
		if other, found := reg.Unsupported(c.Connector()); found {
			// Configured for the SQLRooms CLI: say so rather than "not
			// configured", and keep its engine for the graph.
			cp.fail(KindUnknownConnector, fmt.Sprintf("connector %q: engine %q is not supported by cellsd (it runs %s)",
				c.Connector(), other.Engine, strings.Join(connectors.Engines(), ", ")))
			conn = other
		} else {
			cp.fail(KindUnknownConnector, fmt.Sprintf("connector %q is not configured (known: %s)", c.Connector(), strings.Join(reg.IDs(), ", ")))
		}
		cp.Analysis = &sqlparse.Analysis{Vars: cells.Vars(c.SQL), Query: true}
	case parsed != nil:
		cp.Analysis = parsed
	default:
		a, err := ap.planner.analyze(ctx, conn.SQLDialect(), c.SQL) // Preparse may have parsed it already
		if err != nil {
			return fmt.Errorf("cell %s: %w", c.ID, err)
		}
		cp.Analysis = a
	}
	cp.Connection = conn
	cp.fingerprint = sqlparse.Fingerprint(c.SQL)
	a := cp.Analysis
	if a.Err != nil {
		cp.own = append(cp.own, &CellError{CellID: c.ID, Kind: KindParse, Message: a.Err.Message, Line: a.Err.Line, Column: a.Err.Column})
	}
	if cp.HasResult() {
		cp.Defines = []string{cp.Name}
		cp.defKeys = append(cp.defKeys, artifactKey(cp.Name))
	}
	if conn.Engine == connectors.EngineDuckDB {
		for _, d := range a.Defines {
			k := ap.relKeys(d)[0]
			if cp.ddlKeys == nil {
				cp.ddlKeys = map[string]bool{}
			}
			if !cp.ddlKeys[k] {
				cp.ddlKeys[k] = true
				cp.defKeys = append(cp.defKeys, k)
				cp.Defines = append(cp.Defines, d.String())
			}
		}
		for i := range a.Refs {
			cp.reads = append(cp.reads, read{keys: ap.relKeys(a.Refs[i]), ref: &a.Refs[i]})
		}
		seen := map[string]bool{}
		for i := range a.Writes {
			cp.writes = append(cp.writes, read{keys: ap.relKeys(a.Writes[i]), ref: &a.Writes[i]})
			if w := a.Writes[i].String(); !seen[strings.ToLower(w)] {
				seen[strings.ToLower(w)] = true
				cp.Writes = append(cp.Writes, w)
			}
		}
	}
	if a.Err == nil { // a cell with a parse error has no deps (rule 8)
		for _, v := range a.Vars {
			cp.reads = append(cp.reads, read{keys: []string{varKey(v)}, vari: v})
		}
	}
	return nil
}

// Keys name what cells define and read: a cell id, an input variable, a
// relation in the artifact's schema, or another relation.
func cellKey(id string) string    { return "cell:" + id }
func varKey(name string) string   { return "var:" + name }
func artifactKey(n string) string { return "rel:" + strings.ToLower(n) }

// relKeys returns the keys a relation reference can resolve to, in order of
// preference (DESIGN.md rules 1, 2 and 7): an unqualified name is the
// artifact's relation or, failing that, one created in the core main schema;
// a name qualified with the artifact schema (and result database) is the
// artifact's; any other qualified name is itself.
func (ap *ArtifactPlan) relKeys(r sqlparse.Ref) []string {
	switch {
	case r.Catalog == "" && r.Schema == "":
		return []string{artifactKey(r.Name), "ext:main." + strings.ToLower(r.Name)}
	case strings.EqualFold(r.Schema, ap.Schema) && (r.Catalog == "" || strings.EqualFold(r.Catalog, ap.planner.ResultDB)):
		return []string{artifactKey(r.Name)}
	}
	return []string{"ext:" + strings.ToLower(r.String())}
}

func (ap *ArtifactPlan) index(cp *CellPlan) {
	id := cp.Cell.ID
	for _, k := range cp.defKeys {
		ids := append(ap.definers[k], id)
		sort.Slice(ids, func(i, j int) bool { return ap.position[ids[i]] < ap.position[ids[j]] })
		ap.definers[k] = ids
	}
	for _, r := range append(cp.reads, cp.writes...) {
		for _, k := range r.keys {
			if ap.readers[k] == nil {
				ap.readers[k] = map[string]bool{}
			}
			ap.readers[k][id] = true
		}
	}
	for _, w := range cp.writes {
		for _, k := range w.keys {
			if !slices.Contains(ap.writers[k], id) {
				ids := append(ap.writers[k], id)
				sort.Slice(ids, func(i, j int) bool { return ap.position[ids[i]] < ap.position[ids[j]] })
				ap.writers[k] = ids
			}
		}
	}
}

func (ap *ArtifactPlan) unindex(cp *CellPlan) {
	id := cp.Cell.ID
	for _, k := range cp.defKeys {
		ap.definers[k] = slices.DeleteFunc(ap.definers[k], func(d string) bool { return d == id })
		if len(ap.definers[k]) == 0 {
			delete(ap.definers, k)
		}
	}
	for _, r := range append(cp.reads, cp.writes...) {
		for _, k := range r.keys {
			delete(ap.readers[k], id)
			if len(ap.readers[k]) == 0 {
				delete(ap.readers, k)
			}
		}
	}
	for _, w := range cp.writes {
		for _, k := range w.keys {
			ap.writers[k] = slices.DeleteFunc(ap.writers[k], func(d string) bool { return d == id })
			if len(ap.writers[k]) == 0 {
				delete(ap.writers, k)
			}
		}
	}
}

// resolveKey returns the first of keys some cell defines, or "".
func (ap *ArtifactPlan) resolveKey(keys []string) string {
	for _, k := range keys {
		if len(ap.definers[k]) > 0 {
			return k
		}
	}
	return ""
}

// writersOf returns the cells that write the relation of key k (their
// write resolves to k and they do not create it themselves), in position
// order.
func (ap *ArtifactPlan) writersOf(k string) []string {
	var out []string
	for _, id := range ap.writers[k] {
		cp := ap.byID[id]
		if cp.ddlKeys[k] {
			continue
		}
		for _, w := range cp.writes {
			if ap.resolveKey(w.keys) == k {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// resolve computes a cell's dependencies, external tables and the errors
// that depend on other cells (unknown-variable, duplicate-name), and sets
// its edges in the graph.
func (ap *ArtifactPlan) resolve(cp *CellPlan) {
	id := cp.Cell.ID
	deps := map[string]bool{}
	var writeDeps, ownWrites map[string]bool // allocated for cells of families only
	var external []sqlparse.Ref
	var derived []*CellError
	// A writer depends on the definer of what it writes and on the
	// writers of it before it (rule 7). A target no cell defines is left
	// to DuckDB, which says so when the cell runs.
	cp.writeKeys = cp.writeKeys[:0]
	for _, w := range cp.writes {
		k := ap.resolveKey(w.keys)
		if k == "" || cp.ddlKeys[k] || ownWrites[k] {
			continue
		}
		if ownWrites == nil {
			ownWrites, writeDeps = map[string]bool{}, map[string]bool{}
		}
		ownWrites[k] = true
		cp.writeKeys = append(cp.writeKeys, k)
		for _, d := range ap.definers[k] {
			if d != id {
				deps[d], writeDeps[d] = true, true
			}
		}
		for _, wid := range ap.writersOf(k) {
			if ap.position[wid] < ap.position[id] {
				deps[wid], writeDeps[wid] = true, true
			}
		}
	}
	for _, r := range cp.reads {
		found := false
		for _, k := range r.keys {
			ids := ap.definers[k]
			if len(ids) == 0 {
				continue
			}
			found = true
			for _, d := range ids {
				if d != id || !cp.ddlKeys[k] { // reading what it creates itself is no edge
					deps[d] = true
				}
			}
			if !ownWrites[k] && !cp.ddlKeys[k] && len(ap.writers[k]) > 0 {
				// A reader depends on every writer too.
				for _, wid := range ap.writersOf(k) {
					if wid != id {
						if writeDeps == nil {
							writeDeps = map[string]bool{}
						}
						deps[wid], writeDeps[wid] = true, true
					}
				}
			}
			break
		}
		switch {
		case found:
		case r.ref != nil:
			external = append(external, *r.ref)
		case r.vari != "":
			derived = append(derived, &CellError{CellID: id, Kind: KindUnknownVariable,
				Message: fmt.Sprintf("{{%s}}: no input cell in artifact %s has varName %q", r.vari, ap.Artifact.ID, r.vari)})
		}
	}
	if cp.Cell.Type == cells.TypeSQL && cp.Connection.Engine != connectors.EngineDuckDB {
		external = cp.Analysis.Refs // an external cell's names resolve in its own database
	}
	for _, k := range cp.defKeys {
		if ids := ap.definers[k]; len(ids) > 1 && !strings.HasPrefix(k, "cell:") {
			what := "result name " + strings.TrimPrefix(k, "rel:")
			if strings.HasPrefix(k, "var:") {
				what = "input variable " + strings.TrimPrefix(k, "var:")
			} else if strings.HasPrefix(k, "ext:") {
				what = "relation " + strings.TrimPrefix(k, "ext:")
			}
			derived = append(derived, &CellError{CellID: id, Kind: KindDuplicateName,
				Message: fmt.Sprintf("%s is defined by cells %s", what, strings.Join(ids, ", "))})
		}
	}
	cp.Deps = sortedSet(deps)
	cp.WriteDeps = nil
	if len(writeDeps) > 0 {
		cp.WriteDeps = sortedSet(writeDeps)
	}
	cp.ExternalTables = sqlparse.ExternalTables(external)
	cp.Errors = append(append([]*CellError(nil), cp.own...), derived...)
	ap.Graph.SetDeps(id, cp.Deps)
}

// finish recomputes what depends on the whole graph: cycles, the error
// list and the order.
func (ap *ArtifactPlan) finish() {
	for _, cp := range ap.Cells {
		cp.Errors = slices.DeleteFunc(cp.Errors, func(e *CellError) bool { return e.Kind == KindCycle })
	}
	ap.markCycles()
	ap.indexFamilies()
	ap.Errors = ap.Errors[:0]
	failed := map[string]bool{}
	for _, cp := range ap.Cells {
		if len(cp.Errors) > 0 {
			failed[cp.Cell.ID] = true
			ap.Errors = append(ap.Errors, cp.Errors...)
		}
	}
	ap.Order, _ = ap.Graph.Order(failed)
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
	onCycle := ap.Graph.OnCycle()
	for _, id := range ap.Graph.Nodes() {
		if !onCycle[id] {
			continue
		}
		path := pathOf[id]
		if path == nil {
			// On a cycle but not on the path reported for it: use the path
			// through a cell that is both upstream and downstream of it.
			up, down := setOf(ap.Graph.Upstream(id)...), setOf(ap.Graph.Downstream(id)...)
			for _, p := range paths {
				if up[p[0]] && down[p[0]] {
					path = p
					break
				}
			}
		}
		ap.byID[id].Errors = append(ap.byID[id].Errors, &CellError{CellID: id, Kind: KindCycle, Message: "cycle: " + strings.Join(path, " -> ")})
	}
}

func (cp *CellPlan) fail(kind, msg string) {
	cp.own = append(cp.own, &CellError{CellID: cp.Cell.ID, Kind: kind, Message: msg})
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

// Refresh is the refresh policy of an external cell (DESIGN.md "Refresh
// of external results"): the cell's own, else its connection's, else
// on-change; the unique key likewise. A DuckDB cell's is on-change: its
// result is computed, not fetched.
func (cp *CellPlan) Refresh() cells.Refresh {
	if cp.Cell.Type != cells.TypeSQL || cp.Connection.Engine == connectors.EngineDuckDB || cp.Connection.Engine == "" {
		return cells.Refresh{Kind: cells.RefreshOnChange}
	}
	r := cells.Refresh{Kind: cells.RefreshOnChange}
	switch {
	case cp.Cell.Refresh != nil:
		r = *cp.Cell.Refresh
	case cp.Connection.Refresh != nil:
		r = *cp.Connection.Refresh
	}
	r.UniqueKey = cp.Cell.UniqueKey
	if r.UniqueKey == "" {
		r.UniqueKey = cp.Connection.UniqueKey
	}
	return r
}
