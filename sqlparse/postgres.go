package sqlparse

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/cellsd/cellsd/cells"
)

// AnalyzePostgres parses text in the Postgres dialect with the Postgres
// parser. Its Refs are the remote relations the cell reads; they never
// resolve to other cells (DESIGN.md rule 6).
func AnalyzePostgres(text string) *Analysis {
	out, err := pg_query.ParseToJSON(parseText(text))
	if err != nil {
		return &Analysis{Vars: cells.Vars(text), Err: postgresError(text, err)}
	}
	var tree pgTree
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return &Analysis{Vars: cells.Vars(text), Err: newError(text, "decode pg_query output: "+err.Error(), -1)}
	}
	stmts := make([]map[string]any, len(tree.Stmts))
	for i, st := range tree.Stmts {
		stmts[i] = st.Stmt
	}
	return postgresAnalysis(text, stmts, 0)
}

// AnalyzePostgresAll analyses texts as AnalyzePostgres does each, with the
// same results, in one pg_query parse of the texts joined by semicolons,
// split back by the statements' locations. Where the joined parse fails,
// or a statement does not lie within one text (a comment or literal left
// open runs into the next), the texts are parsed in halves, down to one.
func AnalyzePostgresAll(texts []string) []*Analysis {
	out := make([]*Analysis, len(texts))
	analyzePostgresBatch(texts, out)
	return out
}

// pgSeparator ends each text in a joined parse; its newline ends a
// trailing -- comment.
const pgSeparator = "\n;"

func analyzePostgresBatch(texts []string, out []*Analysis) {
	if len(texts) <= 1 {
		for i, t := range texts {
			out[i] = AnalyzePostgres(t)
		}
		return
	}
	if !analyzePostgresJoined(texts, out) {
		mid := len(texts) / 2
		analyzePostgresBatch(texts[:mid], out[:mid])
		analyzePostgresBatch(texts[mid:], out[mid:])
	}
}

// analyzePostgresJoined parses texts joined and reports whether every
// statement lay within one text; only then out is filled.
func analyzePostgresJoined(texts []string, out []*Analysis) bool {
	var b strings.Builder
	starts := make([]int, len(texts)) // where each text starts in the joined text
	for i, t := range texts {
		if strings.ContainsRune(t, 0) { // the parser reads a C string
			return false
		}
		starts[i] = b.Len()
		b.WriteString(parseText(t))
		b.WriteString(pgSeparator)
	}
	js, err := pg_query.ParseToJSON(b.String())
	if err != nil {
		return false
	}
	var tree pgTree
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return false
	}
	per := make([][]map[string]any, len(texts))
	for _, st := range tree.Stmts {
		// The text the statement starts in; it must end before that
		// text's separator.
		i := sort.SearchInts(starts, st.StmtLocation+1) - 1
		if i < 0 || st.StmtLen <= 0 || st.StmtLocation+st.StmtLen > starts[i]+len(texts[i])+len(pgSeparator)-1 {
			return false
		}
		per[i] = append(per[i], st.Stmt)
	}
	for i, t := range texts {
		if len(per[i]) == 0 {
			// No statement, or one that something left open in an
			// earlier text swallowed: its own parse says which.
			out[i] = AnalyzePostgres(t)
			continue
		}
		out[i] = postgresAnalysis(t, per[i], starts[i])
	}
	return true
}

// pgTree is pg_query's JSON parse tree.
type pgTree struct {
	Stmts []struct {
		Stmt         map[string]any `json:"stmt"`
		StmtLocation int            `json:"stmt_location"`
		StmtLen      int            `json:"stmt_len"`
	} `json:"stmts"`
}

// postgresAnalysis reads the statements of text off their parse trees;
// locations in them are shift bytes after the text's own.
func postgresAnalysis(text string, stmts []map[string]any, shift int) *Analysis {
	a := &Analysis{Vars: cells.Vars(text)}
	a.Statements = len(stmts)
	if a.Statements == 0 {
		a.Err = newError(text, "the cell has no SQL statement", -1)
		return a
	}
	for i, stmt := range stmts {
		// What a statement reads is decided by its kind: the targets of
		// INSERT, UPDATE, DELETE, TRUNCATE, LOCK and GRANT are not reads;
		// COPY t TO, CREATE TABLE (LIKE src) and ANALYZE t read.
		if s, ok := classify(stmt, nil); ok {
			a.Refs = append(a.Refs, s.reads...)
		} else {
			w := pgWalker{}
			w.walk(stmt, nil)
			a.Refs = append(a.Refs, w.refs...)
		}
		if i == len(stmts)-1 {
			// The statements that return rows; a cell ending in DDL or SET
			// has no result.
			_, sel := stmt["SelectStmt"]
			_, explain := stmt["ExplainStmt"]
			_, show := stmt["VariableShowStmt"]
			a.Query = sel || explain || show
		}
	}
	if shift != 0 {
		for i := range a.Refs {
			if a.Refs[i].Offset >= 0 {
				a.Refs[i].Offset -= shift
			}
		}
	}
	sortRefs(a.Refs)
	return a
}

func postgresError(text string, err error) *Error {
	var pe *pgparser.Error
	if !errors.As(err, &pe) || pe.Cursorpos <= 0 {
		return newError(text, err.Error(), -1)
	}
	// Cursorpos is a 1-based character position.
	return newError(text, pe.Message, cells.ByteOffset(text, pe.Cursorpos-1))
}

// ExternalTables returns the distinct references of a, as written, sorted.
func ExternalTables(refs []Ref) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		s := r.String()
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return sortedStrings(out)
}
