package cells_test

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/cellsd/cellsd/cells"
)

func TestVars(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"None", "SELECT 1", nil},
		{"Plain", "SELECT {{x}}", []string{"x"}},
		{"Spaces", "SELECT {{ x }}", []string{"x"}},
		{"Tabs", "SELECT {{\tx\t}}", []string{"x"}},
		{"Underscore", "SELECT {{_min_2}}", []string{"_min_2"}},
		{"OrderOfFirstUse", "SELECT {{b}}, {{a}}, {{ b }}, {{c}}, {{a}}", []string{"b", "a", "c"}},
		{"InStringLiteral", "SELECT * FROM t WHERE city LIKE '%{{city}}%'", []string{"city"}},
		{"InComment", "SELECT 1 -- {{x}}\n/* {{y}} */", []string{"x", "y"}},
		{"EmptyBraces", "SELECT '{{ }}', '{{}}'", nil},
		{"TwoWords", "SELECT '{{a b}}'", nil},
		{"SingleBraces", "SELECT '{x}'", nil},
		{"LeadingDigit", "SELECT '{{1x}}'", nil},
		{"Dash", "SELECT '{{my-var}}'", nil},
		{"Unclosed", "SELECT '{{x'", nil},
		{"InvalidThenValid", "SELECT '{{a b}} {{c}}'", []string{"c"}},
		{"TripleBraces", "SELECT '{{{x}}}'", []string{"x"}},
		{"Adjacent", "SELECT '{{a}}{{b}}'", []string{"a", "b"}},
		{"CaseSensitive", "SELECT {{X}}, {{x}}", []string{"X", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cells.Vars(tt.sql); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Vars(%q) = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	type ph = cells.Placeholder
	tests := []struct {
		name string
		sql  string
		want []ph
	}{
		{"None", "SELECT 1", nil},
		{"Code", "SELECT {{x}} + 1", []ph{{Var: "x", Start: 7, End: 12, Context: cells.InCode}}},
		{"CodeWithSpaces", "SELECT {{ x }}", []ph{{Var: "x", Start: 7, End: 14, Context: cells.InCode}}},
		{"String", "SELECT 'a{{x}}b'", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InString}}},
		{"NationalString", "SELECT N'{{x}}'", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InString}}},
		{"ContinuedString", "SELECT 'a'\n'{{x}}'", []ph{{Var: "x", Start: 12, End: 17, Context: cells.InString}}},
		{"EscapeString", "SELECT E'{{x}}'", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InEscapeString}}},
		{"EscapeStringLower", "SELECT e'\\n{{x}}'", []ph{{Var: "x", Start: 11, End: 16, Context: cells.InEscapeString}}},
		{"UnicodeString", "SELECT U&'{{x}}'", []ph{{Var: "x", Start: 10, End: 15, Context: cells.InEscapeString}}},
		{"QuotedIdent", `SELECT "{{x}}"`, []ph{{Var: "x", Start: 8, End: 13, Context: cells.InQuotedIdent}}},
		{"UnicodeQuotedIdent", `SELECT U&"{{x}}"`, []ph{{Var: "x", Start: 10, End: 15, Context: cells.InEscapeString}}},
		{"BitString", "SELECT B'{{x}}'", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InBitString}}},
		{"HexString", "SELECT X'{{x}}'", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InBitString}}},
		{"LineComment", "SELECT 1 -- {{x}}\n", []ph{{Var: "x", Start: 12, End: 17, Context: cells.InComment}}},
		{"BlockComment", "SELECT /* {{x}} */ 1", []ph{{Var: "x", Start: 10, End: 15, Context: cells.InComment}}},
		{"NestedBlockComment", "SELECT /* /* */ {{x}} */ 1", []ph{{Var: "x", Start: 16, End: 21, Context: cells.InComment}}},
		{"DollarString", "SELECT $${{x}}$$", []ph{{Var: "x", Start: 9, End: 14, Context: cells.InDollarString}}},
		{"TaggedDollarString", "SELECT $q${{x}}$q$", []ph{{Var: "x", Start: 10, End: 15, Context: cells.InDollarString}}},
		{"AfterComment", "SELECT 1 -- c\n, {{x}}", []ph{{Var: "x", Start: 16, End: 21, Context: cells.InCode}}},
		{"Mixed", "SELECT {{a}}, '{{b}}', \"{{c}}\" -- {{d}}", []ph{
			{Var: "a", Start: 7, End: 12, Context: cells.InCode},
			{Var: "b", Start: 15, End: 20, Context: cells.InString},
			{Var: "c", Start: 24, End: 29, Context: cells.InQuotedIdent},
			{Var: "d", Start: 34, End: 39, Context: cells.InComment},
		}},
		{"MultiByteBefore", "SELECT 'ä', '{{x}}'", []ph{{Var: "x", Start: 14, End: 19, Context: cells.InString}}},
		// The newline inside the braces ends the comment: the literal after
		// it is a string, not part of the comment.
		{"NewlineInBracesEndsComment", "SELECT 1 -- {{\nx}} '{{v}}'", []ph{
			{Var: "x", Start: 12, End: 18, Context: cells.InComment},
			{Var: "v", Start: 20, End: 25, Context: cells.InString},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cells.Placeholders(tt.sql)
			if err != nil {
				t.Fatalf("Placeholders(%q): %v", tt.sql, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Placeholders(%q) =\n%+v\nwant\n%+v", tt.sql, got, tt.want)
			}
			for _, p := range got {
				if s := tt.sql[p.Start:p.End]; !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") {
					t.Errorf("placeholder %s spans %q", p.Var, s)
				}
			}
		})
	}
}

func TestPlaceholders_NotLexable(t *testing.T) {
	tests := []struct {
		name   string
		sql    string
		offset int
	}{
		{"UnterminatedString", "SELECT 'a {{x}}", 10},
		{"UnterminatedQuotedIdent", `SELECT {{x}}, "a`, 7},
		{"UnterminatedComment", "SELECT {{x}} /* a", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cells.Placeholders(tt.sql)
			var re *cells.RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Placeholders(%q) error = %v, want a *cells.RenderError", tt.sql, err)
			}
			if re.Offset != tt.offset {
				t.Errorf("Offset = %d, want %d", re.Offset, tt.offset)
			}
			if _, err := cells.Render(tt.sql, map[string]any{"x": "v"}); err == nil {
				t.Errorf("Render(%q) succeeded on text that does not lex", tt.sql)
			}
		})
	}
}

// parsed is what the Postgres parser makes of a rendered statement.
type parsed struct {
	stmts  int
	consts []string // every string constant, in order
	names  []string // every identifier (column, table, alias), in order
}

func parseSQL(sql string) (parsed, error) {
	out, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return parsed{}, err
	}
	var tree struct {
		Stmts []any `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return parsed{}, err
	}
	p := parsed{stmts: len(tree.Stmts)}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if c, ok := v["A_Const"].(map[string]any); ok {
				if s, ok := c["sval"].(map[string]any); ok {
					p.consts = append(p.consts, s["sval"].(string))
				}
			}
			if s, ok := v["String"].(map[string]any); ok {
				p.names = append(p.names, s["sval"].(string))
			}
			for _, k := range []string{"relname", "name"} {
				if s, ok := v[k].(string); ok {
					p.names = append(p.names, s)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		}
	}
	walk(tree.Stmts)
	return p, nil
}

const attack = "x'; DROP TABLE t; --"

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		sql    string
		values map[string]any
		want   string
		// consts, when set, are the string constants the rendered SQL must
		// parse to (as one statement); names likewise for identifiers.
		consts []string
		names  []string
	}{
		{name: "NoPlaceholders", sql: "SELECT 'a' -- {x}", want: "SELECT 'a' -- {x}"},
		{name: "NoPlaceholdersNotLexable", sql: "SELECT 'a", want: "SELECT 'a"},
		{name: "NumberInCode", sql: "SELECT * FROM t LIMIT {{n}}", values: map[string]any{"n": json.Number("10")}, want: "SELECT * FROM t LIMIT 10"},
		{name: "FractionInCode", sql: "SELECT * FROM t WHERE x > {{n}}", values: map[string]any{"n": json.Number("2.5e-3")}, want: "SELECT * FROM t WHERE x > 2.5e-3"},
		{name: "NegativeNumberInCode", sql: "SELECT 1 -{{n}}", values: map[string]any{"n": json.Number("-5")}, want: "SELECT 1 -(-5)"},
		{name: "NegativeNumberAfterSpace", sql: "SELECT {{n}}", values: map[string]any{"n": json.Number("-0.5")}, want: "SELECT (-0.5)"},
		{name: "StringInCode", sql: "SELECT * FROM t WHERE city = {{city}}", values: map[string]any{"city": "Berlin"}, want: "SELECT * FROM t WHERE city = 'Berlin'", consts: []string{"Berlin"}},
		{name: "DigitsStringInCode", sql: "SELECT {{n}}", values: map[string]any{"n": "42"}, want: "SELECT '42'", consts: []string{"42"}},
		{name: "SpacesInBraces", sql: "SELECT {{ city }}", values: map[string]any{"city": "Rome"}, want: "SELECT 'Rome'", consts: []string{"Rome"}},
		{name: "SameVarTwice", sql: "SELECT {{x}}, '{{x}}!'", values: map[string]any{"x": "a'b"}, want: "SELECT 'a''b', 'a''b!'", consts: []string{"a'b", "a'b!"}},
		{
			name: "InjectionInCode", sql: "SELECT * FROM t WHERE name = {{v}}", values: map[string]any{"v": attack},
			want: "SELECT * FROM t WHERE name = 'x''; DROP TABLE t; --'", consts: []string{attack},
		},
		{
			name: "InjectionInString", sql: "SELECT * FROM t WHERE city LIKE '%{{city}}%'", values: map[string]any{"city": attack},
			want: "SELECT * FROM t WHERE city LIKE '%x''; DROP TABLE t; --%'", consts: []string{"%" + attack + "%"},
		},
		{
			name: "BackslashInString", sql: `SELECT '{{v}}'`, values: map[string]any{"v": `a\'b`},
			want: `SELECT 'a\''b'`, consts: []string{`a\'b`},
		},
		{
			name: "InjectionInQuotedIdent", sql: `SELECT * FROM "{{tbl}}"`, values: map[string]any{"tbl": `t"; DROP TABLE t; --`},
			want: `SELECT * FROM "t""; DROP TABLE t; --"`, names: []string{`t"; DROP TABLE t; --`},
		},
		{
			name: "QuotedIdentPart", sql: `SELECT * FROM "sales_{{year}}"`, values: map[string]any{"year": json.Number("2024")},
			want: `SELECT * FROM "sales_2024"`, names: []string{"sales_2024"},
		},
		{name: "EmptyValueInQuotedIdentPart", sql: `SELECT * FROM "t{{v}}"`, values: map[string]any{"v": ""}, want: `SELECT * FROM "t"`, names: []string{"t"}},
		{name: "EmptyValuesNextToText", sql: `SELECT * FROM "{{v}}{{w}}"`, values: map[string]any{"v": "", "w": "x"}, want: `SELECT * FROM "x"`, names: []string{"x"}},
		// A value after a letter must not turn into a prefix: E'...' would
		// read a backslash as an escape.
		{
			name: "InjectionAfterEPrefix", sql: "SELECT E{{v}}", values: map[string]any{"v": `\'; DROP TABLE t; --`},
			want: `SELECT E '\''; DROP TABLE t; --'`, consts: []string{`\'; DROP TABLE t; --`},
		},
		{
			name: "AfterUnicodePrefix", sql: "SELECT 1 & U&{{v}}", values: map[string]any{"v": `\0041`},
			want: `SELECT 1 & U& '\0041'`, consts: []string{`\0041`},
		},
		{
			name: "LineComment", sql: "SELECT 1 -- {{v}}\n, 2", values: map[string]any{"v": "x\n; DROP TABLE t; --"},
			want: "SELECT 1 -- {{v}}\n, 2",
		},
		{
			name: "BlockComment", sql: "SELECT /* {{ v }} */ 1", values: map[string]any{"v": "*/ 1; DROP TABLE t; /*"},
			want: "SELECT /* {{ v }} */ 1",
		},
		{name: "InvalidUTF8InComment", sql: "SELECT 1 -- {{v}}", values: map[string]any{"v": "\xff"}, want: "SELECT 1 -- {{v}}"},
		{name: "NilInCode", sql: "SELECT {{v}}", values: map[string]any{"v": nil}, want: "SELECT ''", consts: []string{""}},
		{name: "NilInString", sql: "SELECT 'a{{v}}b'", values: map[string]any{"v": nil}, want: "SELECT 'ab'", consts: []string{"ab"}},
		{name: "TrueInCode", sql: "SELECT {{v}}", values: map[string]any{"v": true}, want: "SELECT 'true'", consts: []string{"true"}},
		{name: "FalseInString", sql: "SELECT 'is {{v}}'", values: map[string]any{"v": false}, want: "SELECT 'is false'", consts: []string{"is false"}},
		{name: "NumberInString", sql: "SELECT 'n={{v}}'", values: map[string]any{"v": json.Number("-3")}, want: "SELECT 'n=-3'", consts: []string{"n=-3"}},
		{name: "MultiByteValue", sql: "SELECT {{v}}, '{{v}}'", values: map[string]any{"v": "Umsätze 📈"}, want: "SELECT 'Umsätze 📈', 'Umsätze 📈'", consts: []string{"Umsätze 📈", "Umsätze 📈"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cells.Render(tt.sql, tt.values)
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.sql, err)
			}
			if got != tt.want {
				t.Fatalf("Render(%q) =\n%s\nwant\n%s", tt.sql, got, tt.want)
			}
			if tt.consts == nil && tt.names == nil {
				return
			}
			p, err := parseSQL(got)
			if err != nil {
				t.Fatalf("rendered SQL %q does not parse: %v", got, err)
			}
			if p.stmts != 1 {
				t.Errorf("rendered SQL %q has %d statements, want 1", got, p.stmts)
			}
			if tt.consts != nil && !reflect.DeepEqual(p.consts, tt.consts) {
				t.Errorf("string constants of %q = %q, want %q", got, p.consts, tt.consts)
			}
			for _, n := range tt.names {
				if !slices.Contains(p.names, n) {
					t.Errorf("identifiers of %q = %q, want one named %q", got, p.names, n)
				}
			}
		})
	}
}

func TestRender_Errors(t *testing.T) {
	tests := []struct {
		name   string
		sql    string
		values map[string]any
		offset int
		is     error    // errors.Is target, if any
		want   []string // parts of the message
	}{
		{name: "UnknownVariable", sql: "SELECT {{a}}, {{ b }}", values: map[string]any{"a": "1"}, offset: 14, is: cells.ErrUnknownVariable, want: []string{"b"}},
		{name: "UnknownVariableInString", sql: "SELECT 'x{{city}}'", values: nil, offset: 9, is: cells.ErrUnknownVariable, want: []string{"city"}},
		// {{var}} anywhere, comments included, names an input cell (DESIGN.md rule 4).
		{name: "UnknownVariableInComment", sql: "SELECT 1 -- {{nope}}", values: map[string]any{}, offset: 12, is: cells.ErrUnknownVariable, want: []string{"nope"}},
		{name: "DollarString", sql: "SELECT $${{v}}$$", values: map[string]any{"v": "x"}, offset: 9, want: []string{"v", "dollar"}},
		{name: "TaggedDollarString", sql: "SELECT 1, $f$ a {{v}} $f$", values: map[string]any{"v": "x"}, offset: 16, want: []string{"v"}},
		{name: "NotLexable", sql: "SELECT 'a{{v}}", values: map[string]any{"v": "x"}, offset: 9, want: []string{"v"}},
		// Escape and bit strings read a value's backslashes and quotes
		// together with the text around it: rendering there is refused.
		{name: "EscapeString", sql: `SELECT E'\t{{v}}'`, values: map[string]any{"v": `a\'; DROP TABLE t; --`}, offset: 11, want: []string{"v", "escape string"}},
		{name: "EscapeStringAfterBackslash", sql: `SELECT E'\{{v}}'`, values: map[string]any{"v": attack}, offset: 10, want: []string{"v", "escape string"}},
		{name: "UnicodeString", sql: `SELECT U&'{{v}}'`, values: map[string]any{"v": "x"}, offset: 10, want: []string{"v", "escape string"}},
		{name: "UnicodeStringCustomEscape", sql: `SELECT U&'{{v}}' UESCAPE '!'`, values: map[string]any{"v": "x"}, offset: 10, want: []string{"v", "escape string"}},
		{name: "UnicodeQuotedIdent", sql: `SELECT 1 AS U&"{{v}}"`, values: map[string]any{"v": "x"}, offset: 15, want: []string{"v", "escape string"}},
		{name: "BitString", sql: "SELECT B'{{v}}'", values: map[string]any{"v": "0101"}, offset: 9, want: []string{"v", "bit string"}},
		{name: "HexString", sql: "SELECT X'{{v}}'", values: map[string]any{"v": "1'"}, offset: 9, want: []string{"v", "bit string"}},
		{name: "EmptyQuotedIdent", sql: `SELECT * FROM "{{v}}"`, values: map[string]any{"v": ""}, offset: 15, want: []string{"v", "empty"}},
		{name: "EmptyQuotedIdentTwoValues", sql: `SELECT * FROM "{{v}}{{w}}"`, values: map[string]any{"v": "", "w": nil}, offset: 15, want: []string{"empty"}},
		{name: "NULInCode", sql: "SELECT {{v}}", values: map[string]any{"v": "a\x00b"}, offset: 7, want: []string{"v", "NUL"}},
		{name: "NULInString", sql: "SELECT 'x{{v}}'", values: map[string]any{"v": "\x00"}, offset: 9, want: []string{"v", "NUL"}},
		{name: "InvalidUTF8", sql: "SELECT '{{v}}'", values: map[string]any{"v": "a\xffb"}, offset: 8, want: []string{"v", "UTF-8"}},
		{name: "MalformedNumber", sql: "SELECT * FROM t LIMIT {{n}}", values: map[string]any{"n": json.Number("1; DROP TABLE t")}, offset: 22, want: []string{"n", "number"}},
		{name: "EmptyNumber", sql: "SELECT 1 + {{n}}", values: map[string]any{"n": json.Number("")}, offset: 11, want: []string{"n", "number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cells.Render(tt.sql, tt.values)
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tt.sql, got)
			}
			if got != "" && got != tt.sql {
				t.Errorf("Render(%q) returned %q with its error", tt.sql, got)
			}
			var re *cells.RenderError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *cells.RenderError", err, err)
			}
			if re.Offset != tt.offset {
				t.Errorf("Offset = %d, want %d (error %q)", re.Offset, tt.offset, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if tt.is == nil && errors.Is(err, cells.ErrUnknownVariable) {
				t.Errorf("error %q wraps ErrUnknownVariable", err)
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not mention %s", err, part)
				}
			}
		})
	}
}

func TestQuoteString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Empty", "", "''"},
		{"Plain", "abc", "'abc'"},
		{"Quote", "it's", "'it''s'"},
		{"OnlyQuotes", "''", "''''''"},
		{"Backslash", `a\b`, `'a\b'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cells.QuoteString(tt.in); got != tt.want {
				t.Errorf("QuoteString(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzRender checks that no value changes the shape of a statement: for SQL
// that parses (as written, or with every placeholder given a plain value),
// rendering with every variable bound to v either fails or gives SQL that
// still parses, with as many statements.
func FuzzRender(f *testing.F) {
	templates := []string{
		"SELECT * FROM t WHERE a LIKE '%{{x}}%' AND b = {{x}}",
		"SELECT '{{x}}', \"{{ x }}\" FROM t -- {{x}}",
		"SELECT E'\\t{{x}}', E'\\{{x}}', E'\\x{{x}}'",
		"SELECT E{{x}}, U&{{x}}, B{{x}}",
		"SELECT U&'{{x}}', U&'{{x}}' UESCAPE '!', 1 AS U&\"{{x}}\"",
		"SELECT B'{{x}}', X'{{x}}', N'{{x}}'",
		"SELECT /* {{x}} */ 1; SELECT 'a'\n'{{y}}'",
		"SELECT $${{x}}$$",
		"SELECT * FROM \"{{x}}\"",
	}
	values := []string{"", "x'; DROP TABLE t; --", "\\'; SELECT 1; --", "\"; SELECT 1; --", "*/ SELECT 1; /*", "!", "41\x00", "\xff"}
	for i, s := range templates {
		f.Add(s, values[i%len(values)])
		f.Add(s, values[(i+3)%len(values)])
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		want, ok := statements(s)
		if !ok {
			plain := map[string]any{}
			for _, name := range cells.Vars(s) {
				plain[name] = "v"
			}
			r, err := cells.Render(s, plain)
			if err != nil {
				t.Skip()
			}
			if want, ok = statements(r); !ok {
				t.Skip()
			}
		}
		values := map[string]any{}
		for _, name := range cells.Vars(s) {
			values[name] = v
		}
		out, err := cells.Render(s, values)
		if err != nil {
			return
		}
		got, ok := statements(out)
		if !ok {
			_, perr := pg_query.Parse(out)
			t.Fatalf("Render(%q) with %q = %q, which does not parse: %v", s, v, out, perr)
		}
		if got != want {
			t.Fatalf("Render(%q) with %q = %q: %d statements, want %d", s, v, out, got, want)
		}
	})
}

// statements returns how many statements sql holds, and false when it does
// not parse.
func statements(sql string) (int, bool) {
	r, err := pg_query.Parse(sql)
	if err != nil {
		return 0, false
	}
	return len(r.Stmts), true
}

// TestSourceOffset maps offsets of the rendered SQL back to the SQL as
// written: before a placeholder unchanged, inside a value to the
// placeholder's start, after it shifted by the value's length.
func TestSourceOffset(t *testing.T) {
	sql := "SELECT {{n}}, 'a{{s}}b', round(1, 2, 3)"
	values := map[string]any{"n": json.Number("12345"), "s": "x'y"}
	out, err := cells.Render(sql, values)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ rendered, want string }{
		{"SELECT", "SELECT"},
		{"12345", "{{n}}"},
		{"345", "{{n}}"},
		{"x''y", "{{s}}"},
		{"b'", "b'"},
		{"round", "round"},
	} {
		off := strings.Index(out, tt.rendered)
		if got, want := cells.SourceOffset(sql, values, off), strings.Index(sql, tt.want); got != want {
			t.Errorf("%q at %d of %q: source offset %d, want %d", tt.rendered, off, out, got, want)
		}
	}
}
