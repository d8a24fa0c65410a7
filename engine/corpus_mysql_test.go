package engine_test

import (
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
)

// The MySQL dialect's dependency corpus: cells on connection "mysql" are
// parsed by vitess's MySQL grammar; their names resolve in MySQL (rule 6),
// so they have edges only to input cells, and their externalTables list
// what they read, as written.
func TestCorpusMySQL(t *testing.T) {
	if len(mysqlCorpus) < 40 {
		t.Errorf("the MySQL corpus has %d cases, want at least 40", len(mysqlCorpus))
	}
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "mysql", Engine: connectors.EngineMySQL},
		connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	eng := openEngine(t, engine.Config{Connections: reg, Sources: testSources(t)})
	seen := map[string]bool{}
	for _, tc := range mysqlCorpus {
		if seen[tc.name] {
			t.Errorf("two MySQL corpus cases are named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			checkCorpusCase(t, tc, mustPlan(t, eng, parseNotebook(t, tc.arts...)))
		})
	}
}

// my is a one-cell case: the cell "m" on MySQL reads exactly external.
func my(name, sql, external string) corpusCase {
	return corpusCase{name: name, arts: []nbArtifact{art(myCell("m", "r", sql))}, external: []string{"m: " + external}}
}

// myErr is a one-cell case whose cell "m" has a parse error at line:col.
func myErr(name, sql, at, msg string) corpusCase {
	return corpusCase{name: name, arts: []nbArtifact{art(myCell("m", "r", sql))}, errors: []string{"m parse " + at}, messages: []string{"m: " + msg}}
}

var mysqlCorpus = []corpusCase{
	my("Tables/Unqualified", "SELECT * FROM orders", "orders"),
	my("Tables/DatabaseQualified", "SELECT * FROM shop.orders", "shop.orders"),
	my("Tables/Backticks", "SELECT * FROM `order items`", "order items"),
	my("Tables/BacktickedDatabaseAndTable", "SELECT * FROM `my-db`.`Orders`", "my-db.Orders"),
	my("Tables/DoubledBacktick", "SELECT * FROM `a``b`", "a`b"),
	my("Tables/Dual", "SELECT 1 FROM dual", ""),
	my("Tables/NoFrom", "SELECT 1, NOW(), @@version", ""),
	my("Tables/CaseKept", "SELECT * FROM Orders o JOIN orders p ON o.id = p.id", "Orders"),
	my("Joins/InnerOn", "SELECT * FROM a JOIN b ON a.id = b.a_id", "a b"),
	my("Joins/Using", "SELECT * FROM a JOIN b USING (id) LEFT JOIN c USING (id, k)", "a b c"),
	my("Joins/Natural", "SELECT * FROM a NATURAL JOIN b", "a b"),
	my("Joins/Comma", "SELECT * FROM a, b, shop.c", "a b shop.c"),
	my("Joins/StraightJoin", "SELECT * FROM a STRAIGHT_JOIN b ON a.x = b.x", "a b"),
	my("Subqueries/InWhere", "SELECT * FROM a WHERE id IN (SELECT a_id FROM b)", "a b"),
	my("Subqueries/Exists", "SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)", "a b"),
	my("Subqueries/Scalar", "SELECT (SELECT max(x) FROM b) AS m FROM a", "a b"),
	my("Subqueries/Derived", "SELECT * FROM (SELECT * FROM a) AS d JOIN (SELECT id FROM b) e USING (id)", "a b"),
	my("Subqueries/DerivedAliasIsNotATable", "SELECT d.x FROM (SELECT 1 AS x) d", ""),
	my("Subqueries/Lateral", "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.id = a.id) l", "a b"),
	my("Columns/QualifiedColumnIsNotATable", "SELECT orders.id, x.y FROM items", "items"),
	my("Columns/DatabaseQualifiedColumn", "SELECT shop.orders.id FROM shop.orders", "shop.orders"),
	my("Literals/StringIsNotATable", "SELECT 'FROM orders' AS s FROM a", "a"),
	my("Literals/BackslashEscapedQuote", `SELECT 'it\'s FROM x' FROM a`, "a"),
	my("Literals/DoubleQuotedString", `SELECT "FROM x" FROM a`, "a"),
	my("Comments/Hash", "SELECT 1 FROM a # FROM b\n", "a"),
	my("Comments/DashDash", "SELECT 1 FROM a -- FROM b\n", "a"),
	my("Comments/Block", "SELECT /* FROM b */ 1 FROM a", "a"),
	my("CTE/Shadows", "WITH o AS (SELECT 1) SELECT * FROM o", ""),
	my("CTE/BodySeesOuterName", "WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", "orders"),
	my("CTE/SiblingsInOrder", "WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM b", "b"),
	my("CTE/Recursive", "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", ""),
	my("CTE/QualifiedIsNotTheCTE", "WITH o AS (SELECT 1) SELECT * FROM shop.o", "shop.o"),
	my("CTE/InSubqueryOnlyThere", "SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) d, t", "t"),
	my("SetOps/Union", "SELECT id FROM a UNION SELECT id FROM b UNION ALL SELECT id FROM c", "a b c"),
	my("SetOps/UnionInParens", "(SELECT id FROM a) UNION (SELECT id FROM b) ORDER BY id LIMIT 3", "a b"),
	my("Functions/JSONTableArgsAreNotTables", "SELECT j.x FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS j", ""),
	my("Functions/SubqueryInArgument", "SELECT COALESCE((SELECT min(id) FROM a), 0)", "a"),
	my("Show/Columns", "SHOW COLUMNS FROM shop.orders", "shop.orders"),
	my("Show/Tables", "SHOW TABLES", ""),
	my("Describe/Table", "DESCRIBE orders", "orders"),
	my("Explain/Select", "EXPLAIN SELECT * FROM a JOIN b USING (id)", "a b"),
	my("Statements/SetThenSelect", "SET @n = 3; SELECT * FROM a LIMIT 1", "a"),
	my("Statements/Versioned comment", "SELECT /*!40001 SQL_NO_CACHE */ * FROM a", "a"),
	my("Locks/ForUpdate", "SELECT * FROM a FOR UPDATE", "a"),
	{
		name:     "Rule6/NoEdgeToOtherMySQLCell",
		arts:     []nbArtifact{art(myCell("m1", "orders", "SELECT 1 AS id"), myCell("m2", "b", "SELECT * FROM orders"))},
		external: []string{"m2: orders"},
	},
	{
		name:     "Rule6/NoEdgeToDuckDBCell",
		arts:     []nbArtifact{art(sqlCell("d", "orders", "SELECT 1 AS id"), myCell("m", "b", "SELECT * FROM orders"))},
		external: []string{"m: orders"},
	},
	{
		name: "Rule6/DuckDBCellReadsMySQLResult",
		arts: []nbArtifact{art(myCell("m", "orders", "SELECT * FROM orders"), sqlCell("d", "b", "SELECT count(*) FROM orders"))},
		deps: []string{"d: m"},
	},
	{
		name: "Rule6/DuckDBJoinsMySQLAndPostgres",
		arts: []nbArtifact{art(myCell("m", "my_orders", "SELECT * FROM orders"), pgCell("p", "pg_users", "SELECT * FROM users"),
			sqlCell("d", "j", "SELECT * FROM my_orders JOIN pg_users USING (user_id)"))},
		deps: []string{"d: m p"},
	},
	{
		name: "Rule4/VarInMySQLCode",
		arts: []nbArtifact{art(inputCell("i", "n", "3"), myCell("m", "r", "SELECT * FROM a LIMIT {{n}}"))},
		deps: []string{"m: i"}, external: []string{"m: a"},
	},
	{
		name: "Rule4/VarInMySQLStringLiteral",
		arts: []nbArtifact{art(inputCell("i", "city", "x"), myCell("m", "r", "SELECT * FROM a WHERE c LIKE '%{{ city }}%'"))},
		deps: []string{"m: i"},
	},
	{
		name:   "Rule4/UnknownVariableInMySQLCell",
		arts:   []nbArtifact{art(myCell("m", "r", "SELECT {{nope}}"))},
		errors: []string{"m unknown-variable"},
	},
	{
		name:    "Rule7/MySQLCellEndingInSetHasNoResult",
		arts:    []nbArtifact{art(myCell("m", "r", "SET @x = 1"))},
		defines: []string{"m: "},
	},
	{
		name:    "Rule7/MySQLQueryDefinesItsName",
		arts:    []nbArtifact{art(myCell("m", "r", "SELECT 1"))},
		defines: []string{"m: r"},
	},
	myErr("Errors/Syntax", "SELECT * FORM a", "1:10", "syntax error"),
	myErr("Errors/SyntaxSecondLine", "SELECT *\nFROM a WHERE", "2:13", "syntax error"),
	myErr("Errors/SyntaxSecondStatement", "SET @x = 1;\nSELECT FROM", "2:8", "syntax error"),
	myErr("Errors/DuckDBOnlyFromFirst", "FROM a SELECT *", "1:1", "syntax error"),
	my("Literals/DollarsAreIdentifierCharacters", "SELECT $$x$$ FROM a$b", "a$b"),
	myErr("Errors/UnterminatedString", "SELECT 'abc", "1:8", "unterminated"),
	{
		name:   "Errors/ParseErrorCellStillDefinesItsName",
		arts:   []nbArtifact{art(myCell("m", "orders", "SELEC 1"), sqlCell("d", "b", "SELECT * FROM orders"))},
		deps:   []string{"d: m"},
		errors: []string{"m parse 1:1"},
	},
}
