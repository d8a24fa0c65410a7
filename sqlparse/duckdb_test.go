package sqlparse_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cellsd/cellsd/sqlparse"
)

func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func refStrings(refs []sqlparse.Ref) string {
	var s []string
	for _, r := range refs {
		s = append(s, r.String())
	}
	return strings.Join(s, ",")
}

func TestDuckDB_Refs(t *testing.T) {
	p := sqlparse.NewDuckDB(openDuckDB(t))
	tests := []struct {
		name, sql, want string
	}{
		{"Plain", "SELECT * FROM orders", "orders"},
		{"FromFirst", "FROM orders", "orders"},
		{"Join", "SELECT * FROM a JOIN b USING (id)", "a,b"},
		{"Qualified", "SELECT * FROM main.orders, artifact_nb1.b, __sqlrooms_ephemeral.artifact_nb1.c", "main.orders,artifact_nb1.b,__sqlrooms_ephemeral.artifact_nb1.c"},
		{"QuotedMixedCase", `SELECT * FROM "Orders"`, "Orders"},
		{"StringLiteral", "SELECT 'FROM orders' AS x", ""},
		{"Comment", "SELECT 1 -- FROM orders\n/* JOIN b */", ""},
		{"ColumnNamedLikeTable", "SELECT orders.orders FROM x AS orders", "x"},
		{"TableFunctionArgument", "SELECT * FROM read_csv('orders.csv')", ""},
		{"SubqueryInWhere", "SELECT * FROM a WHERE id IN (SELECT id FROM b)", "a,b"},
		{"ScalarSubquery", "SELECT (SELECT max(x) FROM b) FROM a", "b,a"},
		{"SetOperation", "SELECT 1 FROM a UNION ALL SELECT 2 FROM b EXCEPT SELECT 3 FROM c", "a,b,c"},
		{"Lateral", "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.id = a.id)", "a,b"},
		{"CTEShadows", "WITH b AS (SELECT 1) SELECT * FROM b", ""},
		{"CTEBodySeesOuterName", "WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", "orders"},
		{"CTEBodySeesEarlierSibling", "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b", ""},
		{"CTEBodyDoesNotSeeLaterSibling", "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "b"},
		{"RecursiveCTESeesItself", "WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t", ""},
		{"SubqueryCTEIsLocal", "SELECT * FROM (WITH b AS (SELECT 1) SELECT * FROM b) s, b", "b"},
		{"CTEQualifiedIsNotCTE", "WITH b AS (SELECT 1) SELECT * FROM main.b", "main.b"},
		{"CTECaseInsensitive", "WITH Big AS (SELECT 1) SELECT * FROM BIG", ""},
		{"Describe", "DESCRIBE orders", "orders"},
		{"Summarize", "SUMMARIZE orders", "orders"},
		{"PivotSource", "SELECT * FROM orders PIVOT (sum(x) FOR city IN ('a', 'b'))", "orders"},
		{"MultiStatement", "SELECT 1 FROM a; SELECT 2 FROM b", "a,b"},
		{"VarInFrom", "SELECT * FROM {{src}}", ""},
		{"VarInString", "SELECT * FROM a WHERE city LIKE '%{{city}}%'", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := p.Analyze(context.Background(), tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if a.Err != nil {
				t.Fatalf("parse error: %v", a.Err)
			}
			if got := refStrings(a.Refs); got != tt.want {
				t.Errorf("refs of %q = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}

func TestDuckDB_ParseErrorPosition(t *testing.T) {
	p := sqlparse.NewDuckDB(openDuckDB(t))
	tests := []struct {
		name, sql    string
		line, column int
	}{
		{"FirstLine", "SELECT * FORM x", 1, 15},
		{"ThirdLine", "SELECT 1;\nSELECT *\n  FROM a WHERE WHERE", 3, 16},
		{"AfterVariable", "SELECT {{v}} FROM a WHERE WHERE", 1, 27},
		{"AfterMultibyte", "SELECT 'äöü' FORM x", 1, 19},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := p.Analyze(context.Background(), tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if a.Err == nil {
				t.Fatalf("%q parsed, want an error", tt.sql)
			}
			if a.Err.Line != tt.line || a.Err.Column != tt.column {
				t.Errorf("%q: error %q at %d:%d, want %d:%d", tt.sql, a.Err.Message, a.Err.Line, a.Err.Column, tt.line, tt.column)
			}
		})
	}
}

func TestPostgres_ExternalTables(t *testing.T) {
	tests := []struct {
		name, sql, want string
	}{
		{"Plain", "SELECT * FROM orders o JOIN public.customers c USING (id)", "orders,public.customers"},
		{"CTE", "WITH x AS (SELECT * FROM raw) SELECT * FROM x", "raw"},
		{"Recursive", "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM t WHERE n < 3) SELECT * FROM t", ""},
		{"PostgresOnly", "SELECT DISTINCT ON (a) a, b::text FROM ONLY s.t WHERE a ~* 'x' FOR UPDATE SKIP LOCKED", "s.t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sqlparse.AnalyzePostgres(tt.sql)
			if a.Err != nil {
				t.Fatalf("parse error: %v", a.Err)
			}
			if got := strings.Join(sqlparse.ExternalTables(a.Refs), ","); got != tt.want {
				t.Errorf("external tables of %q = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
	a := sqlparse.AnalyzePostgres("SELECT 1;\nSELECT * FROM t WHERE WHERE")
	if a.Err == nil || a.Err.Line != 2 || a.Err.Column != 23 {
		t.Errorf("postgres error = %+v, want line 2 column 23", a.Err)
	}
}

// TestDuckDB_QueryShape checks how the last statement of a query cell is
// classified: DESCRIBE, SHOW and SUMMARIZE cannot follow CREATE TABLE ... AS
// (Show), a PIVOT without IN list runs as several statements (Expands).
func TestDuckDB_QueryShape(t *testing.T) {
	p := sqlparse.NewDuckDB(openDuckDB(t))
	tests := []struct {
		name, sql     string
		query         bool
		show, expands bool
	}{
		{"Select", "SELECT * FROM a", true, false, false},
		{"FromFirst", "FROM a SELECT x", true, false, false},
		{"Values", "VALUES (1), (2)", true, false, false},
		{"SubqueryOfDescribe", "FROM (DESCRIBE a)", true, false, false},
		{"DescribeTable", "DESCRIBE a", true, true, false},
		{"DescribeQuery", "DESCRIBE SELECT * FROM a", true, true, false},
		{"ShowTable", "SHOW a", true, true, false},
		{"ShowTables", "SHOW TABLES", true, true, false},
		{"Summarize", "SUMMARIZE a;", true, true, false},
		{"SummarizeQuery", "SUMMARIZE SELECT x FROM a", true, true, false},
		{"DescribeAfterSet", "SET threads = 2; DESCRIBE a", true, true, false},
		{"DescribeThenSelect", "DESCRIBE a; SELECT 1", true, false, false},
		{"PivotWithIn", "PIVOT a ON g IN (0, 1) USING sum(x)", true, false, false},
		{"PivotWithoutIn", "PIVOT a ON g USING sum(x)", true, false, true},
		{"PivotInSubqueryList", "PIVOT a ON g IN (SELECT g FROM b) USING sum(x)", true, false, true},
		{"PivotWithoutInInCTE", "WITH p AS (PIVOT a ON g USING sum(x)) SELECT * FROM p", true, false, true},
		{"PivotAfterSet", "SET threads = 2; PIVOT a ON g USING sum(x)", true, false, true},
		{"DescribePivotWithoutIn", "DESCRIBE PIVOT a ON g USING sum(x)", true, true, true},
		{"PivotThenSelect", "PIVOT a ON g USING sum(x); SELECT 1", true, false, false},
		{"CreateTableAsDescribe", "CREATE TABLE t AS FROM (DESCRIBE a)", false, false, false},
		{"Explain", "EXPLAIN SELECT 1", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := p.Analyze(context.Background(), tt.sql)
			if err != nil {
				t.Fatal(err)
			}
			if a.Err != nil {
				t.Fatalf("parse error: %v", a.Err)
			}
			if a.Query != tt.query || a.Show != tt.show || a.Expands != tt.expands {
				t.Errorf("%q: Query %v, Show %v, Expands %v; want %v, %v, %v", tt.sql, a.Query, a.Show, a.Expands, tt.query, tt.show, tt.expands)
			}
		})
	}
}
