package sqlparse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cellsd/cellsd/sqlparse"
)

// FuzzAnalyze checks the DuckDB extractor on arbitrary text: it never
// panics or hangs, and a parse that succeeds only yields references and
// definitions whose names appear in the input. The seeds run in `go test`.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM orders",
		"FROM a JOIN b USING (id) SELECT a.*, b.x",
		"WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
		"WITH orders AS (SELECT * FROM orders) SELECT * FROM orders",
		`SELECT * FROM "Mixed ""Quoted"" Name", main.orders, __sqlrooms_ephemeral.artifact_nb.x`,
		"SELECT * FROM read_csv('orders.csv'), range(10) -- FROM comment",
		"CREATE OR REPLACE TABLE x AS SELECT * EXCLUDE (a) FROM y GROUP BY ALL; INSERT INTO x SELECT * FROM z",
		"INSERT INTO t (a, b) SELECT a, b FROM s ON CONFLICT DO NOTHING",
		"PIVOT (SELECT * FROM a) ON city USING sum(x); UNPIVOT m ON jan, feb INTO NAME month VALUE v",
		"SELECT * FROM a ASOF JOIN b USING (t) POSITIONAL JOIN c",
		"SELECT {{ v }}, '{{w}}' FROM {{src}} WHERE x = 'a''b'",
		"DESCRIBE t; SUMMARIZE u; SET threads = 1",
		"SELECT * FORM x",
		"CREATE TABLE IF NOT EXISTS s.t (id INTEGER); CREATE TEMP VIEW v AS FROM s.t",
		"SELECT 'ünïcödé' AS x FROM ä",
		"WITH c AS (FROM a) UPDATE t SET v = (SELECT max(v) FROM c), tags = [1, 2] WHERE id IN (SELECT id FROM b)",
		"DELETE FROM s.t USING a WHERE t.id = a.id; TRUNCATE u; DROP VIEW IF EXISTS w",
		"COPY (FROM a SELECT * EXCLUDE (x)) TO 'f.csv' (HEADER); COPY t FROM 'f.csv'; ANALYZE t",
		"CREATE TABLE 'my-t' (s STRUCT(a INTEGER), m MAP(VARCHAR, INTEGER)); ALTER TABLE \"my-t\" ADD COLUMN b INTEGER",
		"INSERT OR IGNORE INTO x BY NAME FROM 'data.parquet'",
	} {
		f.Add(s)
	}
	db := openDuckDB(f)
	p := sqlparse.NewDuckDB(db)
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.IndexByte(text, 0) >= 0 {
			t.Skip("DuckDB takes UTF-8 text without NUL")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a, err := p.Analyze(ctx, text)
		if err != nil {
			t.Fatalf("Analyze(%q): %v", text, err)
		}
		if a.Err != nil {
			if a.Err.Line < 0 || a.Err.Column < 0 || (a.Err.Offset > len(text)) {
				t.Fatalf("Analyze(%q): error position %+v out of the text", text, a.Err)
			}
			return
		}
		lower := strings.ToLower(text)
		for _, r := range slices.Concat(a.Refs, a.Defines, a.Writes, a.Temps) {
			for _, part := range []string{r.Catalog, r.Schema, r.Name} {
				if part != "" && !appears(lower, strings.ToLower(part)) {
					t.Fatalf("Analyze(%q): reference %q has %q, which is not in the text", text, r.String(), part)
				}
			}
			if r.Offset > len(text) {
				t.Fatalf("Analyze(%q): reference %q at offset %d, past the end", text, r.String(), r.Offset)
			}
		}
	})
}

// appears reports whether name occurs in text as written or quoted.
func appears(text, name string) bool {
	return strings.Contains(text, name) || strings.Contains(text, strings.ReplaceAll(name, `"`, `""`))
}

// FuzzAnalyzePostgres is FuzzAnalyze for the Postgres dialect.
func FuzzAnalyzePostgres(f *testing.F) {
	for _, s := range []string{
		"SELECT DISTINCT ON (a) a, b::text FROM ONLY s.t WHERE a ~* 'x' FOR UPDATE SKIP LOCKED",
		"WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
		"SELECT x->>'k' FROM j, LATERAL jsonb_array_elements(j.arr) AS e",
		"SELECT * FROM a WHERE b = {{v}}; SELECT 1",
		"SELECT * FROM t WHERE WHERE",
		"COPY test (id) TO stdout; COPY (SELECT * FROM a) TO 'f'; TRUNCATE b; LOCK TABLE c; GRANT SELECT ON d TO PUBLIC",
		"CREATE TABLE t (LIKE src, FOREIGN KEY (id) REFERENCES other (id)); ANALYZE t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || strings.IndexByte(text, 0) >= 0 {
			t.Skip("Postgres takes UTF-8 text without NUL")
		}
		a := sqlparse.AnalyzePostgres(text)
		if a.Err != nil {
			return
		}
		lower := strings.ToLower(text)
		for _, r := range a.Refs {
			for _, part := range []string{r.Catalog, r.Schema, r.Name} {
				if part != "" && !appears(lower, strings.ToLower(part)) {
					t.Fatalf("AnalyzePostgres(%q): reference %q has %q, which is not in the text", text, r.String(), part)
				}
			}
		}
	})
}
