package format

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// Graph is the `cellsd graph --format json` document (DESIGN.md "CLI
// contract"). Lists are never null.
type Graph struct {
	Artifacts []GraphArtifact `json:"artifacts"`
}

// GraphArtifact is one artifact of a Graph.
type GraphArtifact struct {
	ID     string       `json:"id"`
	Schema string       `json:"schema"`
	Cells  []GraphCell  `json:"cells"`
	Order  []string     `json:"order"`
	Errors []GraphError `json:"errors"`
}

// GraphCell is one cell of a GraphArtifact. ResultName, ConnectorID and
// Engine are null for cells that are not SQL.
type GraphCell struct {
	ID             string   `json:"id"`
	Type           string   `json:"type"`
	ResultName     *string  `json:"resultName"`
	ConnectorID    *string  `json:"connectorId"`
	Engine         *string  `json:"engine"`
	Deps           []string `json:"deps"`
	Defines        []string `json:"defines"`
	Writes         []string `json:"writes"`
	ExternalTables []string `json:"externalTables"`
	// writeDeps are the Deps that come from a family of rule 7: the
	// diagrams draw those edges dashed.
	writeDeps []string
}

// GraphError is one error of a GraphArtifact; line and column are 0 unless
// the error is a parse error with a position.
type GraphError struct {
	CellID  string `json:"cellId"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
}

// NewGraph returns the plan as the graph document.
func NewGraph(p *engine.Plan) *Graph {
	g := &Graph{Artifacts: []GraphArtifact{}}
	for _, ap := range p.Artifacts {
		ga := GraphArtifact{ID: ap.Artifact.ID, Schema: ap.Schema, Cells: []GraphCell{}, Order: nonNil(ap.Order), Errors: []GraphError{}}
		for _, cp := range ap.Cells {
			gc := GraphCell{ID: cp.Cell.ID, Type: cp.Cell.Type, Deps: nonNil(cp.Deps), Defines: nonNil(cp.Defines),
				Writes: nonNil(cp.Writes), ExternalTables: nonNil(cp.ExternalTables), writeDeps: cp.WriteDeps}
			if cp.Cell.Type == cells.TypeSQL {
				connector := cp.Cell.Connector()
				gc.ResultName, gc.ConnectorID = &cp.Name, &connector
				if cp.Connection.Engine != "" {
					gc.Engine = &cp.Connection.Engine
				}
			}
			ga.Cells = append(ga.Cells, gc)
		}
		for _, e := range ap.Errors {
			ga.Errors = append(ga.Errors, GraphError{CellID: e.CellID, Kind: e.Kind, Message: e.Message, Line: e.Line, Column: e.Column})
		}
		g.Artifacts = append(g.Artifacts, ga)
	}
	return g
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// graphNode is one cell as the diagrams draw it.
type graphNode struct {
	key    string // unique across artifacts
	label  []string
	failed bool
}

// nodes lists the cells of an artifact that take part in the graph, with
// their labels: id, result name and connector for SQL cells, the error kind
// and message for cells with errors.
func (ga *GraphArtifact) nodes() []graphNode {
	errs := map[string][]GraphError{}
	for _, e := range ga.Errors {
		errs[e.CellID] = append(errs[e.CellID], e)
	}
	var out []graphNode
	for _, c := range ga.Cells {
		n := graphNode{key: ga.ID + "/" + c.ID, label: []string{c.ID}}
		switch {
		case c.Type == cells.TypeSQL:
			n.label = append(n.label, deref(c.ResultName), deref(c.ConnectorID))
		case c.Type == cells.TypeInput || c.Type == cells.TypeVega:
			n.label = append(n.label, c.Type)
		default:
			continue
		}
		for _, e := range errs[c.ID] {
			n.failed = true
			msg := e.Kind + ": " + e.Message
			if strings.HasPrefix(e.Message, e.Kind+":") {
				msg = e.Message
			}
			if e.Line > 0 {
				msg = fmt.Sprintf("%s at %d:%d: %s", e.Kind, e.Line, e.Column, e.Message)
			}
			n.label = append(n.label, msg)
		}
		out = append(out, n)
	}
	return out
}

// WriteJSON writes the graph document as `cellsd graph --format json`
// does: indented by two spaces, with a final newline.
func (g *Graph) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(g)
}

// WriteDOT writes the graph in Graphviz DOT: a cluster per artifact, an
// edge from each dependency to its dependent (dashed when it comes from a
// family of writers, DESIGN.md rule 7), cells with errors in red.
func (g *Graph) WriteDOT(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph cellsd {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n")
	for _, ga := range g.Artifacts {
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s;\n", dotQuote("cluster_"+ga.ID), dotQuote(ga.ID+" ("+ga.Schema+")"))
		for _, n := range ga.nodes() {
			attrs := "label=" + dotQuote(strings.Join(n.label, "\n"))
			if n.failed {
				attrs += ", color=red, fontcolor=red"
			}
			fmt.Fprintf(&b, "    %s [%s];\n", dotQuote(n.key), attrs)
		}
		b.WriteString("  }\n")
		for _, c := range ga.Cells {
			for _, d := range c.Deps {
				style := ""
				if slices.Contains(c.writeDeps, d) {
					style = " [style=dashed]"
				}
				fmt.Fprintf(&b, "  %s -> %s%s;\n", dotQuote(ga.ID+"/"+d), dotQuote(ga.ID+"/"+c.ID), style)
			}
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMermaid writes the graph as a Mermaid flowchart: a subgraph per
// artifact, cells with errors in the class "error".
func (g *Graph) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	ids := map[string]string{} // node key -> mermaid id
	var failed []string
	for i, ga := range g.Artifacts {
		fmt.Fprintf(&b, "  subgraph a%d[%s]\n", i, mermaidQuote(ga.ID+" ("+ga.Schema+")"))
		for _, n := range ga.nodes() {
			id := fmt.Sprintf("n%d", len(ids))
			ids[n.key] = id
			fmt.Fprintf(&b, "    %s[%s]\n", id, mermaidQuote(strings.Join(n.label, "<br/>")))
			if n.failed {
				failed = append(failed, id)
			}
		}
		b.WriteString("  end\n")
	}
	for _, ga := range g.Artifacts {
		for _, c := range ga.Cells {
			for _, d := range c.Deps {
				arrow := "-->"
				if slices.Contains(c.writeDeps, d) {
					arrow = "-.->"
				}
				fmt.Fprintf(&b, "  %s %s %s\n", ids[ga.ID+"/"+d], arrow, ids[ga.ID+"/"+c.ID])
			}
		}
	}
	if len(failed) > 0 {
		b.WriteString("  classDef error stroke:#d00,stroke-width:2px,color:#d00\n")
		fmt.Fprintf(&b, "  class %s error\n", strings.Join(failed, ","))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// mermaidQuote quotes a label; Mermaid reads entity codes in quoted text.
func mermaidQuote(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "\n", " ")
	return `"` + r.Replace(s) + `"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
