package sqlparse_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cellsd/cellsd/sqlparse"
)

func TestDuckDB_CheckQuery(t *testing.T) {
	d := sqlparse.NewDuckDB(openDuckDB(t))
	queries := []string{
		"SELECT 1", "SELECT 1;", "FROM t", "VALUES (1), (2)", "WITH a AS (SELECT 1) SELECT * FROM a",
		"DESCRIBE t", "SHOW TABLES", "SUMMARIZE t", "FROM t UNION ALL FROM t", "(SELECT 1)",
		"SELECT 1 -- a comment", "PIVOT t ON x IN ('a', 'b') USING sum(y)", "SELECT ';' AS semicolon",
	}
	for _, q := range queries {
		if err := d.CheckQuery(context.Background(), q); err != nil {
			t.Errorf("%q: %v, want a query", q, err)
		}
	}
	others := map[string]string{
		"CREATE TABLE x (a int)":    "not a query",
		"CREATE VIEW v AS SELECT 1": "not a query",
		"INSERT INTO t VALUES (1)":  "not a query",
		"UPDATE t SET a = 1":        "not a query",
		"DELETE FROM t":             "not a query",
		"DROP TABLE t":              "not a query",
		"COPY t TO 'x.csv'":         "not a query",
		"ATTACH ':memory:' AS z":    "not a query",
		"SET threads = 1":           "not a query",
		"PRAGMA version":            "not a query",
		"CALL pragma_version()":     "not a query",
		"INSTALL httpfs":            "not a query",
		"EXPLAIN SELECT 1":          "not a query",
		"PIVOT t ON x":              "not a query",
		"SELECT 1; SELECT 2":        "2 statements",
		"SELECT 1; DROP TABLE t":    "not a query",
		"":                          "no SQL statement",
		" ; ":                       "no SQL statement",
		"SELEC 1":                   "parse error at line 1, column 1",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": "CTE",
	}
	for q, want := range others {
		err := d.CheckQuery(context.Background(), q)
		var nq *sqlparse.NotQueryError
		if !errors.Is(err, sqlparse.ErrNotQuery) || !errors.As(err, &nq) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want not a query with %q", q, err, want)
		}
	}
}
