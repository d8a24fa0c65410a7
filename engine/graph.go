package engine

import "github.com/cellsd/cellsd/cells"

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
	ExternalTables []string `json:"externalTables"`
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

// Graph returns the plan as the graph document.
func (p *Plan) Graph() *Graph {
	g := &Graph{Artifacts: []GraphArtifact{}}
	for _, ap := range p.Artifacts {
		ga := GraphArtifact{ID: ap.Artifact.ID, Schema: ap.Schema, Cells: []GraphCell{}, Order: nonNil(ap.Order), Errors: []GraphError{}}
		for _, cp := range ap.Cells {
			gc := GraphCell{ID: cp.Cell.ID, Type: cp.Cell.Type, Deps: nonNil(cp.Deps), Defines: nonNil(cp.Defines), ExternalTables: nonNil(cp.ExternalTables)}
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
