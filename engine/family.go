package engine

import (
	"errors"
	"slices"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/sqlparse"
)

// dropStatements returns the statements that remove the tables and views a
// DDL cell creates, as the cell names them, so that the cell runs again
// from scratch: a family reruns from its definer (DESIGN.md rule 7), and
// CREATE TABLE t (...) would otherwise find t there.
func dropStatements(cp *CellPlan) []string {
	a := cp.Analysis
	if a == nil {
		return nil
	}
	var out []string
	for _, d := range a.Defines {
		kind := "TABLE"
		if slices.ContainsFunc(a.Views, func(v sqlparse.Ref) bool { return v.String() == d.String() }) {
			kind = "VIEW"
		}
		out = append(out, "DROP "+kind+" IF EXISTS "+quoteRef(d))
	}
	return out
}

func quoteRef(r sqlparse.Ref) string {
	var parts []string
	for _, p := range []string{r.Catalog, r.Schema, r.Name} {
		if p != "" {
			parts = append(parts, quoteIdent(p))
		}
	}
	return strings.Join(parts, ".")
}

// missingError is DuckDB's error for a relation that does not exist, with
// what the notebook knows about the name.
type missingError struct {
	err  error
	hint string
}

// Error puts the notebook's own hint right after DuckDB's first line, before
// DuckDB's candidate lines ("Did you mean ...") and its caret: a sibling
// cell's name is a better guess than a catalog name.
func (e *missingError) Error() string {
	first, rest, ok := strings.Cut(e.err.Error(), "\n")
	if !ok {
		return first + "\n" + e.hint
	}
	return first + "\n" + e.hint + "\n" + rest
}
func (e *missingError) Unwrap() error { return e.err }

// explainMissing adds to DuckDB's "Table with name x does not exist" what
// the plan knows about x (ArtifactPlan.MissingHint). Other errors are
// returned as they are.
func explainMissing(ap *ArtifactPlan, cell string, err error) error {
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeCatalog {
		return err
	}
	name, ok := missingName(de.Msg)
	if !ok {
		return err
	}
	return &missingError{err, ap.MissingHint(cell, name)}
}

// missingName reads the relation name out of DuckDB's catalog error
// "Table with name x does not exist!" (also "Table or view ...").
func missingName(msg string) (string, bool) {
	what, rest, ok := strings.Cut(msg, " with name ")
	if !ok || !(strings.HasSuffix(what, "Table") || strings.HasSuffix(what, "Table or view") || strings.HasSuffix(what, "View")) {
		return "", false
	}
	name, _, ok := strings.Cut(rest, " does not exist")
	return name, ok && name != ""
}
