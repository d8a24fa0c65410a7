package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cellsd/cellsd/internal/editdist"
	"github.com/cellsd/cellsd/sqlparse"
)

// Selection is a subgraph of a plan: artifact id -> cell ids. A nil
// Selection selects every cell.
type Selection map[string]map[string]bool

// Has reports whether the selection holds the cell of the artifact.
func (s Selection) Has(artifact, cell string) bool {
	return s == nil || s[artifact][cell]
}

func (s Selection) add(artifact string, ids ...string) {
	if s[artifact] == nil {
		s[artifact] = map[string]bool{}
	}
	for _, id := range ids {
		s[artifact][id] = true
	}
}

// Select resolves a dbt-style selector: "c1" (the cell), "c1+" (with its
// downstream), "+c1" (with its upstream), "+c1+" (both), where c1 is a cell
// id or a result name (case-insensitive), in every artifact that has it.
// An empty spec selects everything (nil).
func (p *Plan) Select(spec string) (Selection, error) {
	if spec == "" {
		return nil, nil
	}
	up, down := strings.HasPrefix(spec, "+"), strings.HasSuffix(spec, "+")
	name := strings.TrimSuffix(strings.TrimPrefix(spec, "+"), "+")
	sel := Selection{}
	for _, ap := range p.Artifacts {
		for _, cp := range ap.Cells {
			if cp.Cell.ID != name && !strings.EqualFold(cp.Name, name) {
				continue
			}
			ids := []string{cp.Cell.ID}
			if up {
				ids = append(ids, ap.Graph.Upstream(cp.Cell.ID)...)
			}
			if down {
				ids = append(ids, ap.Graph.Downstream(cp.Cell.ID)...)
			}
			sel.add(ap.Artifact.ID, ids...)
		}
	}
	if len(sel) == 0 {
		msg := fmt.Sprintf("no cell has the id or result name %q", name)
		if s := p.Closest(name); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		return nil, noMatchError(msg)
	}
	return sel, nil
}

// Reads resolves relation references written outside any cell (a query on
// the notebook's results) the way a DuckDB cell's are (DESIGN.md rules 1, 2
// and 7), in every artifact in notebook order: an unqualified name is the
// first artifact's that defines it, a name qualified with an artifact
// schema is that artifact's. It returns the cells the references need and
// the references no cell defines, which name relations outside the
// notebook (or nothing).
func (p *Plan) Reads(refs []sqlparse.Ref) (Selection, []sqlparse.Ref) {
	sel := Selection{}
	var rest []sqlparse.Ref
	for _, r := range refs {
		// The search path holds every artifact schema before the core
		// main schema: each artifact's first key before any second one.
		found := false
		for pass := 0; pass < 2 && !found; pass++ {
			for _, ap := range p.Artifacts {
				keys := ap.relKeys(r)
				if pass >= len(keys) {
					continue
				}
				if ids := ap.definers[keys[pass]]; len(ids) > 0 {
					sel.add(ap.Artifact.ID, ids...)
					sel.add(ap.Artifact.ID, ap.writersOf(keys[pass])...) // rule 7: and its writers
					found = true
					break
				}
			}
		}
		if !found {
			rest = append(rest, r)
		}
	}
	return sel, rest
}

// ResultNames lists the relation names the notebook's cells define, sorted
// and without repeats.
func (p *Plan) ResultNames() []string {
	seen := map[string]bool{}
	var names []string
	for _, ap := range p.Artifacts {
		for _, cp := range ap.Cells {
			for _, n := range cp.Defines {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	sort.Strings(names)
	return names
}

// Closest returns the result name of the plan closest to name by edit
// distance, compared with every result name and every cell id (whose
// result name it then returns), or "" when none is close: within a third
// of the name's length, at least 1 and at most 3 edits. Case is ignored.
func (p *Plan) Closest(name string) string {
	best, bestD := "", min(max(1, len(name)/3), 3)+1
	try := func(key, suggestion string) {
		if d := editdist.Distance(strings.ToLower(name), strings.ToLower(key)); d < bestD {
			best, bestD = suggestion, d
		}
	}
	for _, n := range p.ResultNames() {
		try(n, n)
	}
	for _, ap := range p.Artifacts {
		for _, cp := range ap.Cells {
			if cp.Name != "" {
				try(cp.Cell.ID, cp.Name)
			}
		}
	}
	return best
}

// WithUpstream returns the selection with every cell's upstream added: what
// a run of the selection executes. A nil selection stays nil.
func (p *Plan) WithUpstream(sel Selection) Selection {
	if sel == nil {
		return nil
	}
	out := Selection{}
	for _, ap := range p.Artifacts {
		ids := make([]string, 0, len(sel[ap.Artifact.ID]))
		for id := range sel[ap.Artifact.ID] {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			continue
		}
		sort.Strings(ids)
		out.add(ap.Artifact.ID, ids...)
		out.add(ap.Artifact.ID, ap.Graph.Upstream(ids...)...)
	}
	return out
}

// ErrNoMatch is a selection (Plan.Select) that matches no cell.
var ErrNoMatch = errors.New("no cell matches the selection")

// noMatchError is ErrNoMatch with its message: what was looked for and a
// did-you-mean.
type noMatchError string

func (e noMatchError) Error() string      { return string(e) }
func (noMatchError) Is(target error) bool { return target == ErrNoMatch }
