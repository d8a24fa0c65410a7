package sqlparse

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// token is one lexical token of a cell's SQL. DuckDB's lexer derives from
// the Postgres one, and the two agree on what matters here: where literals,
// quoted identifiers, comments and statements begin and end.
type token struct {
	start, end int
	kind       pg_query.Token
	// word is the lowercased text of an unquoted identifier or keyword; it
	// is empty for everything else.
	word string
}

func (t token) isComment() bool {
	return t.kind == pg_query.Token_SQL_COMMENT || t.kind == pg_query.Token_C_COMMENT
}

// lex returns the tokens of text, comments excluded.
func lex(text string) ([]token, error) {
	scan, err := pg_query.Scan(text)
	if err != nil {
		return nil, err
	}
	toks := make([]token, 0, len(scan.GetTokens()))
	for _, st := range scan.GetTokens() {
		t := token{start: int(st.Start), end: int(st.End), kind: st.Token}
		if t.isComment() {
			continue
		}
		if st.KeywordKind != pg_query.KeywordKind_NO_KEYWORD || (st.Token == pg_query.Token_IDENT && text[t.start] != '"') {
			t.word = strings.ToLower(text[t.start:t.end])
		}
		toks = append(toks, t)
	}
	return toks, nil
}

// Span is a byte range [Start, End) of a cell's SQL.
type Span struct{ Start, End int }

// Statements splits text into its statements at top-level semicolons, as
// DuckDB does. Each span runs from just after the previous semicolon to just
// before the next, so it keeps the statement's leading comments; empty
// statements are left out. Text that does not lex is one statement.
func Statements(text string) []Span {
	toks, err := lex(text)
	if err != nil {
		return []Span{{0, len(text)}}
	}
	return statementSpans(text, toks)
}

func statementSpans(text string, toks []token) []Span {
	var spans []Span
	start, hasToken := 0, false
	for _, t := range toks {
		if t.kind == pg_query.Token_ASCII_59 {
			if hasToken {
				spans = append(spans, Span{start, t.start})
			}
			start, hasToken = t.end, false
			continue
		}
		hasToken = true
	}
	if hasToken {
		spans = append(spans, Span{start, len(text)})
	}
	return spans
}

// blankOutside returns text with every byte outside span replaced by a
// space, line breaks kept, so that a parser sees only the span but reports
// byte offsets and lines of the whole text.
func blankOutside(text string, span Span) string {
	b := []byte(text)
	for i := range b {
		if (i < span.Start || i >= span.End) && b[i] != '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// tokensIn returns the tokens within span.
func tokensIn(toks []token, span Span) []token {
	i := 0
	for i < len(toks) && toks[i].start < span.Start {
		i++
	}
	j := i
	for j < len(toks) && toks[j].end <= span.End {
		j++
	}
	return toks[i:j]
}

// unquoteIdent returns an identifier token's name: "a""b" is a"b, an
// unquoted name is kept as written (DuckDB keeps case and matches without).
func unquoteIdent(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

// Fingerprint returns a hash of text's tokens, comments and layout left out
// and reserved keywords lowercased: two texts that differ only in
// formatting, comments or keyword case have the same fingerprint.
// Identifiers and literals keep their case (a column alias's case shows in
// the result). Text that does not lex is hashed as it is.
func Fingerprint(text string) string {
	h := sha256.New()
	scan, err := pg_query.Scan(text)
	if err != nil {
		h.Write([]byte(text))
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, t := range scan.GetTokens() {
		if t.Token == pg_query.Token_SQL_COMMENT || t.Token == pg_query.Token_C_COMMENT {
			continue
		}
		tok := text[t.Start:t.End]
		if t.KeywordKind == pg_query.KeywordKind_RESERVED_KEYWORD {
			tok = strings.ToLower(tok)
		}
		h.Write([]byte(tok))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
