package sqlparse

import (
	"errors"
	"strings"
	"sync"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/cellsd/cellsd/cells"
)

// MySQLParser returns the MySQL grammar cellsd parses MySQL and MariaDB
// cells with: vitess's sqlparser, speaking MySQL 8.0.
var MySQLParser = sync.OnceValue(func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40", TruncateErrLen: 0, TruncateUILen: 0})
	if err != nil {
		panic(err) // only for an unknown version string
	}
	return p
})

// AnalyzeMySQL parses text in the MySQL dialect with vitess's MySQL
// grammar. Its Refs are the remote relations the cell reads (`db`.`t` has
// Schema db); they never resolve to other cells (DESIGN.md rule 6).
// vitess keeps no positions in its tree, so Refs have Offset -1; parse
// errors have the line and column of the token the parser stopped at.
func AnalyzeMySQL(text string) *Analysis {
	a := &Analysis{Vars: cells.Vars(text)}
	parsed := mysqlParseText(text)
	spans, err := cells.MySQLStatements(parsed, cells.MySQLMode{})
	if err != nil {
		var re *cells.RenderError
		off := -1
		if errors.As(err, &re) {
			off = re.Offset
		}
		a.Err = newError(text, err.Error(), off)
		return a
	}
	a.Statements = len(spans)
	if a.Statements == 0 {
		a.Err = newError(text, "the cell has no SQL statement", -1)
		return a
	}
	w := myWalker{}
	for i, sp := range spans {
		stmt, err := MySQLParser().Parse(parsed[sp[0]:sp[1]])
		if err != nil {
			a.Err = mysqlParseError(text, sp[0], parsed[sp[0]:sp[1]], err)
			a.Refs = nil
			return a
		}
		w.statement(stmt, nil)
		if i == len(spans)-1 {
			a.Query = MySQLReturnsRows(stmt)
		}
	}
	a.Refs = w.refs
	sortRefs(a.Refs)
	return a
}

// MySQLReturnsRows reports whether a parsed statement is one whose rows
// are a cell's result: SELECT (WITH, UNION, VALUES), SHOW, DESCRIBE and
// EXPLAIN.
func MySQLReturnsRows(stmt sqlparser.Statement) bool {
	switch s := stmt.(type) {
	case *sqlparser.Select:
		return s.Into == nil
	case *sqlparser.Union:
		return s.Into == nil
	case *sqlparser.Show, *sqlparser.ExplainStmt, *sqlparser.ExplainTab, *sqlparser.ValuesStatement:
		return true
	}
	return false
}

// mysqlParseText replaces each {{var}} outside literals with a string
// literal of the same length, so the text parses and positions stay.
func mysqlParseText(text string) string {
	ps, err := cells.MySQLPlaceholders(text, cells.MySQLMode{})
	if err != nil || len(ps) == 0 {
		return text
	}
	b := []byte(text)
	for _, p := range ps {
		if p.Context == cells.InCode {
			copy(b[p.Start:p.End], "'"+strings.Repeat("_", p.End-p.Start-2)+"'")
		}
	}
	return string(b)
}

// mysqlParseError turns vitess's "syntax error at position N near 'x'"
// into an Error at the start of the token it names.
func mysqlParseError(text string, start int, stmt string, err error) *Error {
	// Parse wraps the tokenizer's PositionedErr into a plain message;
	// ParseMultiple returns it as it is.
	var pe sqlparser.PositionedErr
	if _, merr := MySQLParser().ParseMultiple(stmt); !errors.As(merr, &pe) {
		return newError(text, err.Error(), -1)
	}
	// Pos is one past the end of the token the parser stopped after.
	end := min(max(pe.Pos-1, 0), len(stmt))
	off := end
	if pe.Near != "" {
		if i := strings.LastIndex(stmt[:end], pe.Near); i >= 0 {
			off = i
		} else {
			off = max(end-len(pe.Near), 0)
		}
	}
	msg := pe.Err
	if pe.Near != "" {
		msg += " near '" + pe.Near + "'"
	}
	return newError(text, msg, start+off)
}

// myWalker collects the table references of vitess statements, tracking
// CTE scope as pgWalker does.
type myWalker struct {
	refs []Ref
}

func (w *myWalker) statement(node sqlparser.SQLNode, sc *scope) {
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if with, rest := splitWith(n); with != nil {
			w.statement(rest, w.with(with, sc))
			return false, nil
		}
		switch n := n.(type) {
		case *sqlparser.Delete:
			// Targets name the tables (or their aliases) of TableExprs.
			for _, te := range n.TableExprs {
				w.statement(te, sc)
			}
			if n.Where != nil {
				w.statement(n.Where, sc)
			}
			return false, nil
		case *sqlparser.AliasedTableExpr:
			switch t := n.Expr.(type) {
			case sqlparser.TableName:
				w.table(t, sc)
			case *sqlparser.DerivedTable:
				w.statement(t.Select, sc)
			}
			return false, nil
		case *sqlparser.ExplainTab:
			w.table(n.Table, sc)
			return false, nil
		case *sqlparser.ShowBasic:
			if !n.Tbl.IsEmpty() {
				t := n.Tbl
				if t.Qualifier.IsEmpty() && !n.DbName.IsEmpty() {
					t.Qualifier = n.DbName
				}
				w.table(t, sc)
			}
			return false, nil
		case *sqlparser.ColName:
			return false, nil // its qualifier names a table in scope, not a relation read
		}
		return true, nil
	}, node)
}

// splitWith returns a statement's WITH clause and a copy of the statement
// without it, so that its CTEs scope the rest; nil for a node without one.
func splitWith(n sqlparser.SQLNode) (*sqlparser.With, sqlparser.SQLNode) {
	switch n := n.(type) {
	case *sqlparser.Select:
		if n.With != nil {
			c := *n
			c.With = nil
			return n.With, &c
		}
	case *sqlparser.Union:
		if n.With != nil {
			c := *n
			c.With = nil
			return n.With, &c
		}
	case *sqlparser.Update:
		if n.With != nil {
			c := *n
			c.With = nil
			return n.With, &c
		}
	case *sqlparser.Delete:
		if n.With != nil {
			c := *n
			c.With = nil
			return n.With, &c
		}
	}
	return nil, nil
}

func (w *myWalker) with(with *sqlparser.With, sc *scope) *scope {
	names := make([]string, len(with.CTEs))
	for i, c := range with.CTEs {
		names[i] = c.ID.String()
	}
	for i, c := range with.CTEs {
		visible := names[:i]
		if with.Recursive {
			visible = names
		}
		w.statement(c.Subquery, sc.with(visible...))
	}
	return sc.with(names...)
}

func (w *myWalker) table(t sqlparser.TableName, sc *scope) {
	r := Ref{Schema: t.Qualifier.String(), Name: t.Name.String(), Offset: -1}
	if r.Name == "" || r.Name == "dual" && r.Schema == "" {
		return
	}
	if r.Schema == "" && sc.has(r.Name) {
		return
	}
	w.refs = append(w.refs, r)
}
