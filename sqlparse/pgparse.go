package sqlparse

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/cellsd/cellsd/cells"
)

// maskName is the relation of the placeholder query (TABLE _) that stands
// for a DuckDB-only query in a statement given to the Postgres parser.
const maskName = "_"

// pgParsed is a DuckDB statement as the Postgres parser reads it.
type pgParsed struct {
	stmt map[string]any // the statement node, nil when it would not parse
	// masks maps the location of each placeholder relation to the
	// references DuckDB found in the query it stands for.
	masks map[int][]Ref
	// unscoped are the references of queries too short for a placeholder
	// relation (FROM t), which stand as SELECT.
	unscoped []Ref
}

// pgParse parses one statement that DuckDB parsed but will not serialize
// with the Postgres parser (pg_query), which DuckDB's grammar derives from.
// Where DuckDB's grammar goes beyond Postgres's the Postgres parser says so
// with a syntax error, and at that position:
//   - a query of DuckDB's own syntax (FROM-first, EXCLUDE, GROUP BY ALL,
//     QUALIFY, FROM 'file.csv', PIVOT, ...) is parsed by DuckDB, which gives
//     its references, and replaced by a placeholder query the Postgres
//     parser takes (TABLE _, as long as the query);
//   - DuckDB's additions to a statement's head are taken out: OR REPLACE
//     (CREATE OR REPLACE TABLE), INSERT OR REPLACE|IGNORE, BY NAME|POSITION,
//     PERSISTENT, and a table named by a string literal
//     (CREATE TABLE 'my-t') becomes the same name as a quoted identifier;
//   - otherwise the innermost parenthesised group holding the error (a
//     DuckDB type such as STRUCT(a INT), a lambda) is replaced by (1) or ().
//
// A change is kept only if the parser then gets past the error, so every
// step is decided by one of the two parsers; the text keeps its length, so
// every location is the user's.
func (an *analyser) pgParse(ctx context.Context, span Span) (pgParsed, error) {
	p := pgParsed{masks: map[int][]Ref{}}
	text := []byte(blankOutside(an.text, span))
	toks := tokensIn(an.toks, span)
	budget := 12 // DuckDB parses spent on candidate queries
	for range 16 {
		stmt, pos := pgParseOnce(string(text))
		if stmt != nil {
			p.stmt = stmt
			return p, nil
		}
		if pos < 0 {
			return p, nil
		}
		ok, err := an.fix(ctx, &p, text, toks, span, pos, &budget)
		if err != nil || !ok {
			return pgParsed{}, err
		}
	}
	return pgParsed{}, nil
}

// pgParseOnce parses text as exactly one Postgres statement and returns its
// node, or the byte offset of the syntax error (-1 when there is none to
// point at).
func pgParseOnce(text string) (map[string]any, int) {
	out, err := pg_query.ParseToJSON(text)
	if err != nil {
		var pe *pgparser.Error
		if !errors.As(err, &pe) || pe.Cursorpos <= 0 {
			return nil, -1
		}
		return nil, cells.ByteOffset(text, pe.Cursorpos-1)
	}
	var tree struct {
		Stmts []struct {
			Stmt map[string]any `json:"stmt"`
		} `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil || len(tree.Stmts) != 1 {
		return nil, -1
	}
	return tree.Stmts[0].Stmt, -1
}

// progress reports whether the Postgres parser gets past pos in text.
func progress(text []byte, pos int) bool {
	stmt, at := pgParseOnce(string(text))
	return stmt != nil || at > pos
}

// fix changes text at the Postgres parser's error position pos (see
// pgParse) and reports whether a change got the parser past it.
func (an *analyser) fix(ctx context.Context, p *pgParsed, text []byte, toks []token, span Span, pos int, budget *int) (bool, error) {
	k := len(toks) - 1 // the token the error is at
	for i, t := range toks {
		if t.end > pos {
			k = i
			break
		}
	}
	if k < 0 {
		return false, nil
	}
	try := func(edit func(b []byte)) bool {
		b := append([]byte(nil), text...)
		edit(b)
		if !progress(b, pos) {
			return false
		}
		copy(text, b)
		return true
	}
	blank := func(ts ...token) func([]byte) {
		return func(b []byte) {
			for _, t := range ts {
				for i := t.start; i < t.end; i++ {
					b[i] = ' '
				}
			}
		}
	}
	// DuckDB's additions to statement heads.
	t := toks[k]
	switch {
	case t.word == "or" && k+1 < len(toks) && (toks[k+1].word == "replace" || toks[k+1].word == "ignore"):
		if try(blank(t, toks[k+1])) {
			return true, nil
		}
	case t.word == "by" && k+1 < len(toks) && (toks[k+1].word == "name" || toks[k+1].word == "position"):
		if try(blank(t, toks[k+1])) {
			return true, nil
		}
	case t.word == "persistent":
		if try(blank(t)) {
			return true, nil
		}
	case t.kind == pg_query.Token_SCONST && text[t.start] == '\'' && k > 0 && namePrefix[toks[k-1].word]:
		name := strings.ReplaceAll(string(text[t.start+1:t.end-1]), "''", "'")
		if !strings.Contains(name, `"`) {
			ident := `"` + name + `"`
			if try(func(b []byte) { copy(b[t.start:t.end], ident+strings.Repeat(" ", t.end-t.start-len(ident))) }) {
				return true, nil
			}
		}
	}
	if len(toks) > 2 && toks[0].word == "create" && toks[1].word == "or" && toks[2].word == "replace" && k > 2 {
		if try(blank(toks[1], toks[2])) {
			return true, nil
		}
	}
	// A DuckDB query holding the error, innermost first.
	for j := k; j >= 1 && *budget > 0; j-- {
		if !startsQuery(toks[j]) {
			continue
		}
		for _, end := range queryEnds(toks, j, span) {
			if end < pos || *budget <= 0 {
				continue
			}
			*budget--
			q, ok, err := an.query(ctx, Span{toks[j].start, end})
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			start := toks[j].start
			masked := func(b []byte, with string) {
				copy(b[start:end], with+strings.Repeat(" ", end-start-len(with)))
			}
			switch {
			case end-start >= len("TABLE _"):
				if try(func(b []byte) { masked(b, "TABLE "+maskName) }) {
					p.masks[start+len("TABLE ")] = q.refs
					return true, nil
				}
			case end-start >= len("SELECT"):
				if try(func(b []byte) { masked(b, "SELECT") }) {
					p.unscoped = append(p.unscoped, q.refs...)
					return true, nil
				}
			}
		}
	}
	// A DuckDB expression holding the error (a list or struct literal, a
	// lambda): DuckDB parses it as SELECT <expression>, and a scalar
	// subquery or a number stands for it.
	for j := k; j >= 1 && j > k-32 && *budget > 0; j-- {
		if !startsExpr(toks[j-1]) {
			continue
		}
		for _, end := range exprEnds(toks, j, span) {
			if end < pos || *budget <= 0 {
				continue
			}
			start := toks[j].start
			if start < len("SELECT ") {
				continue
			}
			*budget--
			b := []byte(blankOutside(an.text, Span{start, end}))
			copy(b[start-len("SELECT "):start], "SELECT ")
			sq, err := an.d.serialize(ctx, string(b))
			if err != nil {
				return false, err
			}
			if len(sq.trees) != 1 {
				continue
			}
			refs := refsOf(sq.trees[0], an.text)
			masked := func(b []byte, with string) {
				copy(b[start:end], with+strings.Repeat(" ", end-start-len(with)))
			}
			if end-start >= len("(TABLE _)") && try(func(b []byte) { masked(b, "(TABLE "+maskName+")") }) {
				p.masks[start+len("(TABLE ")] = refs
				return true, nil
			}
			if try(func(b []byte) { masked(b, "1") }) {
				p.unscoped = append(p.unscoped, refs...)
				return true, nil
			}
		}
	}
	// The innermost parenthesised group holding the error.
	for _, g := range groupsAround(toks, k) {
		open, close := toks[g[0]], toks[g[1]]
		for _, with := range []string{"1", ""} {
			if close.start-open.end < len(with) {
				continue
			}
			if try(func(b []byte) {
				copy(b[open.end:close.start], with+strings.Repeat(" ", close.start-open.end-len(with)))
			}) {
				return true, nil
			}
		}
	}
	return false, nil
}

// query analyses span as one DuckDB query, ok false when it is not one.
func (an *analyser) query(ctx context.Context, span Span) (statementResult, bool, error) {
	s, err := an.d.serialize(ctx, blankOutside(an.text, span))
	if err != nil || s.err != nil {
		return statementResult{}, false, err
	}
	if s.trees != nil {
		if len(s.trees) != 1 {
			return statementResult{}, false, nil
		}
		return statementResult{kind: kindQuery, refs: refsOf(s.trees[0], an.text)}, true, nil
	}
	r, ok, err := an.pivotStatement(ctx, tokensIn(an.toks, span), span)
	return r, ok && r.kind == kindQuery, err
}

// queryEnds returns where a query starting at toks[j] can end: at the
// parenthesis closing the group it stands in, or, at the top level, at the
// end of the statement or before an ON CONFLICT or RETURNING clause.
func queryEnds(toks []token, j int, span Span) []int {
	depth := 0
	for i := j; i < len(toks); i++ {
		switch {
		case toks[i].kind == pg_query.Token_ASCII_40:
			depth++
		case toks[i].kind == pg_query.Token_ASCII_41:
			if depth == 0 {
				return []int{toks[i].start}
			}
			depth--
		}
	}
	ends := []int{span.End}
	depth = 0
	for i := j; i < len(toks); i++ {
		switch {
		case toks[i].kind == pg_query.Token_ASCII_40:
			depth++
		case toks[i].kind == pg_query.Token_ASCII_41:
			depth--
		case depth == 0 && (wordsAt(toks, i, "on", "conflict") || toks[i].word == "returning"):
			ends = append(ends, toks[i].start)
		}
	}
	return ends
}

// groupsAround returns the parenthesised groups holding toks[k], innermost
// first, as the indexes of their parentheses.
func groupsAround(toks []token, k int) [][2]int {
	var out [][2]int
	var stack []int
	for i, t := range toks {
		switch t.kind {
		case pg_query.Token_ASCII_40:
			stack = append(stack, i)
		case pg_query.Token_ASCII_41:
			if len(stack) == 0 {
				continue
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if open < k && k <= i {
				out = append(out, [2]int{open, i})
			}
		}
	}
	// Closed groups are found innermost first already.
	return out
}

// namePrefix are the words after which a string literal DuckDB takes as a
// relation name may stand in a statement's head.
var namePrefix = map[string]bool{"table": true, "view": true, "exists": true, "into": true}

// startsExpr reports whether an expression can follow t.
func startsExpr(t token) bool {
	switch t.kind {
	case pg_query.Token_ASCII_61, pg_query.Token_ASCII_44, pg_query.Token_ASCII_40: // = , (
		return true
	}
	switch t.word {
	case "set", "where", "and", "or", "not", "when", "then", "else", "on", "having", "returning", "select":
		return true
	}
	return false
}

// exprEnds returns where an expression starting at toks[j] can end: before
// a comma, a closing parenthesis or a clause keyword at its own depth, or
// at the end of the statement.
func exprEnds(toks []token, j int, span Span) []int {
	var ends []int
	depth := 0
	for i := j + 1; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == pg_query.Token_ASCII_40:
			depth++
			continue
		case t.kind == pg_query.Token_ASCII_41 && depth > 0:
			depth--
			continue
		case depth > 0:
			continue
		}
		switch t.word {
		case "where", "from", "returning", "and", "or", "then", "else", "end", "when", "group", "order", "limit", "using":
			ends = append(ends, t.start)
			continue
		}
		if t.kind == pg_query.Token_ASCII_44 {
			ends = append(ends, t.start)
			continue
		}
		if t.kind == pg_query.Token_ASCII_41 {
			return append(ends, t.start)
		}
	}
	return append(ends, span.End)
}
