package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/engine/format"
)

// selected is a --select subgraph: artifact id -> cell ids. nil selects
// everything.
type selected = engine.Selection

// selection resolves a dbt-style selector ("c1", "c1+", "+c1", "+c1+") whose
// name is a cell id or a result name, in every artifact that has it.
func selection(plan *engine.Plan, spec string) (selected, error) {
	sel, err := plan.Select(spec)
	if err != nil {
		return nil, fmt.Errorf("--select %s: %w", spec, err)
	}
	return sel, nil
}

// graphGolden is the graph document of DESIGN.md, limited to the selection.
func graphGolden(plan *engine.Plan, sel selected) ([]byte, error) {
	g := format.NewGraph(plan)
	selectGraph(g, sel)
	return marshal(g)
}

// selectGraph keeps the selected cells of g, their order and errors.
func selectGraph(g *format.Graph, sel selected) {
	for i := range g.Artifacts {
		a := &g.Artifacts[i]
		a.Cells = filter(a.Cells, func(c format.GraphCell) bool { return sel.Has(a.ID, c.ID) })
		a.Order = filter(a.Order, func(id string) bool { return sel.Has(a.ID, id) })
		a.Errors = filter(a.Errors, func(e format.GraphError) bool { return sel.Has(a.ID, e.CellID) })
	}
}

// runDoc is the run.json golden.
type runDoc struct {
	Artifacts []runArtifact `json:"artifacts"`
}

type runArtifact struct {
	ID    string    `json:"id"`
	Cells []runCell `json:"cells"`
}

// runCell is one SQL cell's final state and result fingerprint.
// Fields that change with the SQL come right after the id, so that a
// diff's context names the cell.
type runCell struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Cached bool   `json:"cached,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
	Rows   *int64 `json:"rows,omitempty"`
	// Hash is an order-insensitive hash of the rows: the sum of DuckDB's
	// hash of each row.
	Hash     string   `json:"hash,omitempty"`
	Relation string   `json:"relation,omitempty"`
	Columns  []string `json:"columns,omitempty"`
}

// changedCells lists the cells ("artifact/cell") whose entries differ
// between two run.json documents.
func changedCells(want, got []byte) []string {
	index := func(b []byte) map[string]string {
		var doc runDoc
		m := map[string]string{}
		if json.Unmarshal(b, &doc) != nil {
			return m
		}
		for _, a := range doc.Artifacts {
			for _, c := range a.Cells {
				j, _ := json.Marshal(c)
				m[a.ID+"/"+c.ID] = string(j)
			}
		}
		return m
	}
	w, g := index(want), index(got)
	var out []string
	for k, v := range g {
		if w[k] != v {
			out = append(out, k)
		}
	}
	for k := range w {
		if _, ok := g[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// runGolden is the final state of every selected SQL cell and, for those
// that succeeded with a result, its columns, row count and content hash.
func runGolden(ctx context.Context, s *engine.Session, sel selected) ([]byte, error) {
	doc := runDoc{Artifacts: []runArtifact{}}
	report := s.Report("")
	for _, ar := range report.Artifacts {
		a := runArtifact{ID: ar.ID, Cells: []runCell{}}
		for _, c := range ar.Cells {
			if !sel.Has(ar.ID, c.ID) {
				continue
			}
			rc := runCell{ID: c.ID, Status: string(c.Status), Cached: c.Cached}
			switch {
			case c.Status == engine.StatusError && c.Err != nil:
				rc.Error = *c.Err
			case c.Status != engine.StatusSuccess:
				rc.Reason = c.Reason
			}
			if c.Status == engine.StatusSuccess && c.Relation != "" {
				rc.Relation = c.Relation
				if err := fingerprint(ctx, s, &rc); err != nil {
					return nil, fmt.Errorf("fingerprint %s: %w", c.Relation, err)
				}
			}
			a.Cells = append(a.Cells, rc)
		}
		doc.Artifacts = append(doc.Artifacts, a)
	}
	return marshal(doc)
}

func fingerprint(ctx context.Context, s *engine.Session, rc *runCell) error {
	parts := strings.Split(rc.Relation, ".")
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	rel := strings.Join(quoted, ".")
	rows, err := s.DB().QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE "+rel+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return err
		}
		rc.Columns = append(rc.Columns, name+" "+typ)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var n int64
	var hash string
	if err := s.DB().QueryRowContext(ctx, "SELECT count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) FROM "+rel+" AS t").Scan(&n, &hash); err != nil {
		return err
	}
	rc.Rows, rc.Hash = &n, hash
	return nil
}

// eventsGolden writes every selected cell's state changes, cell by cell in
// artifact and position order, each as "status (reason)": no times,
// durations or sequence numbers, which a run's timing decides.
func eventsGolden(plan *engine.Plan, events []engine.Event, sel selected) []byte {
	byCell := map[string][]engine.Event{}
	for _, ev := range events {
		k := ev.Artifact + "/" + ev.Cell
		byCell[k] = append(byCell[k], ev)
	}
	var b bytes.Buffer
	for _, ap := range plan.Artifacts {
		for _, cp := range ap.Cells {
			evs := byCell[ap.Artifact.ID+"/"+cp.Cell.ID]
			if len(evs) == 0 || !sel.Has(ap.Artifact.ID, cp.Cell.ID) {
				continue
			}
			fmt.Fprintf(&b, "%s/%s\n", ap.Artifact.ID, cp.Cell.ID)
			for _, ev := range evs {
				line := string(ev.Status)
				if ev.Cached {
					line += " cached"
				}
				if ev.Reason != "" {
					line += " (" + ev.Reason + ")"
				}
				fmt.Fprintf(&b, "  %s\n", line)
			}
		}
	}
	return b.Bytes()
}

// selectGolden cuts a golden down to the selection, the way the output of
// this run was cut, so that a golden that still matches compares equal.
func selectGolden(name string, golden []byte, sel selected) ([]byte, error) {
	switch name {
	case "graph.json":
		var g format.Graph
		if err := json.Unmarshal(golden, &g); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		selectGraph(&g, sel)
		return marshal(g)
	case "run.json":
		var doc runDoc
		if err := json.Unmarshal(golden, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for i := range doc.Artifacts {
			a := &doc.Artifacts[i]
			a.Cells = filter(a.Cells, func(c runCell) bool { return sel.Has(a.ID, c.ID) })
		}
		return marshal(doc)
	}
	// events.txt: blocks headed "artifact/cell".
	var b bytes.Buffer
	keep := false
	for _, line := range strings.SplitAfter(string(golden), "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			a, c, _ := strings.Cut(strings.TrimSpace(line), "/")
			keep = sel.Has(a, c)
		}
		if keep {
			b.WriteString(line)
		}
	}
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func filter[T any](s []T, keep func(T) bool) []T {
	out := s[:0:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	if out == nil {
		out = []T{}
	}
	return out
}
