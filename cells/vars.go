package cells

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Context says where in the SQL text a {{var}} placeholder stands, which
// decides how its value is rendered.
type Context int

const (
	// InCode is outside any literal: a number is inserted as a number,
	// anything else as a quoted string literal.
	InCode Context = iota
	// InString is inside a standard single-quoted literal: the text is
	// inserted with ' doubled.
	InString
	// InEscapeString is inside E'...' or U&'...': ' and \ are doubled.
	InEscapeString
	// InQuotedIdent is inside "...": the text is inserted with " doubled.
	InQuotedIdent
	// InComment is inside a comment: the placeholder is left as written.
	InComment
	// InDollarString is inside $$...$$, where no escaping exists; rendering
	// there is refused.
	InDollarString
)

// Placeholder is one {{var}} in a cell's SQL.
type Placeholder struct {
	Var        string
	Start, End int // byte offsets of "{{" and just after "}}"
	Context    Context
}

// ErrUnknownVariable is wrapped by the render error for a variable no input
// cell provides.
var ErrUnknownVariable = errors.New("unknown variable")

// RenderError is a problem rendering a placeholder, with its byte offset.
type RenderError struct {
	Offset int
	Err    error
}

func (e *RenderError) Error() string { return e.Err.Error() }
func (e *RenderError) Unwrap() error { return e.Err }

// Vars returns the distinct variable names in sql, in order of first use.
// It finds placeholders anywhere, string literals and comments included.
func Vars(sql string) []string {
	var names []string
	seen := map[string]bool{}
	for _, p := range scanPlaceholders(sql) {
		if !seen[p.Var] {
			seen[p.Var] = true
			names = append(names, p.Var)
		}
	}
	return names
}

// Placeholders finds every {{var}} in sql and classifies where it stands,
// using the Postgres lexer (DuckDB's lexer derives from it and agrees on
// literals, quoted identifiers and comments). It fails when the text cannot
// be lexed: then no placeholder can be rendered safely.
func Placeholders(sql string) ([]Placeholder, error) {
	ps := scanPlaceholders(sql)
	if len(ps) == 0 {
		return nil, nil
	}
	// Lex the text with each placeholder blanked to spaces of the same
	// length, so offsets stay those of the user's text and a placeholder
	// never merges with its neighbours into one token.
	blank := []byte(sql)
	for _, p := range ps {
		for i := p.Start; i < p.End; i++ {
			blank[i] = ' '
		}
	}
	scan, err := pg_query.Scan(string(blank))
	if err != nil {
		return nil, &RenderError{Offset: ps[0].Start, Err: fmt.Errorf("cannot place {{%s}}: %v", ps[0].Var, err)}
	}
	toks := scan.GetTokens()
	t := 0
	for i := range ps {
		for t < len(toks) && int(toks[t].End) <= ps[i].Start {
			t++
		}
		if t == len(toks) || int(toks[t].Start) > ps[i].Start {
			continue // between tokens: code
		}
		ps[i].Context = tokenContext(sql[toks[t].Start:toks[t].End], toks[t].Token)
	}
	return ps, nil
}

func tokenContext(text string, tok pg_query.Token) Context {
	switch tok {
	case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
		return InComment
	case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST:
		switch {
		case strings.HasPrefix(text, "$"):
			return InDollarString
		case text[0] == 'e' || text[0] == 'E' || tok == pg_query.Token_USCONST:
			return InEscapeString
		}
		return InString
	case pg_query.Token_IDENT, pg_query.Token_UIDENT:
		if strings.HasPrefix(text, `"`) || strings.HasPrefix(text, `U&"`) || strings.HasPrefix(text, `u&"`) {
			return InQuotedIdent
		}
	}
	return InCode
}

// scanPlaceholders finds {{ name }} occurrences: optional spaces around an
// identifier. Anything else between braces is not a placeholder.
func scanPlaceholders(sql string) []Placeholder {
	var ps []Placeholder
	for i := 0; ; {
		open := strings.Index(sql[i:], "{{")
		if open < 0 {
			return ps
		}
		open += i
		close := strings.Index(sql[open+2:], "}}")
		if close < 0 {
			return ps
		}
		close += open + 2
		name := strings.TrimSpace(sql[open+2 : close])
		if isIdentifier(name) {
			ps = append(ps, Placeholder{Var: name, Start: open, End: close + 2})
			i = close + 2
		} else {
			i = open + 1
		}
	}
}

// Render replaces every {{var}} in sql with its value from values (keyed by
// varName; a value is a string, json.Number, bool or nil). Outside literals
// a number is inserted as a number (negative ones in parentheses) and
// anything else as a quoted string literal; inside a literal or quoted
// identifier the text is inserted with its quote character doubled; inside a
// comment the placeholder stays. No value can change the statement's
// structure.
func Render(sql string, values map[string]any) (string, error) {
	ps, err := Placeholders(sql)
	if err != nil || len(ps) == 0 {
		return sql, err
	}
	var b strings.Builder
	last := 0
	for _, p := range ps {
		v, ok := values[p.Var]
		if !ok {
			return "", &RenderError{Offset: p.Start, Err: fmt.Errorf("%w {{%s}}", ErrUnknownVariable, p.Var)}
		}
		b.WriteString(sql[last:p.Start])
		last = p.End
		text := valueText(v)
		switch p.Context {
		case InCode:
			if n, ok := v.(json.Number); ok {
				if strings.HasPrefix(string(n), "-") {
					text = "(" + text + ")" // "x -{{n}}" must not become a comment
				}
				b.WriteString(text)
			} else {
				b.WriteString(QuoteString(text))
			}
		case InString:
			b.WriteString(strings.ReplaceAll(text, "'", "''"))
		case InEscapeString:
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(text, `\`, `\\`), "'", "''"))
		case InQuotedIdent:
			b.WriteString(strings.ReplaceAll(text, `"`, `""`))
		case InComment:
			b.WriteString(sql[p.Start:p.End])
		case InDollarString:
			return "", &RenderError{Offset: p.Start, Err: fmt.Errorf("{{%s}} inside a dollar-quoted string cannot be rendered safely; use a '...' literal", p.Var)}
		}
	}
	b.WriteString(sql[last:])
	return b.String(), nil
}

// QuoteString returns s as a single-quoted SQL string literal.
func QuoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
