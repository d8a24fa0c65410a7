package engine

import (
	"errors"
	"fmt"
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

func (e *missingError) Error() string { return e.err.Error() + "\n" + e.hint }
func (e *missingError) Unwrap() error { return e.err }

// explainMissing adds to DuckDB's "Table with name x does not exist" what
// the notebook knows: that x is a TEMP table of another cell (local to
// it), or the names the notebook's cells define, closest first, as
// did-you-mean. Other errors are returned as they are.
func explainMissing(ap *ArtifactPlan, cell string, err error) error {
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeCatalog {
		return err
	}
	name, ok := missingName(de.Msg)
	if !ok {
		return err
	}
	var names []string
	seen := map[string]bool{}
	for _, cp := range ap.Cells {
		if cp.Analysis != nil && cp.Cell.ID != cell {
			for _, t := range cp.Analysis.Temps {
				if strings.EqualFold(t.Name, name) {
					return &missingError{err, fmt.Sprintf("%s is a TEMP table of cell %s: TEMP tables and views are local to the cell that creates them; use CREATE TABLE in %s to share it", name, cp.Cell.ID, cp.Cell.ID)}
				}
			}
		}
		for _, d := range cp.Defines {
			if !seen[strings.ToLower(d)] {
				seen[strings.ToLower(d)] = true
				names = append(names, d)
			}
		}
	}
	if len(names) == 0 {
		return &missingError{err, "No cell of this notebook defines " + name + "."}
	}
	slices.SortStableFunc(names, func(a, b string) int {
		return editDistance(strings.ToLower(name), strings.ToLower(a)) - editDistance(strings.ToLower(name), strings.ToLower(b))
	})
	if len(names) > 5 {
		names = names[:5]
	}
	for i, n := range names {
		names[i] = `"` + n + `"`
	}
	return &missingError{err, fmt.Sprintf("No cell of this notebook defines %s. Did you mean one of the notebook's tables: %s?", name, strings.Join(names, ", "))}
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
