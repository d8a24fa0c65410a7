package cells

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

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
	// InQuotedIdent is inside "...": the text is inserted with " doubled.
	InQuotedIdent
	// InComment is inside a comment: the placeholder is left as written.
	InComment
	// InEscapeString is inside E'...', U&'...' or U&"...", where a value's
	// backslashes would combine with the text around it; rendering there is
	// refused.
	InEscapeString
	// InBitString is inside B'...' or X'...', where ' cannot be escaped;
	// rendering there is refused.
	InBitString
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
	sites, err := locate(sql)
	if err != nil || len(sites) == 0 {
		return nil, err
	}
	ps := make([]Placeholder, len(sites))
	for i, s := range sites {
		ps[i] = s.Placeholder
	}
	return ps, nil
}

// site is a placeholder and what rendering needs to know of the token it
// stands in.
type site struct {
	Placeholder
	// tokStart and tokEnd are the byte offsets of the literal, quoted
	// identifier or comment holding the placeholder.
	tokStart, tokEnd int
}

func locate(sql string) ([]site, error) {
	ps := scanPlaceholders(sql)
	if len(ps) == 0 {
		return nil, nil
	}
	// Lex the text with each placeholder blanked to spaces of the same
	// length, so offsets stay those of the user's text and a placeholder
	// never merges with its neighbours into one token. Line breaks stay:
	// one inside the braces ends a -- comment in the rendered text too.
	blank := []byte(sql)
	for _, p := range ps {
		for i := p.Start; i < p.End; i++ {
			if blank[i] != '\n' && blank[i] != '\r' {
				blank[i] = ' '
			}
		}
	}
	scan, err := pg_query.Scan(string(blank))
	if err != nil {
		return nil, &RenderError{Offset: ps[0].Start, Err: fmt.Errorf("cannot place {{%s}}: %v", ps[0].Var, err)}
	}
	toks := scan.GetTokens()
	sites := make([]site, len(ps))
	t := 0
	for i, p := range ps {
		sites[i] = site{Placeholder: p}
		for t < len(toks) && int(toks[t].End) <= p.Start {
			t++
		}
		if t == len(toks) || int(toks[t].Start) > p.Start {
			continue // between tokens: code
		}
		tok := toks[t]
		sites[i].Context = tokenContext(sql[tok.Start:tok.End], tok.Token)
		sites[i].tokStart, sites[i].tokEnd = int(tok.Start), int(tok.End)
	}
	return sites, nil
}

func tokenContext(text string, tok pg_query.Token) Context {
	switch tok {
	case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
		return InComment
	case pg_query.Token_BCONST, pg_query.Token_XCONST:
		return InBitString
	case pg_query.Token_SCONST, pg_query.Token_USCONST:
		switch {
		case strings.HasPrefix(text, "$"):
			return InDollarString
		case text[0] == 'e' || text[0] == 'E' || tok == pg_query.Token_USCONST:
			return InEscapeString
		}
		return InString
	case pg_query.Token_UIDENT:
		return InEscapeString
	case pg_query.Token_IDENT:
		if strings.HasPrefix(text, `"`) {
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
// anything else as a quoted string literal; inside '...' or "..." the text is
// inserted with the quote character doubled; inside a comment the
// placeholder stays. No value can change the statement's structure: where it
// could, Render fails instead (escape, bit and dollar-quoted literals, an
// empty quoted identifier, a value with a NUL byte or invalid UTF-8).
func Render(sql string, values map[string]any) (string, error) {
	out, _, err := renderSpans(sql, values)
	return out, err
}

// span is where a placeholder's value went in the rendered text: bytes
// [outStart, outEnd) of it stand for bytes [srcStart, srcEnd) of the SQL.
type span struct{ outStart, outEnd, srcStart, srcEnd int }

// SourceOffset maps a byte offset into Render(sql, values) back to one
// into sql as the user wrote it: an offset inside a substituted value is
// its placeholder's start, one after it moves by what the values added or
// removed. An offset sql does not render is returned as it is.
func SourceOffset(sql string, values map[string]any, off int) int {
	_, spans, err := renderSpans(sql, values)
	if err != nil {
		return off
	}
	delta := 0
	for _, sp := range spans {
		if off < sp.outStart {
			break
		}
		if off < sp.outEnd {
			return sp.srcStart
		}
		delta = sp.srcEnd - sp.outEnd
	}
	return off + delta
}

func renderSpans(sql string, values map[string]any) (string, []span, error) {
	sites, err := locate(sql)
	if err != nil || len(sites) == 0 {
		return sql, nil, err
	}
	var b strings.Builder
	var spans []span
	last := 0
	for i, p := range sites {
		v, err := p.lookup(values)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(sql[last:p.Start])
		last = p.End
		if p.Context == InComment {
			b.WriteString(sql[p.Start:p.End])
			continue
		}
		outStart := b.Len()
		if err := renderSite(&b, sites, i, p, v, values); err != nil {
			return "", nil, err
		}
		spans = append(spans, span{outStart, b.Len(), p.Start, p.End})
	}
	b.WriteString(sql[last:])
	return b.String(), spans, nil
}

// renderSite writes the value v of the placeholder p (sites[i]) to b.
func renderSite(b *strings.Builder, sites []site, i int, p site, v any, values map[string]any) error {
	text, err := p.text(v)
	if err != nil {
		return err
	}
	fail := p.fail
	switch p.Context {
	case InCode:
		if n, ok := numberText(v, text); ok {
			b.WriteString(n)
			break
		}
		// After a letter the quote would start E'...', B'...' or
		// U&'...', which read the value differently.
		if out := b.String(); out != "" && (isWordByte(out[len(out)-1]) || out[len(out)-1] == '&') {
			b.WriteByte(' ')
		}
		b.WriteString(QuoteString(text))
	case InString:
		b.WriteString(strings.ReplaceAll(text, "'", "''"))
	case InQuotedIdent:
		if text == "" && emptyIdent(sites, i, values) {
			return fail("would leave a quoted identifier empty")
		}
		b.WriteString(strings.ReplaceAll(text, `"`, `""`))
	case InEscapeString:
		return fail("inside an escape string (E'...', U&'...', U&\"...\") cannot be rendered safely; use a '...' literal")
	case InBitString:
		return fail("inside a bit string (B'...', X'...') cannot be rendered safely; use a '...' literal")
	case InDollarString:
		return fail("inside a dollar-quoted string cannot be rendered safely; use a '...' literal")
	}
	return nil
}

// lookup is the placeholder's value; an unknown variable is an error even
// inside a comment.
func (p Placeholder) lookup(values map[string]any) (any, error) {
	v, ok := values[p.Var]
	if !ok {
		return nil, &RenderError{Offset: p.Start, Err: fmt.Errorf("%w {{%s}}", ErrUnknownVariable, p.Var)}
	}
	return v, nil
}

// text is the text of the placeholder's value v, refused where no dialect
// can render it: a json.Number that is not a number, text that is not
// valid UTF-8 or holds a NUL byte.
func (p Placeholder) text(v any) (string, error) {
	text := valueText(v)
	if n, ok := v.(json.Number); ok && !isNumber(string(n)) {
		return "", p.fail("has the value %q, which is not a number", text)
	}
	if !utf8.ValidString(text) {
		return "", p.fail("has a value that is not valid UTF-8")
	}
	if strings.IndexByte(text, 0) >= 0 {
		return "", p.fail("has a value with a NUL byte")
	}
	return text, nil
}

// fail is a render error at the placeholder, its message after "{{var}} ".
func (p Placeholder) fail(format string, args ...any) error {
	return &RenderError{Offset: p.Start, Err: fmt.Errorf("{{%s}} "+format, append([]any{p.Var}, args...)...)}
}

// numberText is how a number is written outside literals: as it is, a
// negative one in parentheses (so "x -{{n}}" cannot become a comment).
// ok is false for a value that is not a number.
func numberText(v any, text string) (_ string, ok bool) {
	if _, ok := v.(json.Number); !ok {
		return "", false
	}
	if strings.HasPrefix(text, "-") {
		return "(" + text + ")", true
	}
	return text, true
}

// isNumber reports whether n is a JSON number.
func isNumber(n string) bool {
	return n != "" && (n[0] == '-' || isDigit(n[0])) && isDigit(n[len(n)-1]) && json.Valid([]byte(n))
}

// emptyIdent reports whether the quoted identifier holding sites[i] has
// nothing in it but placeholders whose values are empty.
func emptyIdent(sites []site, i int, values map[string]any) bool {
	p := sites[i]
	pos, end := p.tokStart+1, p.tokEnd-1 // inside "..."
	for _, s := range sites {
		if s.tokStart != p.tokStart {
			continue
		}
		if s.Start > pos || valueText(values[s.Var]) != "" {
			return false
		}
		pos = s.End
	}
	return pos >= end
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
