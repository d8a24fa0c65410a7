package sqlparse_test

import (
	"context"
	"github.com/cellsd/cellsd/sqlparse"
	"strings"
	"testing"
)

func TestDuckDB_Statements(t *testing.T) {
	p := sqlparse.NewDuckDB(openDuckDB(t))
	tests := []struct {
		name, sql     string
		refs, defines string // defines: Defines, then "w:" Writes, "t:" Temps, "v:" Views when any
		query         bool
		statements    int
	}{
		{"CreateTableAs", "CREATE TABLE x AS SELECT * FROM a", "a", "x", false, 1},
		{"CreateOrReplaceTableAs", "CREATE OR REPLACE TABLE main.x AS SELECT * FROM a JOIN b USING (id)", "a,b", "main.x", false, 1},
		{"CreateTableIfNotExists", "CREATE TABLE IF NOT EXISTS \"My Table\" AS FROM a", "a", "My Table", false, 1},
		{"CreateTableColumns", "CREATE TABLE x (id INTEGER, name VARCHAR)", "", "x", false, 1},
		{"CreateView", "CREATE VIEW v AS WITH c AS (SELECT * FROM a) SELECT * FROM c", "a", "v v:v", false, 1},
		{"CreateViewColumns", "CREATE VIEW v (p, q) AS SELECT 1, 2 FROM a", "a", "v v:v", false, 1},
		{"CreateTempTable", "CREATE TEMP TABLE t AS SELECT * FROM a; SELECT * FROM t", "a", "t:t", true, 2},
		{"CreateThenRead", "CREATE TABLE t AS SELECT * FROM a; SELECT * FROM t JOIN b USING (id)", "a,b", "t", true, 2},
		{"InsertSelect", "INSERT INTO x SELECT * FROM a", "a", "w:x", false, 1},
		{"InsertColumnsSelect", "INSERT INTO x (p, q) SELECT p, q FROM a", "a", "w:x", false, 1},
		{"InsertParenQuery", "INSERT INTO x (SELECT * FROM a)", "a", "w:x", false, 1},
		{"InsertValues", "INSERT INTO x VALUES (1, 'a'), (2, 'b')", "", "w:x", false, 1},
		{"InsertByName", "INSERT INTO x BY NAME SELECT * FROM a", "a", "w:x", false, 1},
		{"InsertOrReplace", "INSERT OR REPLACE INTO x SELECT * FROM a", "a", "w:x", false, 1},
		{"InsertJoinOn", "INSERT INTO x SELECT * FROM a JOIN b ON a.id = b.id", "a,b", "w:x", false, 1},
		{"InsertOnConflict", "INSERT INTO x SELECT * FROM a ON CONFLICT DO NOTHING", "a", "w:x", false, 1},
		{"InsertReturning", "INSERT INTO x SELECT * FROM a RETURNING *", "a", "w:x", false, 1},
		{"InsertDefaultValues", "INSERT INTO x DEFAULT VALUES", "", "w:x", false, 1},
		{"DuckDBOnlyInDDL", "CREATE TABLE x AS SELECT * EXCLUDE (secret) FROM a GROUP BY ALL", "a", "x", false, 1},
		{"PivotStatement", "PIVOT orders ON city USING sum(amount)", "orders", "", true, 1},
		{"PivotStatementSubquery", "PIVOT (SELECT * FROM a JOIN b USING (id)) ON city USING sum(x) GROUP BY year", "a,b", "", true, 1},
		{"PivotWithIn", "PIVOT orders ON city IN ('a', 'b') USING sum(amount)", "orders", "", true, 1},
		{"Unpivot", "UNPIVOT monthly ON jan, feb INTO NAME month VALUE sales", "monthly", "", true, 1},
		{"CreateTableAsPivot", "CREATE TABLE p AS PIVOT orders ON city USING sum(x)", "orders", "p", false, 1},
		{"CreateOrReplaceTableColumns", "CREATE OR REPLACE TABLE t (id INTEGER)", "", "t", false, 1},
		{"CreateOrReplaceTempTable", "CREATE OR REPLACE TEMP TABLE t AS FROM a", "a", "t:t", false, 1},
		{"CreateTableSingleQuoted", "CREATE TABLE 'my-t' (id INTEGER)", "", "my-t", false, 1},
		{"CreateTableStructColumn", "CREATE TABLE t (id INTEGER, s STRUCT(a INTEGER, b VARCHAR), m MAP(VARCHAR, INTEGER))", "", "t", false, 1},
		{"CreateTableAsFromFile", "CREATE TABLE t AS SELECT * FROM 'data.csv' JOIN a USING (id)", "a", "t", false, 1},
		{"CreateTableAsFromFirst", "CREATE TABLE t AS FROM a", "a", "t", false, 1},
		{"CreateTableAsSubqueryDuckDBOnly", "CREATE TABLE t AS SELECT * FROM (SELECT * EXCLUDE (x) FROM a) JOIN b USING (id)", "a,b", "t", false, 1},
		{"WithInsert", "WITH c AS (SELECT * FROM a) INSERT INTO x SELECT * FROM c JOIN b USING (id)", "a,b", "w:x", false, 1},
		{"WithInsertDuckDBOnlyBody", "WITH c AS (SELECT * FROM a) INSERT INTO x SELECT * EXCLUDE (k) FROM c", "a", "w:x", false, 1},
		{"InsertFromFirst", "INSERT INTO x FROM a", "a", "w:x", false, 1},
		{"InsertOrIgnoreByName", "INSERT OR IGNORE INTO main.x BY NAME SELECT * FROM a", "a", "w:main.x", false, 1},
		{"UpdateSetSubquery", "UPDATE t SET v = (SELECT max(v) FROM a) WHERE id IN (SELECT id FROM b)", "a,b", "w:t", false, 1},
		{"UpdateFrom", "UPDATE t SET v = a.v FROM a WHERE t.id = a.id", "a", "w:t", false, 1},
		{"WithUpdate", "WITH m AS (SELECT max(v) AS v FROM a) UPDATE t SET v = (SELECT v FROM m)", "a", "w:t", false, 1},
		{"UpdateListLiteral", "UPDATE t SET tags = [1, 2] WHERE id IN (SELECT id FROM a)", "a", "w:t", false, 1},
		{"DeleteWhereSubquery", "DELETE FROM t WHERE id NOT IN (SELECT id FROM a)", "a", "w:t", false, 1},
		{"DeleteUsing", "DELETE FROM s.t USING a WHERE t.id = a.id", "a", "w:s.t", false, 1},
		{"Truncate", "TRUNCATE t", "", "w:t", false, 1},
		{"TruncateTable", "TRUNCATE TABLE \"My T\"", "", "w:My T", false, 1},
		{"CopyFrom", "COPY t FROM 'data.csv' (HEADER)", "", "w:t", false, 1},
		{"CopyTo", "COPY t TO 'out.csv' (HEADER, DELIMITER ',')", "t", "", false, 1},
		{"CopyQueryTo", "COPY (SELECT * FROM a WHERE x > 1) TO 'out.parquet' (FORMAT parquet)", "a", "", false, 1},
		{"CopyFromFirstQueryTo", "COPY (FROM a) TO 'out.csv'", "a", "", false, 1},
		{"AlterTable", "ALTER TABLE t ADD COLUMN note VARCHAR", "", "w:t", false, 1},
		{"AlterTableRename", "ALTER TABLE t RENAME TO u", "", "w:t", false, 1},
		{"DropTable", "DROP TABLE IF EXISTS t", "", "w:t", false, 1},
		{"DropView", "DROP VIEW main.v", "", "w:main.v", false, 1},
		{"Analyze", "ANALYZE t", "t", "", false, 1},
		{"CreateThenWrite", "CREATE TABLE t (id INTEGER); INSERT INTO t VALUES (1); UPDATE t SET id = 2", "", "t", false, 3},
		{"DropThenCreate", "DROP TABLE IF EXISTS t; CREATE TABLE t AS SELECT * FROM a", "a", "t w:t", false, 2},
		{"TempWrittenInCell", "CREATE TEMP TABLE s AS SELECT * FROM a; INSERT INTO x SELECT * FROM s", "a", "w:x t:s", false, 2},
		{"CreateMacroIsNothing", "CREATE MACRO twice(x) AS x * 2", "", "", false, 1},
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
			got := refStrings(a.Defines)
			for _, x := range []struct {
				prefix string
				refs   []sqlparse.Ref
			}{{"w:", a.Writes}, {"t:", a.Temps}, {"v:", a.Views}} {
				if len(x.refs) > 0 {
					got = strings.TrimSpace(got + " " + x.prefix + refStrings(x.refs))
				}
			}
			if got != tt.defines {
				t.Errorf("defines = %q, want %q", got, tt.defines)
			}
			if a.Query != tt.query || a.Statements != tt.statements {
				t.Errorf("query %v, statements %d; want %v, %d", a.Query, a.Statements, tt.query, tt.statements)
			}
		})
	}
}
