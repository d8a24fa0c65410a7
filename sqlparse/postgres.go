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
	for i, st := range tree.Stmts {
		var v struct {
			Stmt map[string]any `json:"stmt"`
		}
		if err := json.Unmarshal(st, &v); err != nil {
			a.Err = newError(text, "decode pg_query output: "+err.Error(), -1)
			return a
		}
		// What a statement reads is decided by its kind: the targets of
		// INSERT, UPDATE, DELETE, TRUNCATE, LOCK and GRANT are not reads;
		// COPY t TO, CREATE TABLE (LIKE src) and ANALYZE t read.
		if s, ok := classify(v.Stmt, nil); ok {
			a.Refs = append(a.Refs, s.reads...)
		} else {
			w := pgWalker{}
			w.walk(v.Stmt, nil)
			a.Refs = append(a.Refs, w.refs...)
		}
		if i == len(tree.Stmts)-1 {
			// The statements that return rows; a cell ending in DDL or SET
			// has no result.
			_, sel := v.Stmt["SelectStmt"]
			_, explain := v.Stmt["ExplainStmt"]
			_, show := v.Stmt["VariableShowStmt"]
			a.Query = sel || explain || show
		}
	}
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
