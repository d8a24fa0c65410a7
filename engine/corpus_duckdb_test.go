package engine_test

// Dependency corpus, DuckDB dialect: DESIGN.md "Dependency rules" 1 (relation
// positions), 2 (what is not a reference) and 3 (CTE scoping), with the name
// forms of "Names and where results live": artifact schema, result database,
// schemaName, case and quoting. Expectations follow the rules as written.

func init() {
	// Cells most cases start from.
	orders := func(id string) nbCell {
		return sqlCell(id, "orders", "SELECT * FROM (VALUES (1, 10, 'EU', 99.5, TIMESTAMP '2024-01-01')) AS t(id, customer_id, region, amount, ts)")
	}
	customers := func(id string) nbCell {
		return sqlCell(id, "customers", "SELECT * FROM (VALUES (10, 'Ada', 'Paris')) AS t(id, name, city)")
	}

	corpus = append(corpus,
		// ---------------------------------------------------------------
		// Rule 1: every relation position.
		// ---------------------------------------------------------------
		corpusCase{
			name:     "Rule1/FromCommaList",
			arts:     []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "pairs", "SELECT o.id, c.name FROM orders o, customers c WHERE o.customer_id = c.id"))},
			deps:     []string{"c3: c1 c2"},
			external: []string{"c3:"},
			defines:  []string{"c3: pairs"},
		},
		corpusCase{
			name: "Rule1/InnerJoinOn",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "enriched", "SELECT o.id, c.name\nFROM orders AS o\nINNER JOIN customers AS c ON o.customer_id = c.id"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/LeftJoinUsing",
			arts: []nbArtifact{art(
				sqlCell("c1", "visits", "SELECT 10 AS customer_id, 3 AS n"),
				orders("c2"),
				sqlCell("c3", "funnel", "SELECT * FROM visits LEFT JOIN orders USING (customer_id)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/RightAndFullOuterJoin",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "returns", "SELECT 1 AS order_id"),
				sqlCell("c4", "audit", "SELECT * FROM orders o RIGHT JOIN customers c ON o.customer_id = c.id FULL OUTER JOIN returns r ON r.order_id = o.id"))},
			deps: []string{"c4: c1 c2 c3"},
		},
		corpusCase{
			name: "Rule1/CrossJoin",
			arts: []nbArtifact{art(
				sqlCell("c1", "dates", "SELECT * FROM range(DATE '2024-01-01', DATE '2024-02-01', INTERVAL 1 DAY) AS t(d)"),
				sqlCell("c2", "stores", "SELECT 1 AS store_id"),
				sqlCell("c3", "grid", "SELECT * FROM dates CROSS JOIN stores"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/NaturalJoin",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "shipments", "SELECT 1 AS id, 'sent' AS state"),
				sqlCell("c3", "tracked", "SELECT * FROM orders NATURAL JOIN shipments"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SemiAndAntiJoin",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "buyers", "SELECT * FROM customers SEMI JOIN orders ON orders.customer_id = customers.id"),
				sqlCell("c4", "idle", "FROM customers c ANTI JOIN orders o ON o.customer_id = c.id"))},
			deps: []string{"c3: c1 c2", "c4: c1 c2"},
		},
		corpusCase{
			name:     "Rule1/SubqueryInFrom",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "big_count", "SELECT count(*) AS n FROM (SELECT * FROM orders WHERE amount > 50) AS big"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule1/NestedSubqueries",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "deep", "SELECT * FROM (SELECT * FROM (SELECT * FROM (SELECT id FROM orders) a) b) c"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/SubqueryInWhereIn",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "buyers", "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInWhereNotExists",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "dormant", "SELECT * FROM customers c\nWHERE NOT EXISTS (\n  SELECT 1 FROM orders o WHERE o.customer_id = c.id\n)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInWhereComparison",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "above_avg", "SELECT * FROM orders WHERE amount > (SELECT avg(amount) FROM orders)"),
				sqlCell("c3", "thresholds", "SELECT 100 AS min_amount"),
				sqlCell("c4", "flagged", "SELECT 1 AS x WHERE 5 < ALL (SELECT min_amount FROM thresholds)"))},
			deps: []string{"c2: c1", "c4: c3"},
		},
		corpusCase{
			name: "Rule1/ScalarSubqueryInSelect",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "per_customer", "SELECT c.name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/ScalarSubqueryWithoutFrom",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "kpis", "SELECT (SELECT sum(amount) FROM orders) AS revenue, 42 AS answer"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/SubqueryInHaving",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "targets", "SELECT 'EU' AS region, 50 AS goal"),
				sqlCell("c3", "hits", "SELECT region, sum(amount) AS total FROM orders GROUP BY region\nHAVING sum(amount) > (SELECT max(goal) FROM targets)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInJoinOn",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "blocked", "SELECT 10 AS customer_id"),
				sqlCell("c4", "clean", "SELECT o.* FROM orders o JOIN customers c\n  ON o.customer_id = c.id AND c.id NOT IN (SELECT customer_id FROM blocked)"))},
			deps: []string{"c4: c1 c2 c3"},
		},
		corpusCase{
			name: "Rule1/SubqueryInCaseExpression",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "vip", "SELECT 10 AS customer_id"),
				sqlCell("c3", "labelled", "SELECT id, CASE WHEN customer_id IN (SELECT customer_id FROM vip) THEN 'vip' ELSE 'std' END AS tier FROM orders"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInQualify",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "limits", "SELECT 3 AS n"),
				sqlCell("c3", "top_orders", "SELECT * FROM orders QUALIFY row_number() OVER (ORDER BY amount DESC) <= (SELECT n FROM limits)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInOrderBy",
			arts: []nbArtifact{art(customers("c1"), sqlCell("c2", "ranking", "SELECT 10 AS id, 1 AS pos"),
				sqlCell("c3", "sorted", "SELECT * FROM customers c ORDER BY (SELECT pos FROM ranking r WHERE r.id = c.id)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/ArraySubquery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "id_list", "SELECT ARRAY(SELECT id FROM orders ORDER BY id) AS ids"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/UnionAll",
			arts: []nbArtifact{art(
				sqlCell("c1", "sales_2023", "SELECT 2023 AS y, 1.0 AS amount"),
				sqlCell("c2", "sales_2024", "SELECT 2024 AS y, 2.0 AS amount"),
				sqlCell("c3", "sales", "SELECT * FROM sales_2023\nUNION ALL\nSELECT * FROM sales_2024"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/UnionByName",
			arts: []nbArtifact{art(
				sqlCell("c1", "eu", "SELECT 1 AS id, 'EU' AS region"),
				sqlCell("c2", "us", "SELECT 'US' AS region, 2 AS id"),
				sqlCell("c3", "world", "FROM eu UNION ALL BY NAME FROM us"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/IntersectAndExcept",
			arts: []nbArtifact{art(
				sqlCell("c1", "a_ids", "SELECT 1 AS id"),
				sqlCell("c2", "b_ids", "SELECT 1 AS id"),
				sqlCell("c3", "c_ids", "SELECT 2 AS id"),
				sqlCell("c4", "both_not_c", "(SELECT id FROM a_ids INTERSECT SELECT id FROM b_ids) EXCEPT SELECT id FROM c_ids"))},
			deps: []string{"c4: c1 c2 c3"},
		},
		corpusCase{
			name: "Rule1/SetOperationInSubquery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "archived", "SELECT * FROM orders LIMIT 0"),
				sqlCell("c3", "all_count", "SELECT count(*) FROM (FROM orders UNION ALL FROM archived) AS u"))},
			deps: []string{"c2: c1", "c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/LateralSubquery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "latest", "SELECT c.name, l.amount\nFROM customers c,\nLATERAL (SELECT amount FROM orders o WHERE o.customer_id = c.id ORDER BY ts DESC LIMIT 1) AS l"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/LeftJoinLateral",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "latest_or_none", "SELECT * FROM customers c LEFT JOIN LATERAL (SELECT max(ts) AS last_ts FROM orders o WHERE o.customer_id = c.id) l ON true"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/ImplicitLateral",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "counts", "SELECT c.id, x.n FROM customers c, (SELECT count(*) AS n FROM orders o WHERE o.customer_id = c.id) x"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/AsofJoin",
			arts: []nbArtifact{art(
				sqlCell("c1", "trades", "SELECT 'X' AS sym, TIMESTAMP '2024-01-01 10:00:01' AS ts, 10 AS qty"),
				sqlCell("c2", "quotes", "SELECT 'X' AS sym, TIMESTAMP '2024-01-01 10:00:00' AS ts, 1.5 AS px"),
				sqlCell("c3", "priced", "SELECT t.*, q.px FROM trades t ASOF JOIN quotes q ON t.sym = q.sym AND t.ts >= q.ts"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/AsofLeftJoinUsing",
			arts: []nbArtifact{art(
				sqlCell("c1", "trades", "SELECT 'X' AS sym, TIMESTAMP '2024-01-01 10:00:01' AS ts"),
				sqlCell("c2", "quotes", "SELECT 'X' AS sym, TIMESTAMP '2024-01-01 10:00:00' AS ts, 1.5 AS px"),
				sqlCell("c3", "priced_all", "FROM trades ASOF LEFT JOIN quotes USING (sym, ts)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/PositionalJoin",
			arts: []nbArtifact{art(
				sqlCell("c1", "names", "SELECT unnest(['a', 'b']) AS name"),
				sqlCell("c2", "scores", "SELECT unnest([1, 2]) AS score"),
				sqlCell("c3", "zipped", "SELECT * FROM names POSITIONAL JOIN scores"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name:    "Rule1/PivotInFromClause",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "by_region", "SELECT * FROM orders PIVOT (sum(amount) FOR region IN ('EU', 'US'))"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: by_region"},
		},
		corpusCase{
			name: "Rule1/PivotFromFirst",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "by_region", "FROM orders PIVOT (sum(amount) AS total FOR region IN ('EU', 'US') GROUP BY customer_id)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/PivotStatement",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT orders ON region USING sum(amount)"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: wide"},
		},
		corpusCase{
			name: "Rule1/PivotStatementWithInList",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT orders ON region IN ('EU', 'US') USING sum(amount) GROUP BY customer_id"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/PivotStatementMultiline",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT orders\nON region\nUSING sum(amount) AS total, count(*) AS n\nGROUP BY customer_id\nORDER BY customer_id"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/PivotStatementSubquerySource",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "wide", "PIVOT (SELECT o.*, c.city FROM orders o JOIN customers c ON o.customer_id = c.id) ON city USING sum(amount)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/PivotWiderStatement",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT_WIDER orders ON region USING count(*)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/UnpivotStatement",
			arts:    []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"), sqlCell("c2", "long", "UNPIVOT monthly ON jan, feb INTO NAME month VALUE sales"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: long"},
		},
		corpusCase{
			name: "Rule1/UnpivotColumnsExpression",
			arts: []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"), sqlCell("c2", "long", "UNPIVOT monthly ON COLUMNS(* EXCLUDE (product)) INTO NAME month VALUE sales"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/UnpivotInFromClause",
			arts: []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"), sqlCell("c2", "long", "SELECT * FROM monthly UNPIVOT (sales FOR month IN (jan, feb))"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/DescribeTable",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "orders_schema", "DESCRIBE orders"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: orders_schema"},
		},
		corpusCase{
			name: "Rule1/DescribeQuery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "join_schema", "DESCRIBE SELECT * FROM orders JOIN customers ON orders.customer_id = customers.id"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/DescribeQualified",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "orders_schema", "DESCRIBE artifact_nb.orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/SummarizeTable",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "profile", "SUMMARIZE orders"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: profile"},
		},
		corpusCase{
			name: "Rule1/SummarizeQuery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "profile", "SUMMARIZE SELECT amount, region FROM orders WHERE amount > 0"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/SummarizeFromFirst",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "profile", "SUMMARIZE FROM orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/FromFirstOnly",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "copy", "FROM orders"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: copy"},
		},
		corpusCase{
			name: "Rule1/FromFirstWithSelect",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "ids", "FROM orders SELECT id, amount WHERE amount > 10 ORDER BY id"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/FromFirstJoin",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "joined", "FROM orders o JOIN customers c ON o.customer_id = c.id SELECT c.name, o.amount"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/FromFirstInSubquery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "buyers", "FROM customers WHERE id IN (FROM orders SELECT customer_id)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/JoinWithTableFunction",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "padded", "SELECT r.range AS slot, o.amount FROM range(5) r LEFT JOIN orders o ON o.id = r.range"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			// Reading: a subquery is a relation position wherever it stands,
			// an argument of a table function included; rule 2 excludes the
			// names a table function receives as arguments (strings, columns).
			name: "Rule1/SubqueryAsTableFunctionArgument",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "slots", "SELECT * FROM range((SELECT max(id) FROM orders))"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/UnnestOfSubqueryColumn",
			arts: []nbArtifact{art(sqlCell("c1", "baskets", "SELECT 1 AS id, [1, 2, 3] AS items"), sqlCell("c2", "items", "SELECT b.id, unnest(b.items) AS item FROM baskets b"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/SampleClauses",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "sample_a", "SELECT * FROM orders USING SAMPLE 10%"),
				sqlCell("c4", "sample_b", "SELECT * FROM customers TABLESAMPLE reservoir(5 ROWS)"))},
			deps: []string{"c3: c1", "c4: c2"},
		},
		corpusCase{
			name: "Rule1/ValuesJoinedToCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "labels", "SELECT * FROM (VALUES ('EU', 'Europe'), ('US', 'America')) AS v(region, label) JOIN orders USING (region)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/GroupByAllAndWindow",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "running", "SELECT region, ts, sum(amount) OVER (PARTITION BY region ORDER BY ts) AS running FROM orders"),
				sqlCell("c3", "totals", "SELECT region, sum(amount) FROM orders GROUP BY ALL"))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name:     "Rule1/QualifiedArtifactSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "b", "SELECT * FROM artifact_nb.orders"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},
		corpusCase{
			name:     "Rule1/QualifiedResultDatabase",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "b", "SELECT * FROM __sqlrooms_ephemeral.artifact_nb.orders"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule1/QualifiedInJoinAndSubquery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "r", "SELECT * FROM artifact_nb.orders o JOIN __sqlrooms_ephemeral.artifact_nb.customers c ON o.customer_id = c.id WHERE o.id IN (SELECT id FROM artifact_nb.orders)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/UpperCaseReference",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", "SELECT * FROM ORDERS"), sqlCell("c3", "c", "select * from Orders"))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name: "Rule1/QuotedReference",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", `SELECT * FROM "orders"`))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/QuotedMixedCaseReference",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", `SELECT * FROM "Orders"`), sqlCell("c3", "c", `FROM "ORDERS" o JOIN "oRdErS" p USING (id)`))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name: "Rule1/MixedCaseResultName",
			arts: []nbArtifact{art(sqlCell("c1", "TopCustomers", "SELECT 1 AS id"), sqlCell("c2", "b", "SELECT * FROM topcustomers"), sqlCell("c3", "c", "SELECT * FROM TOPCUSTOMERS"))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name: "Rule1/QuotedQualifiedCaseInsensitive",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", `SELECT * FROM "__sqlrooms_ephemeral"."artifact_nb"."orders"`), sqlCell("c3", "c", "SELECT * FROM ARTIFACT_NB.Orders"), sqlCell("c4", "d", `FROM "Artifact_NB"."ORDERS"`))},
			deps: []string{"c2: c1", "c3: c1", "c4: c1"},
		},
		corpusCase{
			name: "Rule1/ArtifactIdWithPunctuation",
			arts: []nbArtifact{{id: "Sales-2024", cells: []nbCell{orders("c1"), sqlCell("c2", "b", "SELECT * FROM artifact_sales_2024.orders"), sqlCell("c3", "c", "FROM __sqlrooms_ephemeral.artifact_sales_2024.orders")}}},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name: "Rule1/TitledCellName",
			arts: []nbArtifact{art(
				titledCell("c1", "Top Customers.csv", "SELECT 1 AS id"),
				sqlCell("c2", "b", "SELECT * FROM top_customers"),
				sqlCell("c3", "c", "SELECT * FROM artifact_nb.Top_Customers"))},
			deps:    []string{"c2: c1", "c3: c1"},
			defines: []string{"c1: top_customers"},
		},
		corpusCase{
			name: "Rule1/ChainOfCells",
			arts: []nbArtifact{art(orders("c1"),
				sqlCell("c2", "paid", "SELECT * FROM orders WHERE amount > 0"),
				sqlCell("c3", "paid_eu", "SELECT * FROM paid WHERE region = 'EU'"),
				sqlCell("c4", "paid_eu_total", "SELECT sum(amount) FROM paid_eu"))},
			deps: []string{"c2: c1", "c3: c2", "c4: c3"},
		},
		corpusCase{
			name: "Rule1/ReferenceToLaterCell",
			arts: []nbArtifact{art(sqlCell("c1", "report", "SELECT * FROM orders"), orders("c2"))},
			deps: []string{"c1: c2"},
		},
		corpusCase{
			name: "Rule1/ReferencedTwice",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "selfjoin", "SELECT a.id, b.id FROM orders a JOIN orders b ON a.customer_id = b.customer_id AND a.id < b.id"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/MultiStatementLastQuery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", "SET threads = 2;\nSELECT * FROM orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/MultiStatementEveryStatement",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "b", "SELECT count(*) FROM orders;\nSELECT * FROM customers;"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/MultiStatementTempTable",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "b", "CREATE OR REPLACE TEMP TABLE scratch AS SELECT * FROM orders WHERE amount > 10;\nSELECT count(*) FROM scratch"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/MultiStatementWithComments",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "b", "-- first the orders\nSELECT * FROM orders; /* then */\n-- the customers\nFROM customers"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/CTEBodyReadsCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "big_count", "WITH big AS (SELECT * FROM orders WHERE amount > 100)\nSELECT count(*) FROM big"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/CTEBodiesReadCells",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "report", "WITH o AS (FROM orders), c AS (FROM customers)\nSELECT c.name, sum(o.amount) FROM o JOIN c ON o.customer_id = c.id GROUP BY c.name"))},
			deps: []string{"c3: c1 c2"},
		},

		// ---------------------------------------------------------------
		// Rule 2: what is not a reference.
		// ---------------------------------------------------------------
		corpusCase{
			name:     "Rule2/StringLiteral",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "label", "SELECT 'orders' AS source"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule2/StringLiteralWithSQL",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "notes", "SELECT * FROM customers WHERE name <> 'SELECT * FROM orders' AND city LIKE '%JOIN orders%'"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/DollarQuotedString",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "query_text", "SELECT $$SELECT * FROM orders$$ AS q, $tag$FROM orders$tag$ AS r"))},
		},
		corpusCase{
			name: "Rule2/EscapedQuoteString",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "msg", "SELECT 'it''s FROM orders' AS msg, E'\\'JOIN orders' AS e"))},
		},
		corpusCase{
			name:     "Rule2/LineComment",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "one", "-- SELECT * FROM orders\nSELECT 1 AS one"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule2/BlockComment",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT /* FROM orders */ * FROM customers /* JOIN orders USING (id) */"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/TrailingCommentAfterQuery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT * FROM customers\n-- TODO: JOIN orders ON orders.customer_id = customers.id"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name:     "Rule2/ColumnNamedLikeCell",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "stats", "SELECT 10 AS id, 3 AS orders"), sqlCell("c3", "busy", "SELECT id, orders FROM stats WHERE orders > 2"))},
			deps:     []string{"c3: c2"},
			external: []string{"c3:"},
		},
		corpusCase{
			name: "Rule2/QualifiedColumnNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "stats", "SELECT 10 AS id, 3 AS orders"), sqlCell("c3", "busy", "SELECT stats.orders, s.orders FROM stats, stats s"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/QuotedColumnNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", `SELECT "orders", "Orders" + 1 FROM (SELECT 1 AS orders) AS t, customers`))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/ColumnAlias",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT count(*) AS orders FROM customers ORDER BY orders"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name:     "Rule2/TableAlias",
			arts:     []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT orders.name FROM customers AS orders"))},
			deps:     []string{"c3: c2"},
			external: []string{"c3:"},
		},
		corpusCase{
			name: "Rule2/TableAliasWithoutAs",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "FROM customers orders SELECT orders.city"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/TableAliasColumnList",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT orders FROM customers AS c(orders, name, city)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name:     "Rule2/SubqueryAlias",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT orders.id FROM (SELECT 1 AS id) AS orders"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name:     "Rule2/ValuesAlias",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS orders(id, label)"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule2/TableFunctionAlias",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT orders.n FROM range(3) AS orders(n)"))},
		},
		corpusCase{
			name: "Rule2/StructFieldNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT s.orders, s['orders'] FROM (SELECT {'orders': 3, 'id': 1} AS s) AS t"))},
		},
		corpusCase{
			name: "Rule2/JoinUsingColumnNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "left_side", "SELECT 1 AS orders"), sqlCell("c3", "right_side", "SELECT 1 AS orders"),
				sqlCell("c4", "c", "SELECT * FROM left_side JOIN right_side USING (orders)"))},
			deps: []string{"c4: c2 c3"},
		},
		corpusCase{
			name: "Rule2/WindowNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "events", "SELECT 1 AS x"), sqlCell("c3", "c", "SELECT sum(x) OVER orders AS s FROM events WINDOW orders AS (ORDER BY x)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/LambdaParameterNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT list_transform([1, 2, 3], lambda orders: orders * 2) AS doubled"))},
		},
		corpusCase{
			name: "Rule2/ExcludeAndColumnsNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "stats", "SELECT 1 AS id, 2 AS orders"), sqlCell("c3", "c", "SELECT * EXCLUDE (orders), COLUMNS('orders') FROM stats"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name:     "Rule2/ReadParquetArgument",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "raw", "SELECT * FROM read_parquet('orders.parquet')"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule2/ReadCsvArgumentsAndJoin",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "raw", "SELECT * FROM read_csv('data/orders.csv', header = true, names = ['orders', 'customers']) r JOIN customers c ON r.customers = c.id"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/ReadJsonGlobArgument",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "raw", "FROM read_json_auto('s3://bucket/orders/*.json')"))},
		},
		corpusCase{
			name: "Rule2/RangeArgumentNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "nums", "SELECT * FROM range(orders)"))},
		},
		corpusCase{
			name: "Rule2/UnnestArgumentColumn",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "baskets", "SELECT 1 AS id, [1, 2] AS orders"), sqlCell("c3", "flat", "SELECT b.id, u.x FROM baskets b, unnest(b.orders) AS u(x)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/QueryTableArgument",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM query_table('orders')"))},
		},
		corpusCase{
			name: "Rule2/QueryFunctionArgument",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM query('SELECT * FROM orders')"))},
		},
		corpusCase{
			name:     "Rule2/FileNameStringInFrom",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM 'orders.csv'"), sqlCell("c3", "d", "FROM 'orders'"))},
			external: []string{"c2:", "c3:"},
		},
		corpusCase{
			name: "Rule2/TableFunctionNamedLikeCell",
			arts: []nbArtifact{art(sqlCell("c1", "range", "SELECT 1 AS x"), sqlCell("c2", "c", "SELECT * FROM range(10)"), sqlCell("c3", "d", "SELECT * FROM range"))},
			deps: []string{"c3: c1"},
		},
		corpusCase{
			name:     "Rule2/MainSchemaInJoin",
			arts:     []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "SELECT * FROM orders o JOIN main.customers c ON o.customer_id = c.id"))},
			deps:     []string{"c3: c1"},
			external: []string{"c3: main.customers"},
		},
		corpusCase{
			name:     "Rule2/OtherSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM staging.orders"))},
			external: []string{"c2: staging.orders"},
		},
		corpusCase{
			name:     "Rule2/OtherCatalog",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM memory.main.orders"))},
			external: []string{"c2: memory.main.orders"},
		},
		corpusCase{
			name:     "Rule2/OtherCatalogWithArtifactSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM warehouse.artifact_nb.orders"))},
			external: []string{"c2: warehouse.artifact_nb.orders"},
		},
		corpusCase{
			name:     "Rule2/ResultDatabaseMainSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM __sqlrooms_ephemeral.main.orders"))},
			external: []string{"c2: __sqlrooms_ephemeral.main.orders"},
		},
		corpusCase{
			name:     "Rule2/SchemaNamedLikeCell",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "items", "SELECT 1 AS id"), sqlCell("c3", "c", "SELECT * FROM orders.items"))},
			external: []string{"c3: orders.items"},
		},
		corpusCase{
			name:     "Rule2/PrefixOfCellNameIsOtherTable",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM orders_2024 UNION ALL SELECT * FROM orders2"))},
			external: []string{"c2: orders2 orders_2024"},
		},
		corpusCase{
			name:     "Rule2/DescribeMainSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "DESCRIBE main.orders"))},
			external: []string{"c2: main.orders"},
		},
		corpusCase{
			name: "Rule2/SummarizeFile",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SUMMARIZE SELECT * FROM read_csv('orders.csv')"))},
		},
		corpusCase{
			name: "Rule2/PivotInListStrings",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "sales", "SELECT 'orders' AS kind, 1 AS x"),
				sqlCell("c3", "c", "PIVOT sales ON kind IN ('orders', 'returns') USING sum(x)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/PivotOnColumnNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "sales", "SELECT 'a' AS orders, 1 AS amount"),
				sqlCell("c3", "c", "PIVOT sales ON orders USING sum(amount)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule2/UnpivotIntoNamesLikeCells",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "monthly", "SELECT 1 AS jan, 2 AS feb"),
				sqlCell("c4", "c", "UNPIVOT monthly ON jan, feb INTO NAME orders VALUE customers"))},
			deps: []string{"c4: c3"},
		},
		corpusCase{
			name:     "Rule2/InformationSchemaLookup",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"))},
			external: []string{"c2: information_schema.columns"},
		},
		corpusCase{
			name: "Rule2/CatalogFunctionLookup",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT estimated_size FROM duckdb_tables() WHERE table_name = 'orders'"))},
		},
		corpusCase{
			name:     "Rule2/OtherArtifactUnqualified",
			arts:     []nbArtifact{{id: "nb1", cells: []nbCell{orders("c1")}}, {id: "nb2", cells: []nbCell{sqlCell("c2", "c", "SELECT * FROM orders")}}},
			external: []string{"c2: orders"},
		},
		corpusCase{
			name: "Rule2/OtherArtifactQualified",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{orders("c1")}},
				{id: "nb2", cells: []nbCell{sqlCell("c2", "c", "SELECT * FROM artifact_nb1.orders"), sqlCell("c3", "d", "SELECT * FROM __sqlrooms_ephemeral.artifact_nb1.orders")}},
			},
			external: []string{"c2: artifact_nb1.orders", "c3: __sqlrooms_ephemeral.artifact_nb1.orders"},
		},
		corpusCase{
			name: "Rule2/SameNameInTwoArtifacts",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{orders("a1"), sqlCell("a2", "c", "FROM orders")}},
				{id: "nb2", cells: []nbCell{orders("b1"), sqlCell("b2", "c", "FROM orders"), sqlCell("b3", "d", "FROM artifact_nb1.orders")}},
			},
			deps:     []string{"a2: a1", "b2: b1"},
			external: []string{"b3: artifact_nb1.orders"},
		},
		corpusCase{
			name:     "Rule2/TextCellIsNotACell",
			arts:     []nbArtifact{art(textCell("t1"), sqlCell("c1", "notes", "SELECT 1"), sqlCell("c2", "c", "SELECT * FROM notes"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},

		// ---------------------------------------------------------------
		// Rule 3: CTE scoping.
		// ---------------------------------------------------------------
		corpusCase{
			name:     "Rule3/CTEShadowsCell",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id)\nSELECT * FROM orders"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule3/CTEShadowsCaseInsensitive",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH Orders AS (SELECT 1 AS id) FROM ORDERS"), sqlCell("c3", "d", `WITH "ORDERS" AS (SELECT 1 AS id) FROM "orders"`))},
		},
		corpusCase{
			name: "Rule3/CTENamedLikeOtherCell",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "WITH customers AS (SELECT DISTINCT customer_id AS id FROM orders)\nSELECT * FROM customers"))},
			deps: []string{"c3: c1"},
		},
		corpusCase{
			name: "Rule3/CTEBodyOwnNameIsOuterRelation",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT * FROM orders WHERE amount > 0)\nSELECT count(*) FROM orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:     "Rule3/CTEBodyOwnNameWithoutCellIsExternal",
			arts:     []nbArtifact{art(customers("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT * FROM orders)\nSELECT * FROM orders JOIN customers ON orders.customer_id = customers.id"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2: orders"},
		},
		corpusCase{
			name: "Rule3/CTESeesEarlierSibling",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "a", "SELECT 1 AS id"),
				sqlCell("c3", "c", "WITH a AS (SELECT * FROM orders), b AS (SELECT * FROM a)\nSELECT * FROM b"))},
			deps:     []string{"c3: c1"},
			external: []string{"c3:"},
		},
		corpusCase{
			name: "Rule3/CTEDoesNotSeeLaterSibling",
			arts: []nbArtifact{art(sqlCell("c1", "b", "SELECT 1 AS id"),
				sqlCell("c2", "c", "WITH a AS (SELECT * FROM b), b AS (SELECT 2 AS id)\nSELECT * FROM a UNION ALL SELECT * FROM b"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEShadowsWholeMainQuery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "c", "WITH orders AS (SELECT 10 AS customer_id)\nSELECT * FROM customers c\nWHERE c.id IN (SELECT customer_id FROM orders)\n  AND EXISTS (FROM orders o WHERE o.customer_id = c.id)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule3/OuterCTEVisibleInLateral",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "c", "WITH orders AS (SELECT 10 AS customer_id, 5 AS amount)\nSELECT * FROM customers c, LATERAL (SELECT sum(amount) AS s FROM orders o WHERE o.customer_id = c.id)"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule3/OuterCTEVisibleInSetOperation",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "archived", "SELECT 1 AS id"),
				sqlCell("c3", "c", "WITH orders AS (SELECT 2 AS id)\nSELECT id FROM orders UNION SELECT id FROM archived"))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name:     "Rule3/CTEInSubqueryIsLocal",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM (WITH orders AS (SELECT 1 AS id) SELECT * FROM orders) AS s"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule3/CTEInSubqueryDoesNotShadowOutside",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM (WITH orders AS (SELECT 1 AS id) SELECT * FROM orders) AS s\nJOIN orders USING (id)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEInScalarSubqueryIsLocal",
			arts: []nbArtifact{art(sqlCell("c1", "recent", "SELECT 1 AS id"),
				sqlCell("c2", "c", "SELECT (WITH recent AS (SELECT 1 AS id) SELECT count(*) FROM recent) AS a,\n       (SELECT count(*) FROM recent) AS b"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEInWhereSubqueryIsLocal",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "c", "SELECT * FROM customers WHERE id IN (WITH customers AS (SELECT customer_id AS id FROM orders) SELECT id FROM customers)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule3/CTEInExistsSubqueryReadsCells",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "c", "SELECT * FROM customers c WHERE EXISTS (WITH o AS (SELECT * FROM orders) SELECT 1 FROM o WHERE o.customer_id = c.id)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule3/CTEInSetOperationBranchIsLocal",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM (WITH orders AS (SELECT 1 AS id) SELECT id FROM orders) AS a\nUNION ALL\nSELECT id FROM orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/NestedCTEShadowsInsideBody",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH a AS (WITH orders AS (SELECT 1 AS id) SELECT * FROM orders)\nSELECT * FROM a"))},
		},
		corpusCase{
			name: "Rule3/NestedCTEInnerReadsCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH a AS (WITH b AS (FROM orders) FROM b)\nFROM a"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/NestedCTENameIsLocalToBody",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH a AS (WITH orders AS (SELECT 1 AS id) FROM orders)\nSELECT * FROM a JOIN orders USING (id)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:     "Rule3/OuterCTEVisibleInNestedCTE",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id),\n     a AS (WITH b AS (FROM orders) FROM b)\nFROM a"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule3/NestedCTEShadowsOuterCTE",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH x AS (FROM orders)\nSELECT * FROM (WITH x AS (SELECT 1 AS id) FROM x) s"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:     "Rule3/RecursiveCTESeesItself",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "seq", "WITH RECURSIVE orders(n) AS (\n  SELECT 1\n  UNION ALL\n  SELECT n + 1 FROM orders WHERE n < 5\n)\nSELECT * FROM orders"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule3/RecursiveCTEBaseReadsCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "nodes", "SELECT * FROM (VALUES (1, NULL), (2, 1)) AS t(id, parent)"),
				sqlCell("c2", "tree", "SELECT 0 AS id"),
				sqlCell("c3", "paths", "WITH RECURSIVE tree AS (\n  SELECT id, parent, 0 AS depth FROM nodes WHERE parent IS NULL\n  UNION ALL\n  SELECT n.id, n.parent, t.depth + 1 FROM nodes n JOIN tree t ON n.parent = t.id\n)\nSELECT * FROM tree"))},
			deps: []string{"c3: c1"},
		},
		corpusCase{
			name: "Rule3/RecursiveCTEUnionDistinct",
			arts: []nbArtifact{art(sqlCell("c1", "edges", "SELECT 1 AS src, 2 AS dst"), sqlCell("c2", "reach", "SELECT 1 AS node"),
				sqlCell("c3", "reachable", "WITH RECURSIVE reach(node) AS (SELECT 1 UNION SELECT e.dst FROM reach r JOIN edges e ON e.src = r.node)\nFROM reach"))},
			deps: []string{"c3: c1"},
		},
		corpusCase{
			name: "Rule3/RecursiveCTEInSubqueryIsLocal",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM (WITH RECURSIVE orders(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM orders WHERE n < 3) FROM orders) s, orders o"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEDoesNotShadowQualifiedName",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id)\nSELECT * FROM orders JOIN artifact_nb.orders o USING (id)"),
				sqlCell("c3", "d", "WITH orders AS (SELECT 1 AS id) FROM __sqlrooms_ephemeral.artifact_nb.orders"))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name:     "Rule3/CTEAndMainSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id) FROM main.orders"))},
			external: []string{"c2: main.orders"},
		},
		corpusCase{
			name: "Rule3/MaterializedCTE",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH o AS MATERIALIZED (FROM orders), p AS NOT MATERIALIZED (FROM o)\nSELECT count(*) FROM p"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEUsedTwice",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH o AS (FROM orders)\nFROM o UNION ALL FROM o"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEColumnListNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH t(orders) AS (SELECT 1)\nSELECT orders FROM t"))},
		},
		corpusCase{
			name: "Rule3/CTEScopeEndsAtStatement",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id) SELECT * FROM orders;\nSELECT * FROM orders"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/CTEInDescribeQuery",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "DESCRIBE WITH customers AS (FROM orders) SELECT * FROM customers"))},
			deps: []string{"c3: c1"},
		},
		corpusCase{
			name: "Rule3/CTEAsPivotSource",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "WITH o AS (SELECT region, amount FROM orders)\nSELECT * FROM o PIVOT (sum(amount) FOR region IN ('EU', 'US'))"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule3/PivotStatementSourceSubqueryWithCTE",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "PIVOT (WITH orders AS (SELECT 'EU' AS region, 1 AS amount) FROM orders) ON region USING sum(amount)"))},
		},

		// ---------------------------------------------------------------
		// PIVOT statements outside the plain `PIVOT t ON c USING agg` shape,
		// and further relation positions.
		// ---------------------------------------------------------------
		corpusCase{
			name: "Rule1/PivotStatementAfterWith",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "WITH o AS (SELECT region, amount, customer_id FROM orders)\nPIVOT o ON region USING sum(amount)"),
				sqlCell("c3", "eu_only", "SELECT customer_id, EU FROM wide"))},
			deps:    []string{"c2: c1", "c3: c2"},
			defines: []string{"c2: wide"},
		},
		corpusCase{
			name:     "Rule1/PivotStatementAfterWithInList",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "WITH o AS (FROM orders) PIVOT o ON region IN ('EU', 'US') USING sum(amount)"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule1/PivotStatementInListSubquery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "regions", "SELECT 'EU' AS region"),
				sqlCell("c3", "wide", "PIVOT orders ON region IN (SELECT region FROM regions) USING sum(amount)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/PivotStatementLimitSubquery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "limits", "SELECT 10 AS n"),
				sqlCell("c3", "wide", "PIVOT orders ON region USING sum(amount) GROUP BY customer_id ORDER BY customer_id LIMIT (SELECT n FROM limits)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name:    "Rule1/PivotStatementInSubquery",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "SELECT * FROM (PIVOT orders ON region USING sum(amount)) AS p WHERE p.customer_id > 0"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: wide"},
		},
		corpusCase{
			name: "Rule1/PivotStatementInCTE",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "wide", "WITH p AS (PIVOT orders ON region USING sum(amount) GROUP BY customer_id)\nSELECT c.name, p.* FROM p JOIN customers c ON c.id = p.customer_id"))},
			deps:    []string{"c3: c1 c2"},
			defines: []string{"c3: wide"},
		},
		corpusCase{
			name: "Rule1/PivotStatementAfterComment",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "-- revenue per region\n/* one column per region */\nPIVOT orders ON region USING sum(amount)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/MultiStatementPivotLast",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "SET threads = 2;\nPIVOT orders ON region USING sum(amount)"))},
			deps:    []string{"c2: c1"},
			defines: []string{"c2: wide"},
		},
		corpusCase{
			name: "Rule1/PivotStatementQualifiedSource",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT artifact_nb.orders ON region USING sum(amount)"),
				sqlCell("c3", "wide2", "PIVOT __sqlrooms_ephemeral.artifact_nb.orders ON region USING count(*)"))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name:     "Rule2/PivotStatementMainSource",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "wide", "PIVOT main.orders ON region USING sum(amount)"))},
			external: []string{"c2: main.orders"},
		},
		corpusCase{
			name: "Rule1/UnpivotStatementSubquerySource",
			arts: []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"),
				sqlCell("c2", "long", "UNPIVOT (SELECT product, jan, feb FROM monthly WHERE product <> '') ON jan, feb INTO NAME month VALUE sales"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/UnpivotStatementAfterWith",
			arts: []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"),
				sqlCell("c2", "long", "WITH m AS (FROM monthly) UNPIVOT m ON jan, feb INTO NAME month VALUE sales"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:    "Rule1/DescribeQuotedMixedCase",
			arts:    []nbArtifact{art(orders("c1"), sqlCell("c2", "s", `DESCRIBE "Orders"`), sqlCell("c3", "t", "SUMMARIZE __SQLROOMS_EPHEMERAL.ARTIFACT_NB.ORDERS"))},
			deps:    []string{"c2: c1", "c3: c1"},
			defines: []string{"c2: s", "c3: t"},
		},
		corpusCase{
			name:     "Rule2/SummarizeOtherSchemaAndCatalog",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "s", "SUMMARIZE main.orders"), sqlCell("c3", "t", "SUMMARIZE memory.main.orders"))},
			external: []string{"c2: main.orders", "c3: memory.main.orders"},
		},
		corpusCase{
			name: "Rule1/SubqueryInLimit",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "limits", "SELECT 3 AS n"),
				sqlCell("c3", "top", "SELECT * FROM orders ORDER BY amount DESC LIMIT (SELECT n FROM limits)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInAggregateFilter",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "vip", "SELECT 10 AS customer_id"),
				sqlCell("c3", "vip_share", "SELECT count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM vip)) / count(*) AS share FROM orders"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/SubqueryInValuesAndList",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "counts", "VALUES ((SELECT count(*) FROM orders), 'orders')"),
				sqlCell("c4", "ids", "SELECT [(SELECT max(id) FROM customers), 0] AS l"))},
			deps: []string{"c3: c1", "c4: c2"},
		},
		corpusCase{
			name: "Rule1/FromFirstScalarSubquery",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "limits", "SELECT 50 AS n"),
				sqlCell("c3", "big", "FROM orders SELECT * WHERE amount > (FROM limits SELECT n)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/ParenthesizedJoin",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "j", "SELECT * FROM (orders o JOIN customers c ON o.customer_id = c.id)"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule1/LateralUnnestOverCell",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "flat", "FROM orders, LATERAL unnest([id, customer_id]) AS u(x)"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/CommentMarkersInsideString",
			arts: []nbArtifact{art(orders("c1"), customers("c2"),
				sqlCell("c3", "c", "SELECT '-- not a comment' AS a, '/* nor this' AS b, * FROM orders JOIN customers ON customers.id = orders.customer_id"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name:     "Rule2/ResultDatabaseWithoutSchema",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "c", "SELECT * FROM __sqlrooms_ephemeral.orders"))},
			external: []string{"c2: __sqlrooms_ephemeral.orders"},
		},
		corpusCase{
			name: "Rule2/QuotedAliasNamedLikeCell",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", `SELECT "orders".name FROM customers AS "orders"`))},
			deps: []string{"c3: c2"},
		},
		corpusCase{
			name: "Rule1/ParseErrorInSecondStatement",
			arts: []nbArtifact{art(orders("c1"),
				sqlCell("c2", "b", "SELECT * FROM orders;\nSELEC 2"),
				sqlCell("c3", "c", "SELECT * FROM b"))},
			deps:   []string{"c3: c2"},
			errors: []string{"c2 parse 2:1"},
		},
		corpusCase{
			name:     "Rule3/CTENamedLikeOwnCellIsNoCycle",
			arts:     []nbArtifact{art(sqlCell("c1", "report", "WITH report AS (SELECT 1 AS id) SELECT * FROM report"))},
			external: []string{"c1:"},
			defines:  []string{"c1: report"},
		},
		corpusCase{
			name:   "Rule3/CTEBodyReadingOwnCellIsCycle",
			arts:   []nbArtifact{art(sqlCell("c1", "report", "WITH report AS (SELECT * FROM report) SELECT * FROM report"))},
			deps:   []string{"c1: c1"},
			errors: []string{"c1 cycle"},
		},
		corpusCase{
			name: "Rule3/RecursiveCTEUsingKey",
			arts: []nbArtifact{art(sqlCell("c1", "edges", "SELECT 1 AS src, 2 AS dst"), sqlCell("c2", "dist", "SELECT 1 AS node, 0 AS d"),
				sqlCell("c3", "shortest", "WITH RECURSIVE dist(node, d) USING KEY (node) AS (\n  SELECT 1, 0\n  UNION\n  SELECT e.dst, min(dist.d) + 1 FROM dist JOIN edges e ON e.src = dist.node GROUP BY e.dst\n)\nFROM dist"))},
			deps: []string{"c3: c1"},
		},

		corpusCase{
			name:     "Rule1/TableStatement",
			arts:     []nbArtifact{art(orders("c1"), sqlCell("c2", "copy", "TABLE orders"))},
			deps:     []string{"c2: c1"},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule1/QuotedReservedWordName",
			arts: []nbArtifact{art(sqlCell("c1", "order", "SELECT 1 AS id"), sqlCell("c2", "c", `SELECT * FROM "order"`), sqlCell("c3", "d", `FROM artifact_nb."ORDER"`))},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			// One identifier whose text contains a dot: not the name orders
			// qualified with the artifact schema.
			name: "Rule2/QuotedIdentifierContainingDot",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "c", `SELECT * FROM "artifact_nb.orders"`))},
		},
		corpusCase{
			name: "Rule1/UnpivotStatementInSubquery",
			arts: []nbArtifact{art(sqlCell("c1", "monthly", "SELECT 'a' AS product, 1 AS jan, 2 AS feb"),
				sqlCell("c2", "long", "SELECT * FROM (UNPIVOT monthly ON jan, feb INTO NAME month VALUE sales) AS u WHERE sales > 0"))},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/MultiStatementPivotFirst",
			arts: []nbArtifact{art(orders("c1"), customers("c2"), sqlCell("c3", "c", "PIVOT orders ON region USING sum(amount);\nSELECT * FROM customers"))},
			deps: []string{"c3: c1 c2"},
		},
		corpusCase{
			name: "Rule3/WithRecursiveMixedCTEs",
			arts: []nbArtifact{art(orders("c1"), sqlCell("c2", "t", "SELECT 0 AS n"), sqlCell("c3", "a", "SELECT 0 AS id"),
				sqlCell("c4", "c", "WITH RECURSIVE a AS (FROM orders),\n  t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 3)\nSELECT * FROM a, t"))},
			deps: []string{"c4: c1"},
		},
		corpusCase{
			name:     "Rule3/RecursiveCTECaseInsensitive",
			arts:     []nbArtifact{art(sqlCell("c1", "seq", "SELECT 0 AS n"), sqlCell("c2", "c", "WITH RECURSIVE Seq AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM SEQ WHERE n < 3) FROM seq"))},
			external: []string{"c2:"},
		},
		corpusCase{
			name: "Rule3/RecursiveReferenceInsideSubquery",
			arts: []nbArtifact{art(sqlCell("c1", "t", "SELECT 0 AS n"), sqlCell("c2", "c", "WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM (SELECT * FROM t) s WHERE n < 3) FROM t"))},
		},

		// ---------------------------------------------------------------
		// schemaName-customised artifacts.
		// ---------------------------------------------------------------
		corpusCase{
			name: "Rule1/CustomSchemaQualified",
			arts: []nbArtifact{{id: "nb", schema: "custom", cells: []nbCell{orders("c1"), sqlCell("c2", "c", "SELECT * FROM custom.orders"), sqlCell("c3", "d", "FROM __sqlrooms_ephemeral.custom.orders")}}},
			deps: []string{"c2: c1", "c3: c1"},
		},
		corpusCase{
			name: "Rule1/CustomSchemaUnqualified",
			arts: []nbArtifact{{id: "nb", schema: "custom", cells: []nbCell{orders("c1"), sqlCell("c2", "c", "SELECT * FROM orders")}}},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name: "Rule1/CustomSchemaCaseInsensitive",
			arts: []nbArtifact{{id: "nb", schema: "custom", cells: []nbCell{orders("c1"), sqlCell("c2", "c", `SELECT * FROM CUSTOM.Orders AS a JOIN "Custom"."ORDERS" AS b USING (id)`)}}},
			deps: []string{"c2: c1"},
		},
		corpusCase{
			name:     "Rule2/CustomSchemaDefaultNameIsOtherSchema",
			arts:     []nbArtifact{{id: "nb", schema: "custom", cells: []nbCell{orders("c1"), sqlCell("c2", "c", "SELECT * FROM artifact_nb.orders")}}},
			external: []string{"c2: artifact_nb.orders"},
		},
		corpusCase{
			name: "Rule2/CustomSchemaOfOtherArtifact",
			arts: []nbArtifact{
				{id: "nb1", schema: "sales", cells: []nbCell{orders("c1")}},
				{id: "nb2", schema: "finance", cells: []nbCell{orders("c2"), sqlCell("c3", "c", "SELECT * FROM sales.orders"), sqlCell("c4", "d", "SELECT * FROM finance.orders")}},
			},
			deps:     []string{"c4: c2"},
			external: []string{"c3: sales.orders"},
		},

		// ---------------------------------------------------------------
		// References to a cell with a parse error.
		// ---------------------------------------------------------------
		corpusCase{
			name:    "Rule1/ReferenceToParseErrorCell",
			arts:    []nbArtifact{art(sqlCell("c1", "orders", "SELEC id FROM raw_orders"), sqlCell("c2", "c", "SELECT * FROM orders"))},
			deps:    []string{"c2: c1"},
			errors:  []string{"c1 parse 1:1"},
			defines: []string{"c1: orders"},
		},
		corpusCase{
			name: "Rule1/QualifiedReferenceToParseErrorCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT id,\n  amount\nFROM raw_orders\nWHERE amount >"),
				sqlCell("c2", "c", "SELECT * FROM artifact_nb.orders"),
				sqlCell("c3", "d", "DESCRIBE __sqlrooms_ephemeral.artifact_nb.orders"))},
			deps:   []string{"c2: c1", "c3: c1"},
			errors: []string{"c1 parse 4:15"},
		},
		corpusCase{
			name: "Rule1/ParseErrorCellHasNoDeps",
			arts: []nbArtifact{art(customers("c1"),
				sqlCell("c2", "orders", "SELECT * FROM customers WHERE"),
				sqlCell("c3", "c", "FROM orders JOIN customers USING (id)"))},
			deps:   []string{"c3: c1 c2"},
			errors: []string{"c2 parse 1:30"},
		},
		corpusCase{
			name:   "Rule3/CTEShadowsParseErrorCell",
			arts:   []nbArtifact{art(sqlCell("c1", "orders", "SELECT FROM FROM"), sqlCell("c2", "c", "WITH orders AS (SELECT 1 AS id) FROM orders"))},
			errors: []string{"c1 parse 1:13"},
		},
	)
}
