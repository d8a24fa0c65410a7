package engine_test

// Rule 7 revised (0.2): definers, writers and their families, exports,
// ANALYZE and TEMP objects; and the Postgres dialect's reads per
// statement kind (externalTables).
func init() { corpus = append(corpus, writerCases()...) }

// writersCreate is the definer of t that most cases share.
func writersCreate(id string) nbCell {
	return sqlCell(id, "setup", "CREATE TABLE t (id INTEGER, v INTEGER)")
}

func writerCases() []corpusCase {
	return []corpusCase{
		{
			name: "Writers/FourCellNotebook",
			arts: []nbArtifact{art(
				sqlCell("a", "create_t", "CREATE TABLE t (id INTEGER)"),
				sqlCell("b", "fill", "INSERT INTO t VALUES (1), (2)"),
				sqlCell("c", "scale", "UPDATE t SET id = id * 10 WHERE id = 2"),
				sqlCell("d", "total", "SELECT sum(id) AS s FROM t"),
			)},
			deps:    []string{"b: a", "c: a b", "d: a b c"},
			defines: []string{"a: t", "b:", "c:", "d: total"},
		},
		{
			name: "Writers/InsertSelectReadsSource",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "load", "INSERT INTO t SELECT id, amount FROM orders"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/WithInsert",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "load", "WITH big AS (SELECT * FROM orders WHERE amount > 50)\nINSERT INTO t SELECT id, amount FROM big"),
			)},
			deps:     []string{"c3: c1 c2"},
			external: []string{"c3:"},
		},
		{
			name: "Writers/WithInsertCTEShadowsCell",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "load", "WITH orders AS (SELECT 1 AS id, 2 AS amount) INSERT INTO t SELECT * FROM orders"),
			)},
			deps: []string{"c3: c1"},
		},
		{
			name: "Writers/WithInsertDuckDBOnlyBody",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "load", "WITH o AS (FROM orders) INSERT INTO t SELECT * EXCLUDE (customer_id, day, city) FROM o"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/InsertFromFirst",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "load", "INSERT INTO t BY NAME FROM orders SELECT id, amount AS v"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/InsertOrReplace",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE kv (k VARCHAR PRIMARY KEY, v INTEGER)"),
				sqlCell("c2", "upsert", "INSERT OR REPLACE INTO kv VALUES ('a', 1)"),
				sqlCell("c3", "read", "SELECT * FROM kv"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/UpdateSetSubquery",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "fix", "UPDATE t SET v = (SELECT max(amount) FROM orders)"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/UpdateWhereSubquery",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "fix", "UPDATE t SET v = 0 WHERE id IN (SELECT id FROM orders WHERE city = 'Berlin')"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/UpdateFrom",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "fix", "UPDATE t SET v = o.amount FROM orders o WHERE t.id = o.id"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/WithUpdate",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "fix", "WITH m AS (SELECT max(amount) AS top FROM orders) UPDATE t SET v = (SELECT top FROM m)"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/UpdateDuckDBOnlyExpression",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE tagged (id INTEGER, tags INTEGER[])"), rulesOrders("c2"),
				sqlCell("c3", "tag", "UPDATE tagged SET tags = [1, 2] WHERE id IN (SELECT id FROM orders)"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/DeleteWhereSubquery",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "prune", "DELETE FROM t WHERE id NOT IN (SELECT id FROM orders)"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/DeleteUsing",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "prune", "DELETE FROM t USING orders WHERE t.id = orders.id AND orders.amount = 0"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/WithDelete",
			arts: []nbArtifact{art(
				writersCreate("c1"), rulesOrders("c2"),
				sqlCell("c3", "prune", "WITH gone AS (SELECT id FROM orders WHERE amount > 100) DELETE FROM t WHERE id IN (SELECT id FROM gone)"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Writers/Truncate",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "empty", "TRUNCATE t"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM t"),
			)},
			deps:    []string{"c2: c1", "c3: c1 c2"},
			defines: []string{"c2:"},
		},
		{
			name: "Writers/CopyFrom",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "load", "COPY t FROM 'data.csv' (HEADER)"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM t"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/AlterTable",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "widen", "ALTER TABLE t ADD COLUMN note VARCHAR"),
				sqlCell("c3", "notes", "SELECT note FROM t"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/DropTable",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM t"),
				sqlCell("c3", "cleanup", "DROP TABLE t"),
			)},
			deps: []string{"c2: c1 c3", "c3: c1"},
		},
		{
			name: "Writers/DropView",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "views", "CREATE VIEW big AS SELECT * FROM orders WHERE amount > 100"),
				sqlCell("c3", "cleanup", "DROP VIEW IF EXISTS big"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Writers/WritersInNotebookOrder",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "w1", "INSERT INTO t VALUES (1, 1)"),
				sqlCell("c3", "w2", "INSERT INTO t VALUES (2, 2)"),
				sqlCell("c4", "w3", "DELETE FROM t WHERE id = 1"),
				sqlCell("c5", "r", "SELECT * FROM t"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2", "c4: c1 c2 c3", "c5: c1 c2 c3 c4"},
		},
		{
			name: "Writers/QueryCellResultIsTheDefiner",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "more", "INSERT INTO orders SELECT 99, 0, 1, DATE '2024-02-01', 'Paris'"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM orders"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/QualifiedArtifactSchemaTarget",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "fill", "INSERT INTO artifact_nb.t VALUES (1, 1)"),
				sqlCell("c3", "r", "SELECT * FROM __sqlrooms_ephemeral.artifact_nb.t"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/QualifiedMainTarget",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE main.events (id INTEGER)"),
				sqlCell("c2", "fill", "INSERT INTO main.events VALUES (1)"),
				sqlCell("c3", "r", "SELECT * FROM events"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/OtherSchemaTargetIsNotTheFamily",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "fill", "INSERT INTO main.t VALUES (1, 1)"),
				sqlCell("c3", "r", "SELECT * FROM t"),
			)},
			deps: []string{"c3: c1"},
		},
		{
			name: "Writers/QuotedNames",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", `CREATE TABLE "Sales Log" (amount INTEGER)`),
				sqlCell("c2", "fill", `INSERT INTO "SALES LOG" VALUES (5)`),
				sqlCell("c3", "r", `SELECT sum(amount) AS s FROM "sales log"`),
			)},
			deps:    []string{"c2: c1", "c3: c1 c2"},
			defines: []string{"c1: Sales Log"},
		},
		{
			name: "Writers/SingleQuotedDefiner",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE 'my-t' (id INTEGER)"),
				sqlCell("c2", "fill", `INSERT INTO "my-t" VALUES (1)`),
				sqlCell("c3", "r", `SELECT * FROM "my-t"`),
			)},
			deps:    []string{"c2: c1", "c3: c1 c2"},
			defines: []string{"c1: my-t"},
		},
		{
			name: "Writers/CreateOrReplaceDefiner",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE OR REPLACE TABLE t (id INTEGER, v INTEGER)"),
				sqlCell("c2", "fill", "INSERT INTO t VALUES (1, 2)"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: t"},
		},
		{
			name: "Writers/CreateAndWriteInOneCellIsTheDefiner",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);\nUPDATE t SET id = 2"),
				sqlCell("c2", "more", "INSERT INTO t VALUES (3)"),
				sqlCell("c3", "r", "SELECT * FROM t"),
			)},
			deps:    []string{"c2: c1", "c3: c1 c2"},
			defines: []string{"c1: t"},
		},
		{
			name: "Writers/WriterAndReaderOfTwoFamilies",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "setup2", "CREATE TABLE u (id INTEGER)"),
				sqlCell("c3", "w", "INSERT INTO u SELECT id FROM t"),
				sqlCell("c4", "wt", "INSERT INTO t VALUES (1, 1)"),
				sqlCell("c5", "r", "SELECT * FROM u"),
			)},
			deps: []string{"c3: c1 c2 c4", "c4: c1", "c5: c2 c3"},
		},
		{
			name: "Writers/ExportCopyQueryTo",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "export", "COPY (SELECT * FROM orders WHERE amount > 10) TO 'big.csv' (HEADER)"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c2:"},
		},
		{
			name: "Writers/ExportCopyTableTo",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "fill", "INSERT INTO t VALUES (1, 1)"),
				sqlCell("c3", "export", "COPY t TO 't.parquet' (FORMAT parquet)"),
			)},
			deps:    []string{"c2: c1", "c3: c1 c2"},
			defines: []string{"c3:"},
		},
		{
			name: "Writers/ExportFromFirstQuery",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "export", "COPY (FROM orders) TO 'orders.csv'"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Writers/AnalyzeReads",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "fill", "INSERT INTO t VALUES (1, 1)"),
				sqlCell("c3", "stats", "ANALYZE t"),
			)},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		{
			name: "Writers/TempTableIsLocal",
			arts: []nbArtifact{art(
				sqlCell("c1", "prep", "CREATE TEMP TABLE scratch (id INTEGER)"),
				sqlCell("c2", "fill", "INSERT INTO scratch VALUES (1)"),
				sqlCell("c3", "r", "SELECT * FROM scratch"),
			)},
			defines:  []string{"c1:"},
			external: []string{"c3: scratch"},
		},
		{
			name: "Writers/TempTableWrittenInItsCell",
			arts: []nbArtifact{art(
				rulesOrders("c1"), writersCreate("c2"),
				sqlCell("c3", "load", "CREATE TEMP TABLE s AS SELECT id, amount FROM orders;\nINSERT INTO s VALUES (0, 0);\nINSERT INTO t SELECT * FROM s"),
			)},
			deps:     []string{"c3: c1 c2"},
			external: []string{"c3:"},
		},
		{
			name: "Writers/UndefinedTargetHasNoDeps",
			arts: []nbArtifact{art(
				sqlCell("c1", "fill", "INSERT INTO nowhere VALUES (1)"),
				sqlCell("c2", "r", "SELECT * FROM nowhere"),
			)},
			external: []string{"c2: nowhere"},
		},
		{
			name: "Writers/TwoDefinersAreDuplicates",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "again", "CREATE TABLE t (id INTEGER)"),
				sqlCell("c3", "fill", "INSERT INTO t VALUES (1)"),
			)},
			deps:   []string{"c3: c1 c2"},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Writers/CycleThroughFamily",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "r", "SELECT max(id) AS m FROM t"),
				sqlCell("c3", "w", "INSERT INTO t SELECT m + 1, 0 FROM r"),
			)},
			deps:     []string{"c2: c1 c3", "c3: c1 c2"},
			errors:   []string{"c2 cycle", "c3 cycle"},
			messages: []string{"c2: cycle: c2 -> c3 -> c2", "c3: cycle: c2 -> c3 -> c2"},
		},
		{
			name: "Writers/ParseErrorInWriter",
			arts: []nbArtifact{art(
				writersCreate("c1"),
				sqlCell("c2", "bad", "UPDATE t\nSET v = = 1"),
			)},
			errors: []string{"c2 parse 2:9"},
		},
		{
			name: "Writers/VarInWriter",
			arts: []nbArtifact{art(
				inputCell("i1", "k", 3),
				writersCreate("c1"),
				sqlCell("c2", "fill", "INSERT INTO t VALUES ({{k}}, {{ k }})"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name:     "Postgres/CopyColumnsToStdoutReads",
			arts:     []nbArtifact{art(pgCell("c1", "dump", "COPY test (id) TO stdout"))},
			external: []string{"c1: test"},
		},
		{
			name:     "Postgres/CopyTableToFileReads",
			arts:     []nbArtifact{art(pgCell("c1", "dump", "COPY t TO 'f.csv'"))},
			external: []string{"c1: t"},
		},
		{
			name:     "Postgres/CopyQueryToReads",
			arts:     []nbArtifact{art(pgCell("c1", "dump", "COPY (SELECT * FROM s.a JOIN b USING (id)) TO stdout"))},
			external: []string{"c1: b s.a"},
		},
		{
			name:     "Postgres/CopyFromDoesNotRead",
			arts:     []nbArtifact{art(pgCell("c1", "load", "COPY t FROM stdin"))},
			external: []string{"c1:"},
		},
		{
			name:     "Postgres/CreateTableLikeReads",
			arts:     []nbArtifact{art(pgCell("c1", "mk", "CREATE TABLE t (LIKE src INCLUDING ALL)"))},
			external: []string{"c1: src"},
		},
		{
			name:     "Postgres/TruncateTargetsAreNotReads",
			arts:     []nbArtifact{art(pgCell("c1", "wipe", "TRUNCATE a, b"))},
			external: []string{"c1:"},
		},
		{
			name:     "Postgres/LockTargetIsNotARead",
			arts:     []nbArtifact{art(pgCell("c1", "lock", "BEGIN; LOCK TABLE x IN SHARE MODE; SELECT * FROM y"))},
			external: []string{"c1: y"},
		},
		{
			name:     "Postgres/GrantTargetIsNotARead",
			arts:     []nbArtifact{art(pgCell("c1", "grant", "GRANT SELECT ON x TO PUBLIC"))},
			external: []string{"c1:"},
		},
		{
			name:     "Postgres/DMLTargetsAreNotReads",
			arts:     []nbArtifact{art(pgCell("c1", "dml", "INSERT INTO a SELECT * FROM b; UPDATE c SET v = (SELECT max(v) FROM d); DELETE FROM e USING f WHERE e.id = f.id"))},
			external: []string{"c1: b d f"},
		},
		{
			name:     "Postgres/AnalyzeReads",
			arts:     []nbArtifact{art(pgCell("c1", "stats", "ANALYZE public.events"))},
			external: []string{"c1: public.events"},
		},
	}
}
