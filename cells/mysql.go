package cells

import (
	"fmt"
	"strings"
)

// MySQLMode is what of a MySQL or MariaDB session's sql_mode changes how
// SQL text lexes: whether a backslash escapes inside string literals, and
// whether "..." is a string or an identifier.
type MySQLMode struct {
	// NoBackslashEscapes (NO_BACKSLASH_ESCAPES): '\' is an ordinary
	// character inside string literals.
	NoBackslashEscapes bool
	// ANSIQuotes (ANSI_QUOTES, also part of ANSI): "..." quotes an
	// identifier, not a string.
	ANSIQuotes bool
}

// ParseMySQLMode reads a session's @@sql_mode (a comma-separated list).
func ParseMySQLMode(sqlMode string) MySQLMode {
	var m MySQLMode
	for _, f := range strings.Split(strings.ToUpper(sqlMode), ",") {
		switch strings.TrimSpace(f) {
		case "NO_BACKSLASH_ESCAPES":
			m.NoBackslashEscapes = true
		case "ANSI_QUOTES", "ANSI":
			m.ANSIQuotes = true
		}
	}
	return m
}

// mysqlToken is a stretch of MySQL text that is not code: a literal, a
// quoted identifier or a comment.
type mysqlToken struct {
	start, end int // byte offsets, end just after the closing quote
	context    Context
	quote      byte // the quote character of a literal or identifier
}

// scanMySQL finds the literals, quoted identifiers and comments of sql as
// MySQL's lexer reads them in mode m, and the semicolons that end
// statements. vitess's tokenizer (the grammar sqlparse uses) always treats
// a backslash as an escape, so it cannot say where a literal ends under
// NO_BACKSLASH_ESCAPES; this scanner knows only where such stretches begin
// and end, never the grammar. The versioned comments /*!...*/ and
// /*M!...*/ are code to MySQL and MariaDB, and scanned as code.
func scanMySQL(sql string, m MySQLMode) (toks []mysqlToken, semis []int, err error) {
	versioned := false
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' && !m.ANSIQuotes:
			t := mysqlToken{start: i, context: InString, quote: c}
			if c == '\'' && i > 0 && strings.IndexByte("xXbB", sql[i-1]) >= 0 && (i == 1 || !isWordByte(sql[i-2])) {
				t.context = InBitString // X'0A', B'01': no escapes at all
			}
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '\\' && !m.NoBackslashEscapes && t.context == InString {
					j++
					continue
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c && t.context == InString {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return nil, nil, &RenderError{Offset: i, Err: fmt.Errorf("unterminated quoted string at byte %d", i)}
			}
			t.end = j + 1
			toks = append(toks, t)
			i = t.end
		case c == '`' || c == '"':
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return nil, nil, &RenderError{Offset: i, Err: fmt.Errorf("unterminated quoted identifier at byte %d", i)}
			}
			toks = append(toks, mysqlToken{start: i, end: j + 1, context: InQuotedIdent, quote: c})
			i = j + 1
		case c == '#' || c == '-' && strings.HasPrefix(sql[i:], "--") && (i+2 == len(sql) || sql[i+2] <= ' '):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			toks = append(toks, mysqlToken{start: i, end: i + j, context: InComment})
			i += j
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if strings.HasPrefix(sql[i:], "/*!") || strings.HasPrefix(sql[i:], "/*M!") {
				versioned = true
				i += strings.IndexByte(sql[i:], '!') + 1
				continue
			}
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, nil, &RenderError{Offset: i, Err: fmt.Errorf("unterminated comment at byte %d", i)}
			}
			toks = append(toks, mysqlToken{start: i, end: i + 2 + j + 2, context: InComment})
			i += 2 + j + 2
		case c == '*' && versioned && strings.HasPrefix(sql[i:], "*/"):
			versioned = false
			i += 2
		case c == ';':
			semis = append(semis, i)
			i++
		default:
			i++
		}
	}
	return toks, semis, nil
}

// MySQLStatements splits sql into its statements at the semicolons MySQL
// sees in mode m: [start, end) byte ranges, blank ones left out.
func MySQLStatements(sql string, m MySQLMode) ([][2]int, error) {
	toks, semis, err := scanMySQL(sql, m)
	if err != nil {
		return nil, err
	}
	var out [][2]int
	start := 0
	for _, end := range append(semis, len(sql)) {
		if !blankMySQL(sql[start:end], toks, start) {
			out = append(out, [2]int{start, end})
		}
		start = end + 1
	}
	return out, nil
}

// blankMySQL reports whether s (at offset off of the text toks were
// scanned from) holds nothing but space and comments.
func blankMySQL(s string, toks []mysqlToken, off int) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' {
			continue
		}
		inComment := false
		for _, t := range toks {
			if t.context == InComment && t.start <= off+i && off+i < t.end {
				inComment = true
				i = t.end - off - 1
				break
			}
		}
		if !inComment {
			return false
		}
	}
	return true
}

// RenderMySQL is Render for a MySQL or MariaDB cell, in the lexing of the
// session's sql_mode m: outside literals a number is inserted as a number
// (negative ones in parentheses) and anything else as a quoted string
// literal; inside '...' (or "..." without ANSI_QUOTES) the text is inserted
// with the quote doubled and, unless NO_BACKSLASH_ESCAPES is on, every
// backslash doubled, so that a backslash in a value can never escape the
// closing quote; inside `...` (or "..." with ANSI_QUOTES) with the quote
// doubled; inside a comment the placeholder stays. Inside X'...' and
// B'...' rendering is refused, as it is for a NUL byte or invalid UTF-8.
func RenderMySQL(sql string, values map[string]any, m MySQLMode) (string, error) {
	ps := scanPlaceholders(sql)
	if len(ps) == 0 {
		return sql, nil
	}
	toks, _, err := scanMySQL(sql, m)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	for _, p := range ps {
		var tok mysqlToken // the zero token is code
		for _, t := range toks {
			if t.start <= p.Start && p.Start < t.end {
				tok = t
				break
			}
		}
		v, err := p.lookup(values)
		if err != nil {
			return "", err
		}
		b.WriteString(sql[last:p.Start])
		last = p.End
		if tok.context == InComment {
			b.WriteString(sql[p.Start:p.End])
			continue
		}
		text, err := p.text(v)
		if err != nil {
			return "", err
		}
		fail := p.fail
		switch tok.context {
		case InCode:
			if n, ok := numberText(v, text); ok {
				b.WriteString(n)
				break
			}
			// After a word the quote would start N'...', X'...' or
			// _utf8mb4'...'; after @ a user variable's name.
			if out := b.String(); out != "" && (isWordByte(out[len(out)-1]) || out[len(out)-1] == '@') {
				b.WriteByte(' ')
			}
			b.WriteString("'" + escapeMySQL(text, '\'', m) + "'")
		case InString:
			b.WriteString(escapeMySQL(text, tok.quote, m))
		case InQuotedIdent:
			if text == "" && strings.TrimSpace(sql[tok.start+1:tok.end-1]) == sql[p.Start:p.End] {
				return "", fail("would leave a quoted identifier empty")
			}
			b.WriteString(strings.ReplaceAll(text, string(tok.quote), string(tok.quote)+string(tok.quote)))
		case InBitString:
			return "", fail("inside a hex or bit literal (X'...', B'...') cannot be rendered safely; use a '...' literal")
		}
	}
	b.WriteString(sql[last:])
	return b.String(), nil
}

// escapeMySQL makes text safe inside a MySQL string literal quoted with q.
func escapeMySQL(text string, q byte, m MySQLMode) string {
	if !m.NoBackslashEscapes {
		text = strings.ReplaceAll(text, `\`, `\\`)
	}
	return strings.ReplaceAll(text, string(q), string(q)+string(q))
}

// MySQLPlaceholders is Placeholders for MySQL text lexed in mode m.
func MySQLPlaceholders(sql string, m MySQLMode) ([]Placeholder, error) {
	ps := scanPlaceholders(sql)
	if len(ps) == 0 {
		return nil, nil
	}
	toks, _, err := scanMySQL(sql, m)
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		for _, t := range toks {
			if t.start <= p.Start && p.Start < t.end {
				ps[i].Context = t.context
				break
			}
		}
	}
	return ps, nil
}
