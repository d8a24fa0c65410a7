package sqlparse

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cellsd/cellsd/cells"
)

// Querier is what the DuckDB dialect needs of a database: *sql.DB and
// *sql.Conn both qualify.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// DuckDB analyses SQL in the DuckDB dialect with DuckDB's parser.
type DuckDB struct {
	q Querier
}

// NewDuckDB returns an analyser that parses through q, a DuckDB connection.
func NewDuckDB(q Querier) *DuckDB { return &DuckDB{q: q} }

// serialized is json_serialize_sql's answer.
type serialized struct {
	Error        bool              `json:"error"`
	ErrorType    string            `json:"error_type"`
	ErrorMessage string            `json:"error_message"`
	Position     json.Number       `json:"position"`
	Statements   []json.RawMessage `json:"statements"`
}

// Analyze parses text (a cell's SQL as the user wrote it, {{var}}
// placeholders included) and returns its references. A parse error is
// reported in Analysis.Err; the error result is for a failing database or
// context.
func (d *DuckDB) Analyze(ctx context.Context, text string) (*Analysis, error) {
	a := &Analysis{Vars: cells.Vars(text)}
	parsed := parseText(text)
	var out string
	err := d.q.QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)`, parsed).Scan(&out)
	if err != nil {
		return nil, fmt.Errorf("json_serialize_sql: %w", err)
	}
	var s serialized
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return nil, fmt.Errorf("decode json_serialize_sql output: %w", err)
	}
	if s.Error {
		a.Err = duckdbError(text, &s)
		return a, nil
	}
	a.Statements = len(s.Statements)
	if a.Statements == 0 {
		a.Err = newError(text, "the cell has no SQL statement", -1)
		return a, nil
	}
	w := duckWalker{text: parsed}
	for _, st := range s.Statements {
		dec := json.NewDecoder(bytes.NewReader(st))
		dec.UseNumber()
		var tree any
		if err := dec.Decode(&tree); err != nil {
			return nil, fmt.Errorf("decode statement: %w", err)
		}
		w.walk(tree, nil)
	}
	a.Refs = w.refs
	sortRefs(a.Refs)
	return a, nil
}

func duckdbError(text string, s *serialized) *Error {
	if s.ErrorType == "not implemented" {
		return newError(text, "only query statements (SELECT, FROM, WITH, VALUES, DESCRIBE, SUMMARIZE) can be analysed so far; DDL and PIVOT statements are not supported yet", -1)
	}
	offset := -1
	if p, err := strconv.Atoi(s.Position.String()); err == nil {
		offset = byteOffset(text, p) // DuckDB reports a character position
	}
	return newError(text, s.ErrorMessage, offset)
}

// parseText replaces every {{var}} with text of the same length that parses
// wherever a value may stand, so error positions stay those of the user's
// text: a string literal outside literals, blanks inside literals and quoted
// identifiers. Placeholders in comments are left alone.
func parseText(text string) string {
	ps, err := cells.Placeholders(text)
	if err != nil || len(ps) == 0 {
		// Nothing to replace, or text that does not lex: DuckDB's parser
		// reports where.
		return text
	}
	b := []byte(text)
	for _, p := range ps {
		switch p.Context {
		case cells.InComment:
			continue
		case cells.InCode:
			copy(b[p.Start:p.End], "'"+strings.Repeat("_", p.End-p.Start-2)+"'")
		default:
			copy(b[p.Start:p.End], strings.Repeat(" ", p.End-p.Start))
		}
	}
	return string(b)
}

// duckWalker collects base-table references from a json_serialize_sql tree,
// tracking which CTE names are in scope.
type duckWalker struct {
	text string // the text that was parsed
	refs []Ref
}

func (w *duckWalker) walk(v any, sc *scope) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			w.walk(e, sc)
		}
	case map[string]any:
		if ctes, ok := v["cte_map"].(map[string]any); ok {
			sc = w.ctes(ctes, sc)
		}
		if v["type"] == "BASE_TABLE" {
			w.baseTable(v, sc)
			return
		}
		for k, e := range v {
			if k != "cte_map" {
				w.walk(e, sc)
			}
		}
	}
}

// ctes walks the bodies of a WITH clause and returns the scope of the query
// it belongs to. A non-recursive body sees the outer scope and the CTEs
// defined before it; a recursive one also sees itself.
func (w *duckWalker) ctes(m map[string]any, sc *scope) *scope {
	entries, _ := m["map"].([]any)
	var defined []string
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		name, _ := entry["key"].(string)
		body := sc.with(defined...)
		if isRecursiveCTE(entry, name) {
			body = body.with(name)
		}
		w.walk(entry["value"], body)
		defined = append(defined, name)
	}
	return sc.with(defined...)
}

func isRecursiveCTE(entry map[string]any, name string) bool {
	value, _ := entry["value"].(map[string]any)
	query, _ := value["query"].(map[string]any)
	node, _ := query["node"].(map[string]any)
	return node["type"] == "RECURSIVE_CTE_NODE" && strings.EqualFold(fmt.Sprint(node["cte_name"]), name)
}

func (w *duckWalker) baseTable(v map[string]any, sc *scope) {
	r := Ref{Offset: -1}
	r.Catalog, _ = v["catalog_name"].(string)
	r.Schema, _ = v["schema_name"].(string)
	r.Name, _ = v["table_name"].(string)
	if loc, ok := v["query_location"].(json.Number); ok {
		if n, err := strconv.Atoi(loc.String()); err == nil {
			r.Offset = n
		}
	}
	if r.Catalog == "" && r.Schema == "" && sc.has(r.Name) {
		return // a CTE in scope
	}
	if r.Offset >= 0 && r.Offset < len(w.text) && w.text[r.Offset] == '\'' {
		return // FROM 'file.csv': a string literal DuckDB scans as a file
	}
	w.refs = append(w.refs, r)
}
