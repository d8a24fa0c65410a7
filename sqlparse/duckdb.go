package sqlparse

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/cellsd/cellsd/cells"
)

// Querier is what the DuckDB dialect needs of a database: *sql.DB and
// *sql.Conn both qualify.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// DuckDB analyses SQL in the DuckDB dialect with DuckDB's parser.
type DuckDB struct {
	q Querier
}

// NewDuckDB returns an analyser that parses through q, a DuckDB connection.
// Parsing has no side effects on q's database.
func NewDuckDB(q Querier) *DuckDB { return &DuckDB{q: q} }

// Analyze parses text (a cell's SQL as the user wrote it, {{var}}
// placeholders included) and returns its references and definitions. A
// parse error is reported in Analysis.Err; the error result is for a failing
// database or context.
//
// Every statement is parsed by DuckDB's parser through json_serialize_sql,
// which also validates statements it will not serialize. For those, the
// Postgres lexer finds where the parts are: the target and body of
// CREATE TABLE|VIEW ... AS and INSERT INTO, the source of a PIVOT statement
// without IN list. The parts are then parsed by DuckDB again, with the rest
// of the text blanked so every position stays the user's.
func (d *DuckDB) Analyze(ctx context.Context, text string) (*Analysis, error) {
	as, err := d.AnalyzeAll(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	return as[0], nil
}

// AnalyzeAll analyses many texts as Analyze does each, with the same
// results, in few round trips: one json_serialize_sql query serializes
// every text, and one more every statement of the texts that are not all
// queries; only what a statement needs beyond that (a DuckDB-only part of
// DDL, a PIVOT without IN list) is parsed on its own.
func (d *DuckDB) AnalyzeAll(ctx context.Context, texts []string) ([]*Analysis, error) {
	b := d.newBatch()
	parsed := make([]string, len(texts))
	for i, text := range texts {
		parsed[i] = parseText(text)
	}
	if err := b.prefetch(ctx, parsed); err != nil {
		return nil, err
	}
	var stmts []string
	for _, p := range parsed {
		if s := b.memo[p]; s.trees != nil || s.err != nil {
			continue
		}
		toks, err := lex(p)
		if err != nil {
			continue
		}
		for _, span := range statementSpans(p, toks) {
			stmts = append(stmts, blankOutside(p, span))
		}
	}
	if err := b.prefetch(ctx, stmts); err != nil {
		return nil, err
	}
	out := make([]*Analysis, len(texts))
	for i, text := range texts {
		a, err := b.analyze(ctx, text, parsed[i])
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// batch is one AnalyzeAll: json_serialize_sql's answers by text, so that a
// text serialized in a batched query is not serialized again.
type batch struct {
	d    *DuckDB
	memo map[string]serialized
}

func (d *DuckDB) newBatch() *batch { return &batch{d: d, memo: map[string]serialized{}} }

func (b *batch) analyze(ctx context.Context, text, parsed string) (*Analysis, error) {
	a := &Analysis{Vars: cells.Vars(text)}
	whole, err := b.serialize(ctx, parsed)
	if err != nil {
		return nil, err
	}
	if whole.err != nil {
		a.Err = whole.err
		return a, nil
	}
	if whole.trees != nil { // every statement is a query
		a.Statements, a.Query = len(whole.trees), len(whole.trees) > 0
		for _, tree := range whole.trees {
			a.Refs = append(a.Refs, refsOf(tree, parsed)...)
		}
		if a.Query {
			a.Show = isShow(whole.trees[len(whole.trees)-1])
		}
	} else {
		toks, lexErr := lex(parsed)
		if lexErr != nil {
			a.Err = newError(text, fmt.Sprintf("cannot split the cell into statements: %v", lexErr), -1)
			return a, nil
		}
		spans := statementSpans(parsed, toks)
		an := &analyser{d: b, text: parsed, toks: toks}
		a.Statements = len(spans)
		local := map[string]bool{} // relations created by earlier statements
		isLocal := func(r Ref) bool { return local[strings.ToLower(r.String())] }
		for i, span := range spans {
			st, err := an.statement(ctx, span)
			if err != nil {
				return nil, err
			}
			if st.err != nil {
				a.Err = st.err
				a.Refs, a.Defines, a.Writes, a.Views, a.Temps = nil, nil, nil, nil, nil
				return a, nil
			}
			for _, r := range st.refs {
				if !isLocal(r) {
					a.Refs = append(a.Refs, r)
				}
			}
			for _, r := range st.writes {
				if !isLocal(r) {
					a.Writes = append(a.Writes, r)
				}
			}
			if st.target != nil {
				local[strings.ToLower(st.target.String())] = true
				switch {
				case st.temp:
					a.Temps = append(a.Temps, *st.target)
				case st.view:
					a.Defines, a.Views = append(a.Defines, *st.target), append(a.Views, *st.target)
				default:
					a.Defines = append(a.Defines, *st.target)
				}
			}
			if i == len(spans)-1 && st.kind == kindQuery {
				a.Query, a.Show, a.Expands = true, st.show, st.expands
			}
		}
	}
	if a.Statements == 0 {
		a.Err = newError(text, "the cell has no SQL statement", -1)
	}
	sortRefs(a.Refs)
	return a, nil
}

// serialized is one json_serialize_sql call's outcome: the statement trees,
// a parse error, or neither when DuckDB parsed the text but will not
// serialize a statement that is not a SELECT.
type serialized struct {
	trees []any
	err   *Error
}

// serialize returns json_serialize_sql's answer for text, from the batch's
// memo when a batched query had it.
func (b *batch) serialize(ctx context.Context, text string) (serialized, error) {
	if s, ok := b.memo[text]; ok {
		return s, nil
	}
	var out string
	err := b.d.q.QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR), skip_null := true, skip_empty := true) AS VARCHAR)`, text).Scan(&out)
	if err != nil {
		return serialized{}, fmt.Errorf("json_serialize_sql: %w", err)
	}
	s, err := decodeSerialized(text, out)
	if err != nil {
		return serialized{}, err
	}
	b.memo[text] = s
	return s, nil
}

// prefetch serializes texts in one query (json_serialize_sql over the
// rows of a list; over a pool, a few such queries at once) into the memo.
// Texts the list cannot carry exactly (not UTF-8, or holding a NUL) are
// left to serialize.
func (b *batch) prefetch(ctx context.Context, texts []string) error {
	var todo []string
	seen := map[string]bool{}
	for _, t := range texts {
		if _, ok := b.memo[t]; ok || seen[t] || !utf8.ValidString(t) || strings.ContainsRune(t, 0) {
			continue
		}
		seen[t] = true
		todo = append(todo, t)
	}
	switch len(todo) {
	case 0:
		return nil
	case 1: // one text needs no list
		_, err := b.serialize(ctx, todo[0])
		return err
	}
	// Over a pool (*sql.DB), big batches are split in parts that DuckDB
	// serializes at once, on connections of their own.
	parts := 1
	if _, pool := b.d.q.(*sql.DB); pool {
		parts = max(1, min(runtime.GOMAXPROCS(0), len(todo)/256))
	}
	outs := make([]*string, len(todo))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(todo)/parts, (p+1)*len(todo)/parts
		wg.Go(func() { errs[p] = b.serializeList(ctx, todo[lo:hi], outs[lo:hi]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	decoded, err := decodeAll(todo, outs)
	if err != nil {
		return err
	}
	for i, t := range todo {
		b.memo[t] = decoded[i]
	}
	return nil
}

// serializeList serializes texts in one query, json_serialize_sql over
// the rows of a list, and sets outs[i] to the answer for texts[i].
func (b *batch) serializeList(ctx context.Context, texts []string, outs []*string) error {
	in, err := json.Marshal(texts)
	if err != nil {
		return fmt.Errorf("encode statements: %w", err)
	}
	rows, err := b.d.q.QueryContext(ctx, `SELECT i, CAST(json_serialize_sql(s, skip_null := true, skip_empty := true) AS VARCHAR)
		FROM unnest(json_extract_string(CAST(? AS VARCHAR), '$[*]')) WITH ORDINALITY AS t(s, i)`, string(in))
	if err != nil {
		return fmt.Errorf("json_serialize_sql: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var out string
		if err := rows.Scan(&i, &out); err != nil {
			return fmt.Errorf("json_serialize_sql: %w", err)
		}
		if i < 1 || i > len(texts) {
			return fmt.Errorf("json_serialize_sql answered for statement %d of %d", i, len(texts))
		}
		outs[i-1] = &out
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("json_serialize_sql: %w", err)
	}
	for _, out := range outs {
		if out == nil {
			return fmt.Errorf("json_serialize_sql did not answer for every statement")
		}
	}
	return nil
}

// decodeAll decodes the answers outs of texts (decodeSerialized), spread
// over the CPUs: decoding the trees is most of a batch's Go time. It
// returns the first error, by position.
func decodeAll(texts []string, outs []*string) ([]serialized, error) {
	decoded := make([]serialized, len(texts))
	errs := make([]error, len(texts))
	workers := min(runtime.GOMAXPROCS(0), (len(texts)+63)/64)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(texts) {
					return
				}
				decoded[i], errs[i] = decodeSerialized(texts[i], *outs[i])
			}
		})
	}
	wg.Wait()
	return decoded, errors.Join(errs...)
}

// decodeSerialized reads json_serialize_sql's answer out for text.
func decodeSerialized(text, out string) (serialized, error) {
	var s struct {
		Error        bool        `json:"error"`
		ErrorType    string      `json:"error_type"`
		ErrorMessage string      `json:"error_message"`
		Position     json.Number `json:"position"`
		Statements   []any       `json:"statements"`
	}
	// One pass over the answer, the trees' numbers kept as json.Number.
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return serialized{}, fmt.Errorf("decode json_serialize_sql output: %w", err)
	}
	switch {
	case s.Error && s.ErrorType == "not implemented":
		return serialized{}, nil
	case s.Error:
		offset := -1
		if p, err := strconv.Atoi(s.Position.String()); err == nil {
			offset = cells.ByteOffset(text, p) // DuckDB reports a character position
		}
		return serialized{err: newError(text, s.ErrorMessage, offset)}, nil
	}
	trees := s.Statements
	if trees == nil {
		trees = []any{} // no statement is not the same as no trees
	}
	return serialized{trees: trees}, nil
}

type statementKind int

const (
	kindOther  statementKind = iota // SET, CREATE MACRO, ...: no references
	kindQuery                       // produces a result: SELECT, FROM, VALUES, DESCRIBE, PIVOT, ...
	kindDefine                      // CREATE TABLE|VIEW
	kindWrite                       // INSERT, UPDATE, DELETE, TRUNCATE, COPY x FROM, ALTER, DROP
	kindExport                      // COPY ... TO, ANALYZE: reads only
)

// statementResult is what one statement reads, writes and creates.
type statementResult struct {
	kind   statementKind
	refs   []Ref
	writes []Ref
	target *Ref // the relation a CREATE TABLE|VIEW creates
	temp   bool // the target is a temporary table or view
	view   bool // the target is a view
	// show and expands describe a query as Analysis.Show and
	// Analysis.Expands do.
	show, expands bool
	err           *Error
}

// analyser analyses the statements of one cell, one at a time.
type analyser struct {
	d    *batch
	text string
	toks []token
}

func (an *analyser) statement(ctx context.Context, span Span) (statementResult, error) {
	s, err := an.d.serialize(ctx, blankOutside(an.text, span))
	if err != nil || s.err != nil {
		return statementResult{err: s.err}, err
	}
	if s.trees != nil {
		r := statementResult{kind: kindQuery}
		for _, tree := range s.trees {
			r.refs = append(r.refs, refsOf(tree, an.text)...)
		}
		if n := len(s.trees); n > 0 {
			r.show = isShow(s.trees[n-1])
		}
		return r, nil
	}
	toks := tokensIn(an.toks, span)
	if len(toks) == 0 {
		return statementResult{}, nil
	}
	if r, ok, err := an.pivotStatement(ctx, toks, span); err != nil || ok {
		return r, err
	}
	return an.structured(ctx, span)
}

// structured analyses a statement DuckDB parsed but will not serialize
// (DDL, DML, COPY, ...) through its Postgres parse tree: the kind of the
// statement, its target and what it reads are read off the tree, per
// statement kind. DuckDB-only syntax inside it was parsed by DuckDB (see
// pgParse). A statement the Postgres grammar cannot be brought to parse
// reads and writes nothing.
func (an *analyser) structured(ctx context.Context, span Span) (statementResult, error) {
	p, err := an.pgParse(ctx, span)
	if err != nil || p.stmt == nil {
		return statementResult{}, err
	}
	ps, ok := classify(p.stmt, p.masks)
	if !ok {
		return statementResult{}, nil
	}
	r := statementResult{refs: append(ps.reads, p.unscoped...), writes: ps.writes, temp: ps.temp, view: ps.view}
	switch ps.kind {
	case stmtDefine:
		r.kind, r.target = kindDefine, ps.create
	case stmtWrite:
		r.kind = kindWrite
	case stmtExport:
		r.kind = kindExport
	default:
		// A query DuckDB would not serialize, or a statement acting on
		// relations without reading them (LOCK, GRANT, ...).
		return statementResult{}, nil
	}
	return r, nil
}

// pivotStatement analyses a statement with a PIVOT statement (at any depth:
// in a CTE, a subquery, after WITH) that has no IN list. DuckDB expands such
// a PIVOT into several statements and will not serialize it; with an empty
// IN list added to every pivot column it serializes the same references.
// The references' offsets are mapped back to the user's text. ok is false
// when the statement has no such PIVOT or is not a query even so.
func (an *analyser) pivotStatement(ctx context.Context, toks []token, span Span) (r statementResult, ok bool, err error) {
	inserts, subqueries := pivotInserts(toks)
	if len(inserts) == 0 && len(subqueries) == 0 {
		return r, false, nil
	}
	r = statementResult{kind: kindQuery, expands: true}
	// An IN list given by a subquery is expanded too: its references are
	// the subquery's, and it stands as (NULL) for the rest.
	text := []byte(an.text)
	for _, sq := range subqueries {
		sub, err := an.statement(ctx, sq)
		if err != nil || sub.kind != kindQuery {
			return statementResult{}, false, err
		}
		r.refs = append(r.refs, sub.refs...)
		copy(text[sq.Start:sq.End], "NULL"+strings.Repeat(" ", sq.End-sq.Start-4))
	}
	const in = " IN (NULL)"
	var b strings.Builder
	last := 0
	for _, at := range inserts {
		b.Write(text[last:at])
		b.WriteString(in)
		last = at
	}
	b.Write(text[last:])
	grown := Span{span.Start, span.End + len(inserts)*len(in)}
	s, err := an.d.serialize(ctx, blankOutside(b.String(), grown))
	if err != nil || s.trees == nil {
		return statementResult{}, false, err
	}
	if n := len(s.trees); n > 0 {
		r.show = isShow(s.trees[n-1])
	}
	for _, tree := range s.trees {
		for _, ref := range refsOf(tree, b.String()) {
			if ref.Offset >= 0 {
				shift := 0
				for _, at := range inserts {
					if at+shift+len(in) <= ref.Offset {
						shift += len(in)
					}
				}
				ref.Offset -= shift
			}
			r.refs = append(r.refs, ref)
		}
	}
	return r, true, nil
}

// pivotInserts returns the offsets, in order, just after each pivot column
// of a PIVOT statement form that has no IN list, and the spans of IN lists
// given by a subquery. The statement form is PIVOT source ON col [IN (...)],
// ... [USING ...] [GROUP BY ...]; the SQL-standard form, PIVOT (agg FOR col
// IN (...)), always has its list.
func pivotInserts(toks []token) (at []int, subqueries []Span) {
	for i, t := range toks {
		if t.word != "pivot" && t.word != "pivot_wider" {
			continue
		}
		j := i + 1
		if j < len(toks) && toks[j].kind == pg_query.Token_ASCII_40 {
			end := skipParens(toks, j)
			if findWord(toks[j+1:end-1], "for") >= 0 {
				continue // PIVOT (agg FOR col IN (...))
			}
		}
		on := findWord(toks[j:], "on")
		if on < 0 {
			continue
		}
		// The columns run to USING, GROUP, ORDER, LIMIT, a closing
		// parenthesis or the end, separated by commas at depth 0.
		depth, hasIn := 0, false
		for k := j + on + 1; k <= len(toks); k++ {
			end := k == len(toks)
			if !end {
				switch tk := toks[k]; {
				case tk.kind == pg_query.Token_ASCII_40:
					depth++
					continue
				case tk.kind == pg_query.Token_ASCII_41 && depth > 0:
					depth--
					continue
				case depth > 0:
					continue
				case tk.word == "in":
					hasIn = true
					if k+2 < len(toks) && toks[k+1].kind == pg_query.Token_ASCII_40 && startsQuery(toks[k+2]) {
						close := skipParens(toks, k+1) - 1
						subqueries = append(subqueries, Span{toks[k+2].start, toks[close].start})
					}
					continue
				case tk.kind == pg_query.Token_ASCII_44, tk.kind == pg_query.Token_ASCII_41,
					tk.word == "using", tk.word == "group", tk.word == "order", tk.word == "limit":
					end = true
				}
			}
			if !end {
				continue
			}
			if !hasIn {
				at = append(at, toks[k-1].end)
			}
			hasIn = false
			if k == len(toks) || toks[k].kind != pg_query.Token_ASCII_44 {
				break
			}
		}
	}
	return at, subqueries
}

// startsQuery reports whether t can begin a query.
func startsQuery(t token) bool {
	switch t.word {
	case "select", "from", "with", "values", "table", "pivot", "unpivot", "describe", "summarize":
		return true
	}
	return false
}

// skipParens returns the index just after the parenthesis opened at toks[i].
func skipParens(toks []token, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		switch toks[i].kind {
		case pg_query.Token_ASCII_40:
			depth++
		case pg_query.Token_ASCII_41:
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return i
}

// wordsAt reports whether the words at toks[i:] start with words.
func wordsAt(toks []token, i int, words ...string) bool {
	if i+len(words) > len(toks) {
		return false
	}
	for j, w := range words {
		if toks[i+j].word != w {
			return false
		}
	}
	return true
}

// findWord returns the index of the first token at parenthesis depth 0 whose
// word is w, or -1.
func findWord(toks []token, w string) int {
	depth := 0
	for i, t := range toks {
		switch {
		case t.kind == pg_query.Token_ASCII_40:
			depth++
		case t.kind == pg_query.Token_ASCII_41:
			depth--
		case depth == 0 && t.word == w:
			return i
		}
	}
	return -1
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

// isShow reports whether a json_serialize_sql statement tree is DESCRIBE,
// SHOW or SUMMARIZE: DuckDB parses those into SELECT * from a SHOW
// reference, a table reference no query written as SELECT or FROM has (in
// FROM (DESCRIBE t) the reference is a subquery).
func isShow(tree any) bool {
	st, _ := tree.(map[string]any)
	node, _ := st["node"].(map[string]any)
	from, _ := node["from_table"].(map[string]any)
	return node["type"] == "SELECT_NODE" && from["type"] == "SHOW_REF"
}

// refsOf collects the base-table references of one json_serialize_sql
// statement tree; text is the text that was parsed.
func refsOf(tree any, text string) []Ref {
	w := duckWalker{text: text}
	w.walk(tree, nil)
	return w.refs
}

// duckWalker collects base-table references from a json_serialize_sql tree,
// tracking which CTE names are in scope.
type duckWalker struct {
	text string
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
	cteName, _ := node["cte_name"].(string)
	return node["type"] == "RECURSIVE_CTE_NODE" && strings.EqualFold(cteName, name)
}

func (w *duckWalker) baseTable(v map[string]any, sc *scope) {
	r := Ref{Offset: -1}
	r.Catalog, _ = v["catalog_name"].(string)
	r.Schema, _ = v["schema_name"].(string)
	r.Name, _ = v["table_name"].(string)
	if loc, ok := v["query_location"].(json.Number); ok {
		if n, err := strconv.Atoi(loc.String()); err == nil && n < len(w.text) {
			r.Offset = n
		}
	}
	if r.Catalog == "" && r.Schema == "" && sc.has(r.Name) {
		return // a CTE in scope
	}
	if r.Offset >= 0 && w.text[r.Offset] == '\'' {
		return // FROM 'file.csv': a string literal DuckDB scans as a file
	}
	w.refs = append(w.refs, r)
}
