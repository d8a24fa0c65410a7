package sqlparse

import (
	"encoding/json"
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/cellsd/cellsd/cells"
)

// AnalyzePostgres parses text in the Postgres dialect with the Postgres
// parser. Its Refs are the remote relations the cell reads; they never
// resolve to other cells (DESIGN.md rule 6).
func AnalyzePostgres(text string) *Analysis {
	a := &Analysis{Vars: cells.Vars(text)}
	out, err := pg_query.ParseToJSON(parseText(text))
	if err != nil {
		a.Err = postgresError(text, err)
		return a
	}
	var tree struct {
		Stmts []json.RawMessage `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		a.Err = newError(text, "decode pg_query output: "+err.Error(), -1)
		return a
	}
	a.Statements = len(tree.Stmts)
	if a.Statements == 0 {
		a.Err = newError(text, "the cell has no SQL statement", -1)
		return a
	}
	w := pgWalker{}
	for i, st := range tree.Stmts {
		var v struct {
			Stmt map[string]any `json:"stmt"`
		}
		if err := json.Unmarshal(st, &v); err != nil {
			a.Err = newError(text, "decode pg_query output: "+err.Error(), -1)
			return a
		}
		w.walk(v.Stmt, nil)
		if i == len(tree.Stmts)-1 {
			// The statements that return rows; a cell ending in DDL or SET
			// has no result.
			_, sel := v.Stmt["SelectStmt"]
			_, explain := v.Stmt["ExplainStmt"]
			_, show := v.Stmt["VariableShowStmt"]
			a.Query = sel || explain || show
		}
	}
	a.Refs = w.refs
	sortRefs(a.Refs)
	return a
}

func postgresError(text string, err error) *Error {
	var pe *pgparser.Error
	if !errors.As(err, &pe) || pe.Cursorpos <= 0 {
		return newError(text, err.Error(), -1)
	}
	// Cursorpos is a 1-based character position.
	return newError(text, pe.Message, cells.ByteOffset(text, pe.Cursorpos-1))
}

// pgWalker collects RangeVar references from a pg_query JSON tree, tracking
// CTE scope: with WITH RECURSIVE every CTE of the clause sees all of them,
// else a body sees the CTEs before it.
type pgWalker struct {
	refs []Ref
}

func (w *pgWalker) walk(v any, sc *scope) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			w.walk(e, sc)
		}
	case map[string]any:
		if with, ok := v["withClause"].(map[string]any); ok {
			sc = w.with(with, sc)
		}
		if rv, ok := v["RangeVar"].(map[string]any); ok {
			w.rangeVar(rv, sc)
			return
		}
		for k, e := range v {
			if k != "withClause" {
				w.walk(e, sc)
			}
		}
	}
}

func (w *pgWalker) with(with map[string]any, sc *scope) *scope {
	recursive, _ := with["recursive"].(bool)
	ctes, _ := with["ctes"].([]any)
	var names []string
	cteOf := func(c any) map[string]any {
		node, _ := c.(map[string]any)
		cte, _ := node["CommonTableExpr"].(map[string]any)
		return cte
	}
	for _, c := range ctes {
		name, _ := cteOf(c)["ctename"].(string)
		names = append(names, name)
	}
	for i, c := range ctes {
		cte := cteOf(c)
		visible := names[:i]
		if recursive {
			visible = names
		}
		w.walk(cte["ctequery"], sc.with(visible...))
	}
	return sc.with(names...)
}

func (w *pgWalker) rangeVar(rv map[string]any, sc *scope) {
	r := Ref{Offset: -1}
	r.Catalog, _ = rv["catalogname"].(string)
	r.Schema, _ = rv["schemaname"].(string)
	r.Name, _ = rv["relname"].(string)
	if loc, ok := rv["location"].(float64); ok {
		r.Offset = int(loc)
	}
	if r.Catalog == "" && r.Schema == "" && sc.has(r.Name) {
		return
	}
	w.refs = append(w.refs, r)
}

// ExternalTables returns the distinct references of a, as written, sorted.
func ExternalTables(refs []Ref) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		s := r.String()
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return sortedStrings(out)
}
