package sqlparse_test

import (
	"context"
	"github.com/cellsd/cellsd/sqlparse"
	"testing"
)

func TestDuckDB_Statements(t *testing.T) {
	p := sqlparse.NewDuckDB(openDuckDB(t))
	tests := []struct {
		name, sql     string
		refs, defines string
		query         bool
		statements    int
	}{
		{"CreateTableAs", "CREATE TABLE x AS SELECT * FROM a", "a", "x", false, 1},
		{"CreateOrReplaceTableAs", "CREATE OR REPLACE TABLE main.x AS SELECT * FROM a JOIN b USING (id)", "a,b", "main.x", false, 1},
		{"CreateTableIfNotExists", "CREATE TABLE IF NOT EXISTS \"My Table\" AS FROM a", "a", "My Table", false, 1},
		{"CreateTableColumns", "CREATE TABLE x (id INTEGER, name VARCHAR)", "", "x", false, 1},
		{"CreateView", "CREATE VIEW v AS WITH c AS (SELECT * FROM a) SELECT * FROM c", "a", "v", false, 1},
		{"CreateViewColumns", "CREATE VIEW v (p, q) AS SELECT 1, 2 FROM a", "a", "v", false, 1},
		{"CreateTempTable", "CREATE TEMP TABLE t AS SELECT * FROM a; SELECT * FROM t", "a", "", true, 2},
		{"CreateThenRead", "CREATE TABLE t AS SELECT * FROM a; SELECT * FROM t JOIN b USING (id)", "a,b", "t", true, 2},
		{"InsertSelect", "INSERT INTO x SELECT * FROM a", "a", "x", false, 1},
		{"InsertColumnsSelect", "INSERT INTO x (p, q) SELECT p, q FROM a", "a", "x", false, 1},
		{"InsertParenQuery", "INSERT INTO x (SELECT * FROM a)", "a", "x", false, 1},
		{"InsertValues", "INSERT INTO x VALUES (1, 'a'), (2, 'b')", "", "x", false, 1},
		{"InsertByName", "INSERT INTO x BY NAME SELECT * FROM a", "a", "x", false, 1},
		{"InsertOrReplace", "INSERT OR REPLACE INTO x SELECT * FROM a", "a", "x", false, 1},
		{"InsertJoinOn", "INSERT INTO x SELECT * FROM a JOIN b ON a.id = b.id", "a,b", "x", false, 1},
		{"InsertOnConflict", "INSERT INTO x SELECT * FROM a ON CONFLICT DO NOTHING", "a", "x", false, 1},
		{"InsertReturning", "INSERT INTO x SELECT * FROM a RETURNING *", "a", "x", false, 1},
		{"InsertDefaultValues", "INSERT INTO x DEFAULT VALUES", "", "x", false, 1},
		{"DuckDBOnlyInDDL", "CREATE TABLE x AS SELECT * EXCLUDE (secret) FROM a GROUP BY ALL", "a", "x", false, 1},
		{"PivotStatement", "PIVOT orders ON city USING sum(amount)", "orders", "", true, 1},
		{"PivotStatementSubquery", "PIVOT (SELECT * FROM a JOIN b USING (id)) ON city USING sum(x) GROUP BY year", "a,b", "", true, 1},
		{"PivotWithIn", "PIVOT orders ON city IN ('a', 'b') USING sum(amount)", "orders", "", true, 1},
		{"Unpivot", "UNPIVOT monthly ON jan, feb INTO NAME month VALUE sales", "monthly", "", true, 1},
		{"CreateTableAsPivot", "CREATE TABLE p AS PIVOT orders ON city USING sum(x)", "orders", "p", false, 1},
		{"SetThenQuery", "SET threads = 2; SELECT * FROM a", "a", "", true, 2},
		{"MacroThenQuery", "CREATE MACRO twice(x) AS x * 2; SELECT twice(v) FROM a", "a", "", true, 2},
		{"OnlySet", "SET threads = 2", "", "", false, 1},
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
			if got := refStrings(a.Refs); got != tt.refs {
				t.Errorf("refs = %q, want %q", got, tt.refs)
			}
			if got := refStrings(a.Defines); got != tt.defines {
				t.Errorf("defines = %q, want %q", got, tt.defines)
			}
			if a.Query != tt.query || a.Statements != tt.statements {
				t.Errorf("query %v, statements %d; want %v, %d", a.Query, a.Statements, tt.query, tt.statements)
			}
		})
	}
}
