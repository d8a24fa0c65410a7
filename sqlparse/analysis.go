package sqlparse

import (
	"sort"
	"strings"

	"github.com/cellsd/cellsd/cells"
)

// Analysis is what one cell's SQL refers to.
type Analysis struct {
	// Statements is the number of statements in the cell.
	Statements int
	// Query reports whether the last statement is a query, whose result is
	// the cell's result. A cell whose last statement is DDL (or anything
	// else) has no result relation of its own.
	Query bool
	// Show reports that the last statement is a query DuckDB parses into a
	// SHOW reference: DESCRIBE, SHOW or SUMMARIZE. DuckDB runs such a
	// statement on its own or as a subquery, never as the body of
	// CREATE TABLE ... AS.
	Show bool
	// Expands reports that the last statement is a query holding a PIVOT
	// without IN list (or with a subquery for one), which DuckDB runs as
	// several statements: the first ones collect the pivot values into a
	// temporary type. CREATE TABLE ... AS on such a query answers no row
	// count.
	Expands bool
	// Refs are the relation references that are not CTEs in scope nor
	// relations created by an earlier statement of the cell, sorted by
	// position. Table-function arguments, column names, aliases, literals
	// and comments are never references.
	Refs []Ref
	// Defines are the relations the cell's CREATE TABLE|VIEW statements
	// create, as written; temporary ones are left out (see Temps), as no
	// other cell can see them.
	Defines []Ref
	// Views are the Defines that are views.
	Views []Ref
	// Writes are the relations the cell's statements write and did not
	// create themselves: the targets of INSERT, UPDATE, DELETE, TRUNCATE,
	// COPY x FROM, ALTER TABLE and DROP TABLE|VIEW, as written.
	Writes []Ref
	// Temps are the temporary tables and views the cell creates, local to
	// its connection.
	Temps []Ref
	// Vars are the {{var}} names used anywhere in the text, in order of
	// first use.
	Vars []string
	// Err is set when the SQL does not parse; Refs is then empty.
	Err *Error
}

// Ref is one relation reference as written (unquoted, case preserved).
type Ref struct {
	Catalog, Schema, Name string
	// Offset is the byte offset of the reference in the cell's SQL, or -1
	// when the parser does not say.
	Offset int
}

// String returns the reference in dotted form, as qualified as written.
func (r Ref) String() string {
	parts := make([]string, 0, 3)
	for _, p := range []string{r.Catalog, r.Schema, r.Name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

// Error is a parse error in a cell's SQL. Line and Column are 1-based and
// count characters; both are 0 when the parser gives no position.
type Error struct {
	Message      string
	Offset       int // byte offset, -1 when unknown
	Line, Column int
}

func (e *Error) Error() string { return e.Message }

func newError(sql, msg string, offset int) *Error {
	e := &Error{Message: msg, Offset: offset}
	if offset >= 0 {
		e.Line, e.Column = cells.LineColumn(sql, offset)
	}
	return e
}

func sortRefs(refs []Ref) {
	sort.SliceStable(refs, func(i, j int) bool {
		if refs[i].Offset != refs[j].Offset {
			return refs[i].Offset < refs[j].Offset
		}
		return refs[i].String() < refs[j].String()
	})
}

// scope is the set of CTE names visible at a point of a query, lowercased.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) with(names ...string) *scope {
	if len(names) == 0 {
		return s
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return &scope{names: m, parent: s}
}

func (s *scope) has(name string) bool {
	name = strings.ToLower(name)
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
