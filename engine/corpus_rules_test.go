package engine_test

// Corpus cases for DESIGN.md "Dependency rules" 4 to 9 ({{var}} inputs,
// vega cells, Postgres cells, DDL cells, errors, manual edges), plus edges
// between artifacts and result names derived from titles. Every expectation
// is written from the rules, not from what the engine happens to do.

// rulesCell is a SQL cell with the given title and resultName (either may be
// empty or invalid).
func rulesCell(id, title, resultName, sql string) nbCell {
	return nbCell{"id": id, "type": "sql", "data": map[string]any{"title": title, "sql": sql, "resultName": resultName}}
}

// rulesOrders is a small DuckDB query cell named orders.
func rulesOrders(id string) nbCell {
	return sqlCell(id, "orders", "SELECT range AS id, range % 3 AS customer_id, range * 10 AS amount, DATE '2024-01-01' + range::INTEGER AS day, 'Berlin' AS city FROM range(20)")
}

func init() {
	corpus = append(corpus, rulesVarCases()...)
	corpus = append(corpus, rulesVegaCases()...)
	corpus = append(corpus, rulesPostgresCases()...)
	corpus = append(corpus, rulesDDLCases()...)
	corpus = append(corpus, rulesErrorCases()...)
	corpus = append(corpus, rulesManualEdgeCases()...)
	corpus = append(corpus, rulesArtifactCases()...)
	corpus = append(corpus, rulesNameCases()...)
}

// Rule 4: {{var}} placeholders.
func rulesVarCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule4/VarInCode",
			arts: []nbArtifact{art(
				inputCell("i1", "min_amount", 100),
				rulesOrders("c1"),
				sqlCell("c2", "big_orders", "SELECT * FROM orders WHERE amount > {{min_amount}}"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarInStringLiteral",
			arts: []nbArtifact{art(
				inputCell("i1", "city", "Berlin"),
				sqlCell("c1", "customers", "SELECT * FROM (VALUES (1, 'Berlin'), (2, 'Paris')) t(id, city)"),
				sqlCell("c2", "matching", "SELECT * FROM customers WHERE city LIKE '%{{city}}%'"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarOnlyInStringLiteral",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				sqlCell("c1", "heading", "SELECT 'Sales report for {{region}}' AS title"),
			)},
			deps: []string{"c1: i1"},
		},
		{
			name: "Rule4/VarInLineComment",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				sqlCell("c1", "sales", "SELECT 1 AS id, 'EMEA' AS region"),
				sqlCell("c2", "filtered", "-- filtered by {{region}} in the dashboard\nSELECT * FROM sales"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarInBlockComment",
			arts: []nbArtifact{art(
				inputCell("i1", "threshold", 5),
				sqlCell("c1", "flags", "/* threshold: {{threshold}} */\nSELECT 1 AS flag"),
			)},
			deps: []string{"c1: i1"},
		},
		{
			name: "Rule4/SpacesInsideBraces",
			arts: []nbArtifact{art(
				inputCell("i1", "city", "Paris"),
				inputCell("i2", "min_score", 3),
				sqlCell("c1", "customers", "SELECT 1 AS id, 'Paris' AS city, 4 AS score"),
				sqlCell("c2", "picked", "SELECT * FROM customers WHERE city = {{ city }} AND score >= {{   min_score}}"),
			)},
			deps: []string{"c2: c1 i1 i2"},
		},
		{
			name: "Rule4/SpacesInsideBracesInLiteral",
			arts: []nbArtifact{art(
				inputCell("i1", "q", "ann"),
				sqlCell("c1", "people", "SELECT 'Anna' AS name"),
				sqlCell("c2", "search", "SELECT * FROM people WHERE name ILIKE '%{{ q }}%'"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/SameVarTwiceIsOneDependency",
			arts: []nbArtifact{art(
				inputCell("i1", "customer", "7"),
				rulesOrders("c1"),
				sqlCell("c2", "mine", "SELECT * FROM orders WHERE customer_id = {{customer}} OR '{{ customer }}' = 'all'"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/UnknownVariable",
			arts: []nbArtifact{art(
				inputCell("i1", "city", "Berlin"),
				rulesOrders("c1"),
				sqlCell("c2", "local", "SELECT * FROM orders WHERE city = {{cty}}"),
			)},
			deps:     []string{"c2: c1"},
			errors:   []string{"c2 unknown-variable"},
			messages: []string{"c2: cty"},
		},
		{
			name: "Rule4/UnknownVariableInStringLiteral",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "noted", "SELECT * FROM orders WHERE city LIKE '%{{keyword}}%'"),
			)},
			deps:     []string{"c2: c1"},
			errors:   []string{"c2 unknown-variable"},
			messages: []string{"c2: keyword"},
		},
		{
			name: "Rule4/UnknownVariableInComment",
			arts: []nbArtifact{art(
				sqlCell("c1", "draft", "-- TODO: filter on {{segment}}\nSELECT 42 AS answer"),
			)},
			errors:   []string{"c1 unknown-variable"},
			messages: []string{"c1: segment"},
		},
		{
			name: "Rule4/KnownAndUnknownVariable",
			arts: []nbArtifact{art(
				inputCell("i1", "city", "Berlin"),
				rulesOrders("c1"),
				sqlCell("c2", "local", "SELECT * FROM orders WHERE city = {{city}} AND country = {{country}}"),
			)},
			deps:     []string{"c2: c1 i1"},
			errors:   []string{"c2 unknown-variable"},
			messages: []string{"c2: country"},
		},
		{
			name: "Rule4/VarAsTableNameIsAnInputEdgeOnly",
			arts: []nbArtifact{art(
				inputCell("i1", "src", "orders"),
				rulesOrders("c1"),
				sqlCell("c2", "preview", "SELECT * FROM {{src}} LIMIT 10"),
			)},
			deps:     []string{"c2: i1"},
			external: []string{"c2:"},
		},
		{
			name: "Rule4/VarAsJoinedTableIsAnInputEdgeOnly",
			arts: []nbArtifact{art(
				inputCell("i1", "dim", "customers"),
				rulesOrders("c1"),
				sqlCell("c2", "customers", "SELECT 0 AS id, 'Ann' AS name"),
				sqlCell("c3", "joined", "SELECT * FROM orders o JOIN {{dim}} d ON o.customer_id = d.id"),
			)},
			deps: []string{"c3: c1 i1"},
		},
		{
			name: "Rule4/VarInTableFunctionArgument",
			arts: []nbArtifact{art(
				inputCell("i1", "file", "sales_2024"),
				sqlCell("c1", "raw", "SELECT * FROM read_csv('data/{{file}}.csv')"),
			)},
			deps:     []string{"c1: i1"},
			external: []string{"c1:"},
		},
		{
			name: "Rule4/VarInCTEBody",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				sqlCell("c1", "sales", "SELECT 1 AS id, 'EMEA' AS region, 10 AS amount"),
				sqlCell("c2", "regional", "WITH f AS (SELECT * FROM sales WHERE region = {{region}})\nSELECT count(*) AS n FROM f"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarInSubquery",
			arts: []nbArtifact{art(
				inputCell("i1", "min_amount", 50),
				rulesOrders("c1"),
				sqlCell("c2", "customers", "SELECT range AS id FROM range(3)"),
				sqlCell("c3", "good_customers", "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > {{min_amount}})"),
			)},
			deps: []string{"c3: c1 c2 i1"},
		},
		{
			name: "Rule4/VarsDoNotBreakTheParse",
			arts: []nbArtifact{art(
				inputCell("i1", "from_day", "2024-01-01"),
				inputCell("i2", "to_day", "2024-01-31"),
				inputCell("i3", "n", 10),
				rulesOrders("c1"),
				sqlCell("c2", "window", "SELECT * FROM orders\nWHERE day BETWEEN {{from_day}} AND {{to_day}}\nORDER BY amount DESC\nLIMIT {{n}}"),
			)},
			deps: []string{"c2: c1 i1 i2 i3"},
		},
		{
			name: "Rule4/VarInInListAndCase",
			arts: []nbArtifact{art(
				inputCell("i1", "s1", "paid"),
				inputCell("i2", "s2", "shipped"),
				rulesOrders("c1"),
				sqlCell("c2", "labelled", "SELECT id, CASE WHEN city IN ({{s1}}, {{s2}}) THEN 'x' ELSE 'y' END AS label FROM orders"),
			)},
			deps: []string{"c2: c1 i1 i2"},
		},
		{
			name: "Rule4/VarInIntervalDoesNotBreakTheParse",
			arts: []nbArtifact{art(
				inputCell("i1", "days", 7),
				rulesOrders("c1"),
				sqlCell("c2", "recent", "SELECT * FROM orders WHERE day > DATE '2024-01-20' - INTERVAL {{days}} DAY"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarInQuotedIdentifier",
			arts: []nbArtifact{art(
				inputCell("i1", "col", "amount"),
				rulesOrders("c1"),
				sqlCell("c2", "one_column", `SELECT "{{col}}" FROM orders`),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarInDDLCell",
			arts: []nbArtifact{art(
				inputCell("i1", "min_amount", 100),
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE OR REPLACE TABLE big_orders AS SELECT * FROM orders WHERE amount > {{min_amount}}"),
				sqlCell("c3", "n_big", "SELECT count(*) AS n FROM big_orders"),
			)},
			deps: []string{"c2: c1 i1", "c3: c2"},
		},
		{
			name: "Rule4/VarInPostgresCell",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				inputCell("i2", "since", "2024-01-01"),
				pgCell("c1", "pg_orders", "SELECT * FROM public.orders WHERE region = {{region}} AND created_at >= {{since}}::date"),
			)},
			deps:     []string{"c1: i1 i2"},
			external: []string{"c1: public.orders"},
		},
		{
			name: "Rule4/UnknownVariableInPostgresCell",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				pgCell("c1", "pg_orders", "SELECT * FROM public.orders WHERE region = {{regoin}}"),
			)},
			errors:   []string{"c1 unknown-variable"},
			messages: []string{"c1: regoin"},
		},
		{
			name: "Rule4/InputOfAnotherArtifactIsUnknown",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{inputCell("i1", "city", "Berlin"), sqlCell("c1", "a", "SELECT {{city}} AS city")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "b", "SELECT {{city}} AS city")}},
			},
			deps:   []string{"c1: i1"},
			errors: []string{"d1 unknown-variable"},
		},
		{
			name: "Rule4/BracesWithoutVariableAreText",
			arts: []nbArtifact{art(
				sqlCell("c1", "literals", `SELECT '{{}}' AS braces, '{"a": {"b": 1}}' AS doc`),
			)},
		},
		{
			name: "Rule4/VarNameLikeTableNameIsSeparate",
			arts: []nbArtifact{art(
				inputCell("i1", "orders", "ignored"),
				rulesOrders("c1"),
				sqlCell("c2", "all_orders", "SELECT * FROM orders"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule4/VarWithoutSurroundingSpaces",
			arts: []nbArtifact{art(
				inputCell("i1", "min_amount", 100),
				rulesOrders("c1"),
				sqlCell("c2", "big", "SELECT * FROM orders WHERE amount>{{min_amount}}"),
			)},
			deps: []string{"c2: c1 i1"},
		},
		{
			name: "Rule4/VarAsTableFunctionArgumentInCode",
			arts: []nbArtifact{art(
				inputCell("i1", "path", "data/orders.parquet"),
				sqlCell("c1", "orders", "SELECT * FROM read_parquet({{path}})"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
			)},
			deps:     []string{"c1: i1", "c2: c1"},
			external: []string{"c1:"},
		},
		{
			name: "Rule4/VarInPostgresStringLiteral",
			arts: []nbArtifact{art(
				inputCell("i1", "q", "ann"),
				pgCell("c1", "pg_people", "SELECT id, name FROM crm.people WHERE name ILIKE '%{{q}}%'"),
			)},
			deps:     []string{"c1: i1"},
			external: []string{"c1: crm.people"},
		},
		{
			name: "Rule4/PostgresParseErrorPositionAfterVar",
			arts: []nbArtifact{art(
				inputCell("i1", "region", "EMEA"),
				pgCell("c1", "pg_orders", "SELECT *\nFROM orders WHERE region = {{region}} AND AND amount > 1"),
			)},
			errors: []string{"c1 parse 2:43"},
		},
		{
			name: "Rule4/ParseErrorPositionAfterVar",
			arts: []nbArtifact{art(
				inputCell("i1", "city", "Berlin"),
				rulesOrders("c1"),
				sqlCell("c2", "local", "SELECT * FROM orders WHERE city = {{city}} AND AND amount > 10"),
			)},
			errors: []string{"c2 parse 1:48"},
		},
		{
			name: "Rule4/ParseErrorPositionAfterSpacedVarInLiteral",
			arts: []nbArtifact{art(
				inputCell("i1", "q", "ann"),
				sqlCell("c1", "customers", "SELECT 'Anna' AS name, 2 AS score"),
				sqlCell("c2", "search", "SELECT *\nFROM customers\nWHERE name ILIKE '%{{ q }}%' AND AND score > 1"),
			)},
			errors: []string{"c2 parse 3:34"},
		},
		{
			name: "Rule4/VarInInputlessCommentOfValidCell",
			arts: []nbArtifact{art(
				inputCell("i1", "limit_rows", 5),
				rulesOrders("c1"),
				sqlCell("c2", "top", "SELECT * FROM orders ORDER BY amount DESC -- show {{limit_rows}} rows\nLIMIT {{limit_rows}}"),
			)},
			deps: []string{"c2: c1 i1"},
		},
	}
}

// Rule 5: vega cells.
func rulesVegaCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule5/VegaDependsOnItsSqlCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "sales", "SELECT 'a' AS k, 1 AS v"),
				vegaCell("v1", "c1"),
			)},
			deps: []string{"v1: c1"},
		},
		{
			name: "Rule5/TwoChartsOfOneCell",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "per_day", "SELECT day, sum(amount) AS total FROM orders GROUP BY day"),
				vegaCell("v1", "c2"),
				vegaCell("v2", "c2"),
			)},
			deps: []string{"c2: c1", "v1: c2", "v2: c2"},
		},
		{
			name: "Rule5/VegaOnTitledCell",
			arts: []nbArtifact{art(
				titledCell("c1", "Monthly Revenue", "SELECT 1 AS month, 100 AS revenue"),
				vegaCell("v1", "c1"),
				sqlCell("c2", "best", "SELECT max(revenue) AS best FROM monthly_revenue"),
			)},
			deps: []string{"v1: c1", "c2: c1"},
		},
		{
			name: "Rule5/VegaOnPostgresCell",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_sales", "SELECT region, sum(amount) AS total FROM sales GROUP BY region"),
				vegaCell("v1", "c1"),
			)},
			deps: []string{"v1: c1"},
		},
		{
			name: "Rule5/VegaOnDDLCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", "CREATE OR REPLACE TABLE totals AS SELECT 'a' AS k, 1 AS v"),
				vegaCell("v1", "c1"),
			)},
			deps: []string{"v1: c1"},
		},
		{
			name: "Rule5/VegaOnCellWithParseError",
			arts: []nbArtifact{art(
				sqlCell("c1", "sales", "SELEC 1 AS v"),
				vegaCell("v1", "c1"),
			)},
			deps:   []string{"v1: c1"},
			errors: []string{"c1 parse 1:1"},
		},
		{
			name: "Rule5/VegaDownstreamOfCycleHasNoError",
			arts: []nbArtifact{art(
				sqlCell("a", "a", "SELECT * FROM b"),
				sqlCell("b", "b", "SELECT * FROM a"),
				vegaCell("v1", "a"),
			)},
			deps:   []string{"a: b", "b: a", "v1: a"},
			errors: []string{"a cycle", "b cycle"},
		},
		{
			name: "Rule5/VegaOfAnotherArtifactHasNoEdge",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "sales", "SELECT 1 AS v")}},
				{id: "nb2", cells: []nbCell{vegaCell("v1", "c1")}},
			},
		},
		{
			name: "Rule5/VegaIsNotARelation",
			arts: []nbArtifact{art(
				sqlCell("c1", "sales", "SELECT 1 AS v"),
				vegaCell("v1", "c1"),
				sqlCell("c2", "from_chart", "SELECT * FROM chart_v1"),
			)},
			deps:     []string{"v1: c1"},
			external: []string{"c2: chart_v1"},
		},
		{
			name: "Rule5/TextCellIsIgnored",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				textCell("t1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
				vegaCell("v1", "c2"),
			)},
			deps: []string{"c2: c1", "v1: c2"},
		},
	}
}

// Rule 6: Postgres cells.
func rulesPostgresCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule6/DistinctOn",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				pgCell("c2", "latest_orders", "SELECT DISTINCT ON (customer_id) *\nFROM orders\nORDER BY customer_id, created_at DESC"),
			)},
			external: []string{"c2: orders"},
		},
		{
			name: "Rule6/DoubleColonCasts",
			arts: []nbArtifact{art(
				pgCell("c1", "payments", "SELECT id::text AS id, amount::numeric(10,2) AS amount, paid_at::date AS day FROM billing.payments"),
				sqlCell("c2", "daily", "SELECT day, sum(amount) AS total FROM payments GROUP BY day"),
			)},
			deps:     []string{"c2: c1"},
			external: []string{"c1: billing.payments"},
		},
		{
			name: "Rule6/ILikeAndSimilarTo",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_customers", "SELECT * FROM crm.customers WHERE name ILIKE 'an%' OR email SIMILAR TO '%@(example|test).com'"),
			)},
			external: []string{"c1: crm.customers"},
		},
		{
			name: "Rule6/Lateral",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "customers", "SELECT 1 AS id"),
				pgCell("c3", "last_three", "SELECT c.id, o.*\nFROM customers c\nCROSS JOIN LATERAL (\n  SELECT * FROM orders WHERE orders.customer_id = c.id ORDER BY created_at DESC LIMIT 3\n) o"),
			)},
			external: []string{"c3: customers orders"},
		},
		{
			name: "Rule6/ForUpdateSkipLocked",
			arts: []nbArtifact{art(
				pgCell("c1", "next_jobs", "SELECT id, payload FROM queue.jobs WHERE state = 'queued' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED"),
			)},
			external: []string{"c1: queue.jobs"},
		},
		{
			name: "Rule6/JsonOperators",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_events", "SELECT payload->>'user_id' AS user_id, payload #>> '{device,os}' AS os, (payload->'amount')::numeric AS amount\nFROM events\nWHERE payload @> '{\"kind\": \"purchase\"}'::jsonb"),
				sqlCell("c2", "per_user", "SELECT user_id, sum(amount) AS total FROM pg_events GROUP BY user_id"),
			)},
			deps:     []string{"c2: c1"},
			external: []string{"c1: events"},
		},
		{
			name: "Rule6/NoEdgeToDuckDBCellOfTheSameName",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				pgCell("c2", "remote_orders", "SELECT * FROM orders WHERE amount > 10"),
			)},
			external: []string{"c2: orders"},
		},
		{
			name: "Rule6/NoEdgeToOtherPostgresCell",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_customers", "SELECT * FROM customers"),
				pgCell("c2", "pg_vip", "SELECT * FROM pg_customers WHERE tier = 'vip'"),
			)},
			external: []string{"c1: customers", "c2: pg_customers"},
		},
		{
			name: "Rule6/NoEdgeEvenWhenQualifiedWithTheArtifactSchema",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				pgCell("c2", "pg_copy", "SELECT * FROM artifact_nb.orders"),
			)},
			external: []string{"c2: artifact_nb.orders"},
		},
		{
			name: "Rule6/NoEdgeToDDLCellTable",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", "CREATE TABLE staging AS SELECT 1 AS id"),
				pgCell("c2", "pg_staging", "SELECT * FROM staging"),
			)},
			external: []string{"c2: staging"},
		},
		{
			name: "Rule6/DuckDBCellReadsPostgresResult",
			arts: []nbArtifact{art(
				pgCell("c1", "customers", "SELECT id, name FROM crm.customers"),
				sqlCell("c2", "named", "SELECT name FROM customers ORDER BY name"),
			)},
			deps:     []string{"c2: c1"},
			defines:  []string{"c1: customers"},
			external: []string{"c1: crm.customers", "c2:"},
		},
		{
			name: "Rule6/DuckDBCellReadsPostgresResultFullyQualified",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_orders", "SELECT * FROM public.orders"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM __sqlrooms_ephemeral.artifact_nb.pg_orders"),
				sqlCell("c3", "m", "SELECT max(amount) AS m FROM artifact_nb.PG_ORDERS"),
			)},
			deps: []string{"c2: c1", "c3: c1"},
		},
		{
			name: "Rule6/DuckDBCellReadsPostgresResultInMainIsNotIt",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_orders", "SELECT * FROM public.orders"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM main.pg_orders"),
			)},
			external: []string{"c2: main.pg_orders"},
		},
		{
			name: "Rule6/DuckDBJoinsPostgresAndDuckDBResults",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_customers", "SELECT id, name FROM crm.customers"),
				rulesOrders("c2"),
				sqlCell("c3", "enriched", "SELECT o.*, c.name FROM orders o LEFT JOIN pg_customers c ON c.id = o.customer_id"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Rule6/PostgresCellNamedLikeItsRemoteTable",
			arts: []nbArtifact{art(
				pgCell("c1", "orders", "SELECT * FROM orders WHERE created_at > now() - interval '30 days'"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
			)},
			deps:     []string{"c2: c1"},
			external: []string{"c1: orders"},
		},
		{
			name: "Rule6/ParseErrorPosition",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_paid", "SELECT id, amount\nFROM orders\nWHERE amount > 10 AND AND status = 'paid'"),
			)},
			errors: []string{"c1 parse 3:23"},
		},
		{
			name: "Rule6/ParseErrorPositionAfterMultiByte",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_cities", "SELECT name\nFROM cities\nWHERE name = 'Zürich' AND AND population > 1"),
			)},
			errors: []string{"c1 parse 3:27"},
		},
		{
			name: "Rule6/DuckDBOnlyExcludeIsAPostgresParseError",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_users", "SELECT * EXCLUDE (password) FROM users"),
			)},
			errors: []string{"c1 parse 1:10"},
		},
		{
			name: "Rule6/DuckDBOnlyFromFirstIsAPostgresParseError",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_users", "FROM users SELECT id"),
			)},
			errors: []string{"c1 parse 1:1"},
		},
		{
			name: "Rule6/ParseErrorStillDefinesName",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_users", "SELECT id name FROM FROM users"),
				sqlCell("c2", "n_users", "SELECT count(*) AS n FROM pg_users"),
			)},
			deps:   []string{"c2: c1"},
			errors: []string{"c1 parse 1:21"},
		},
		{
			name: "Rule6/CTEIsNotExternal",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_recent", "WITH recent AS (\n  SELECT * FROM orders WHERE created_at > now() - interval '7 days'\n)\nSELECT r.*, c.name FROM recent r JOIN customers c ON c.id = r.customer_id"),
			)},
			external: []string{"c1: customers orders"},
		},
		{
			name: "Rule6/TableFunctionIsNotExternal",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_days", "SELECT g::date AS day FROM generate_series(now() - interval '6 days', now(), interval '1 day') AS g"),
				sqlCell("c2", "n_days", "SELECT count(*) AS n FROM pg_days"),
			)},
			deps:     []string{"c2: c1"},
			external: []string{"c1:"},
		},
		{
			name: "Rule6/QualifiedExternalTablesAreSorted",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_joined", "SELECT * FROM sales.orders o JOIN crm.customers c ON c.id = o.customer_id"),
			)},
			external: []string{"c1: crm.customers sales.orders"},
		},
		{
			name: "Rule6/WindowAndFilterClause",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_stats", "SELECT customer_id,\n       count(*) FILTER (WHERE status = 'paid') AS paid,\n       rank() OVER (ORDER BY sum(amount) DESC) AS rnk\nFROM orders GROUP BY customer_id"),
				sqlCell("c2", "top", "SELECT * FROM pg_stats WHERE rnk <= 3"),
				vegaCell("v1", "c2"),
			)},
			deps:     []string{"c2: c1", "v1: c2"},
			external: []string{"c1: orders"},
		},
		{
			name: "Rule6/DescribeOfPostgresResult",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_users", "SELECT id, email FROM users"),
				sqlCell("c2", "users_schema", "DESCRIBE pg_users"),
			)},
			deps: []string{"c2: c1"},
		},
	}
}

// Rule 7: DDL cells.
func rulesDDLCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule7/CreateTableAsDefines",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", "CREATE TABLE clean_orders AS SELECT * FROM raw_orders WHERE amount IS NOT NULL"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM clean_orders"),
			)},
			deps:     []string{"c2: c1"},
			defines:  []string{"c1: clean_orders"},
			external: []string{"c1: raw_orders"},
		},
		{
			name: "Rule7/CreateOrReplaceTable",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE OR REPLACE TABLE order_totals AS\nSELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id"),
				sqlCell("c3", "best", "SELECT * FROM order_totals ORDER BY total DESC LIMIT 1"),
			)},
			deps:    []string{"c2: c1", "c3: c2"},
			defines: []string{"c2: order_totals"},
		},
		{
			name: "Rule7/CreateView",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "views", "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM big_orders"),
			)},
			deps:    []string{"c2: c1", "c3: c2"},
			defines: []string{"c2: big_orders"},
		},
		{
			name: "Rule7/CreateOrReplaceView",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "views", "CREATE OR REPLACE VIEW berlin_orders AS SELECT * FROM orders WHERE city = 'Berlin'"),
				sqlCell("c3", "sum_berlin", "SELECT sum(amount) AS s FROM berlin_orders"),
			)},
			deps:    []string{"c2: c1", "c3: c2"},
			defines: []string{"c2: berlin_orders"},
		},
		{
			name: "Rule7/CreateTableWithColumns",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE events (id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL, ts TIMESTAMP)"),
				sqlCell("c2", "kinds", "SELECT DISTINCT kind FROM events"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: events"},
		},
		{
			name: "Rule7/CreateTableIfNotExists",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE IF NOT EXISTS audit (ts TIMESTAMP, note VARCHAR)"),
				sqlCell("c2", "last_note", "SELECT note FROM audit ORDER BY ts DESC LIMIT 1"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: audit"},
		},
		{
			// A writer defines nothing (0.2): with no definer, the target
			// is DuckDB's to find when the cell runs.
			name: "Rule7/InsertIntoDefinesNothing",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "load", "INSERT INTO order_archive SELECT * FROM orders WHERE day < DATE '2024-01-10'"),
				sqlCell("c3", "archived", "SELECT count(*) AS n FROM order_archive"),
			)},
			deps:     []string{"c2: c1"},
			defines:  []string{"c2:"},
			external: []string{"c3: order_archive"},
		},
		{
			name: "Rule7/InsertByName",
			arts: []nbArtifact{art(
				sqlCell("c0", "setup", "CREATE TABLE metrics (name VARCHAR, value INTEGER)"),
				sqlCell("c1", "load", "INSERT INTO metrics BY NAME SELECT 42 AS value, 'cpu' AS name"),
				sqlCell("c2", "cpu", "SELECT value FROM metrics WHERE name = 'cpu'"),
			)},
			deps:    []string{"c1: c0", "c2: c0 c1"},
			defines: []string{"c0: metrics", "c1:"},
		},
		{
			name: "Rule7/CreateThenInsertInOneCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE currencies (code VARCHAR, rate DOUBLE);\nINSERT INTO currencies VALUES ('EUR', 1.0), ('USD', 1.08);"),
				sqlCell("c2", "usd", "SELECT rate FROM currencies WHERE code = 'USD'"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: currencies"},
		},
		{
			name: "Rule7/ReadingOwnTableIsNoEdge",
			arts: []nbArtifact{art(
				sqlCell("c1", "counter", "CREATE OR REPLACE TABLE counters AS SELECT 0 AS n;\nINSERT INTO counters SELECT n + 1 FROM counters;"),
				sqlCell("c2", "latest", "SELECT max(n) AS n FROM counters"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: counters"},
		},
		{
			name: "Rule7/InsertReadingItsOwnTargetIsNoEdge",
			arts: []nbArtifact{art(
				sqlCell("c0", "setup", "CREATE TABLE daily (day DATE, amount INTEGER)"),
				sqlCell("c1", "staging", "SELECT DATE '2024-01-01' AS day, 5 AS amount"),
				sqlCell("c2", "append", "INSERT INTO daily SELECT * FROM staging WHERE day NOT IN (SELECT day FROM daily)"),
				sqlCell("c3", "total", "SELECT sum(amount) AS total FROM daily"),
			)},
			deps:     []string{"c2: c0 c1", "c3: c0 c2"},
			external: []string{"c2:"},
		},
		{
			name: "Rule7/DDLCellHasNoResultRelation",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE dim_date AS SELECT DATE '2024-01-01' + range::INTEGER AS day FROM range(366)"),
				sqlCell("c2", "from_setup", "SELECT * FROM setup"),
				sqlCell("c3", "n_days", "SELECT count(*) AS n FROM dim_date"),
			)},
			deps:     []string{"c3: c1"},
			defines:  []string{"c1: dim_date"},
			external: []string{"c2: setup"},
		},
		{
			name: "Rule7/DDLCellTitleIsNotARelation",
			arts: []nbArtifact{art(
				titledCell("c1", "Build dimensions", "CREATE OR REPLACE TABLE dim_region AS SELECT 'EMEA' AS region"),
				sqlCell("c2", "regions", "SELECT * FROM build_dimensions"),
				sqlCell("c3", "regions2", "SELECT * FROM dim_region"),
			)},
			deps:     []string{"c3: c1"},
			external: []string{"c2: build_dimensions"},
		},
		{
			name: "Rule7/DDLResultNameEqualToCreatedTable",
			arts: []nbArtifact{art(
				sqlCell("c1", "dim_customer", "CREATE OR REPLACE TABLE dim_customer AS SELECT 1 AS id, 'Ann' AS name"),
				sqlCell("c2", "names", "SELECT name FROM dim_customer"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: dim_customer"},
		},
		{
			name: "Rule7/TempTableIsNotADefinition",
			arts: []nbArtifact{art(
				sqlCell("c1", "prep", "CREATE TEMP TABLE scratch AS SELECT range AS x FROM range(5)"),
				sqlCell("c2", "use", "SELECT * FROM scratch"),
			)},
			defines:  []string{"c1:"},
			external: []string{"c2: scratch"},
		},
		{
			name: "Rule7/TemporaryTableIsNotADefinition",
			arts: []nbArtifact{art(
				sqlCell("c1", "prep", "CREATE TEMPORARY TABLE tmp_ids (id INTEGER)"),
				sqlCell("c2", "use", "SELECT * FROM tmp_ids"),
			)},
			defines:  []string{"c1:"},
			external: []string{"c2: tmp_ids"},
		},
		{
			name: "Rule7/TempTableDoesNotCollideWithResultName",
			arts: []nbArtifact{art(
				sqlCell("c1", "scratch", "SELECT 1 AS x"),
				sqlCell("c2", "prep", "CREATE TEMP TABLE scratch AS SELECT 2 AS x"),
				sqlCell("c3", "use", "SELECT * FROM scratch"),
			)},
			deps: []string{"c3: c1"},
		},
		{
			name: "Rule7/TempTableThenQueryInOneCell",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "positive", "CREATE TEMP TABLE s AS SELECT * FROM orders WHERE amount > 0;\nSELECT count(*) AS n FROM s"),
				sqlCell("c3", "report", "SELECT n FROM positive"),
			)},
			deps:     []string{"c2: c1", "c3: c2"},
			external: []string{"c2:"},
			defines:  []string{"c2: positive"},
		},
		{
			name: "Rule7/CreateThenSelectInOneCellIsAQueryCell",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "summary", "CREATE OR REPLACE TABLE by_city AS SELECT city, sum(amount) AS total FROM orders GROUP BY city;\nSELECT * FROM by_city ORDER BY total DESC"),
				sqlCell("c3", "top_city", "SELECT city FROM summary LIMIT 1"),
				sqlCell("c4", "cities", "SELECT city FROM by_city"),
			)},
			deps: []string{"c2: c1", "c3: c2", "c4: c2"},
		},
		{
			name: "Rule7/ExcludeInDDLBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE TABLE slim_orders AS SELECT * EXCLUDE (city) FROM orders"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM slim_orders"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/GroupByAllInDDLBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE OR REPLACE VIEW per_customer AS\nSELECT customer_id, sum(amount) AS total\nFROM orders\nGROUP BY ALL"),
				sqlCell("c3", "best", "SELECT max(total) AS best FROM per_customer"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/FromFirstInDDLBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE TABLE recent_orders AS FROM orders WHERE day >= DATE '2024-01-10'"),
				sqlCell("c3", "n", "FROM recent_orders SELECT count(*) AS n"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/QualifyInViewBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE VIEW last_order AS SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY day DESC) = 1"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM last_order"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/CTEInDDLBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE TABLE top_orders AS\nWITH ranked AS (SELECT *, rank() OVER (ORDER BY amount DESC) AS r FROM orders)\nSELECT * FROM ranked WHERE r <= 5"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM top_orders"),
			)},
			deps:     []string{"c2: c1", "c3: c2"},
			external: []string{"c2:"},
		},
		{
			name: "Rule7/QualifiedMainDDLName",
			arts: []nbArtifact{art(
				sqlCell("c1", "load", "CREATE OR REPLACE TABLE main.raw_events AS SELECT range AS id FROM range(10)"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM main.raw_events"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: main.raw_events"},
		},
		{
			name: "Rule7/UnqualifiedReadOfMainDDLName",
			arts: []nbArtifact{art(
				sqlCell("c1", "load", "CREATE OR REPLACE TABLE main.raw_events AS SELECT range AS id FROM range(10)"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM raw_events"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule7/MainDDLNameDoesNotShadowArtifactResult",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "load", "CREATE OR REPLACE TABLE main.orders AS SELECT 1 AS id"),
				sqlCell("c3", "artifact_n", "SELECT count(*) AS n FROM orders"),
				sqlCell("c4", "main_n", "SELECT count(*) AS n FROM main.orders"),
			)},
			deps: []string{"c3: c1", "c4: c2"},
		},
		{
			name: "Rule7/ArtifactSchemaQualifiedDDLName",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", "CREATE TABLE artifact_nb.summary AS SELECT 1 AS k, 2 AS v"),
				sqlCell("c2", "v", "SELECT v FROM summary"),
				sqlCell("c3", "k", "SELECT k FROM artifact_nb.summary"),
			)},
			deps: []string{"c2: c1", "c3: c1"},
		},
		{
			name: "Rule7/QuotedMixedCaseDDLName",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", `CREATE TABLE "Monthly_Totals" AS SELECT 1 AS month, 10 AS total`),
				sqlCell("c2", "jan", "SELECT total FROM monthly_totals WHERE month = 1"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule7/TwoTablesInOneCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE dim_a AS SELECT 1 AS id;\nCREATE TABLE dim_b AS SELECT 2 AS id;"),
				sqlCell("c2", "ab", "SELECT * FROM dim_a UNION ALL SELECT * FROM dim_b"),
				sqlCell("c3", "b", "SELECT * FROM dim_b"),
			)},
			deps:    []string{"c2: c1", "c3: c1"},
			defines: []string{"c1: dim_a dim_b"},
		},
		{
			name: "Rule7/ChainOfDDLCells",
			arts: []nbArtifact{art(
				sqlCell("c1", "load", "CREATE TABLE raw_sales (day DATE, amount DOUBLE)"),
				sqlCell("c2", "model", "CREATE OR REPLACE VIEW sales_by_day AS SELECT day, sum(amount) AS total FROM raw_sales GROUP BY day"),
				sqlCell("c3", "report", "SELECT * FROM sales_by_day ORDER BY day"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/ViewOverPostgresResult",
			arts: []nbArtifact{art(
				pgCell("c1", "pg_orders", "SELECT * FROM public.orders"),
				sqlCell("c2", "model", "CREATE VIEW paid_orders AS SELECT * FROM pg_orders WHERE status = 'paid'"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM paid_orders"),
			)},
			deps: []string{"c2: c1", "c3: c2"},
		},
		{
			name: "Rule7/DDLCellReadingDDLCellAndQueryCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE rates (code VARCHAR, rate DOUBLE)"),
				rulesOrders("c2"),
				sqlCell("c3", "build", "CREATE TABLE orders_eur AS SELECT o.*, o.amount * r.rate AS eur FROM orders o, rates r WHERE r.code = 'EUR'"),
			)},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Rule7/DescribeIsAQueryCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE events (id INTEGER, kind VARCHAR)"),
				sqlCell("c2", "events_columns", "DESCRIBE events"),
				sqlCell("c3", "names", "SELECT column_name FROM events_columns"),
			)},
			deps:    []string{"c2: c1", "c3: c2"},
			defines: []string{"c2: events_columns"},
		},
	}
}

// Rule 8: errors.
func rulesErrorCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule8/ParseErrorFirstLine",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "bad", "SELEC id, amount FROM orders"),
			)},
			errors: []string{"c2 parse 1:1"},
		},
		{
			name: "Rule8/ParseErrorSecondLine",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "bad", "SELECT id, amount\nFROM orders WHERE WHERE amount > 10"),
			)},
			errors: []string{"c2 parse 2:19"},
		},
		{
			name: "Rule8/ParseErrorThirdLine",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "bad", "SELECT customer_id,\n       sum(amount) AS total\nFROM orders WHERE WHERE amount > 0 GROUP BY customer_id"),
			)},
			errors: []string{"c2 parse 3:19"},
		},
		{
			name: "Rule8/ParseErrorAfterMultiByteCharacters",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "bad", "SELECT 'Zürich' AS city, 'Ωmega' AS tag FROM orders WHERE WHERE 1"),
			)},
			errors: []string{"c2 parse 1:59"},
		},
		{
			name: "Rule8/ParseErrorInDDLBody",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "build", "CREATE TABLE big AS\nSELECT * FROM orders WHERE WHERE amount > 100"),
			)},
			errors: []string{"c2 parse 2:28"},
		},
		{
			name: "Rule8/ParseErrorInSecondStatement",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE t1 (id INTEGER);\nINSERT INTO t1 VALUES (1),, (2);"),
			)},
			errors: []string{"c1 parse 2:27"},
		},
		{
			name: "Rule8/ParseErrorCellHasNoDeps",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "totals", "SELECT customer_id, sum(amount) FROM orders GROUP BY BY customer_id"),
			)},
			errors: []string{"c2 parse 1:54"},
		},
		{
			name: "Rule8/ParseErrorCellWithVarHasNoDeps",
			arts: []nbArtifact{art(
				inputCell("i1", "min_amount", 10),
				rulesOrders("c1"),
				sqlCell("c2", "big", "SELECT * FROM orders WHERE amount > {{min_amount}} ORDER BY BY amount"),
			)},
			errors: []string{"c2 parse 1:61"},
		},
		{
			name: "Rule8/ParseErrorCellStillDefinesItsName",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT 1 AS id FROM FROM raw"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
				sqlCell("c3", "m", "SELECT * FROM n"),
			)},
			deps:   []string{"c2: c1", "c3: c2"},
			errors: []string{"c1 parse 1:21"},
		},
		{
			name: "Rule8/CycleOfTwo",
			arts: []nbArtifact{art(
				sqlCell("c1", "a", "SELECT * FROM b"),
				sqlCell("c2", "b", "SELECT * FROM a"),
			)},
			deps:     []string{"c1: c2", "c2: c1"},
			errors:   []string{"c1 cycle", "c2 cycle"},
			messages: []string{"c1: c1 -> c2", "c2: c2 -> c1"},
		},
		{
			name: "Rule8/CycleOfThree",
			arts: []nbArtifact{art(
				sqlCell("c1", "a", "SELECT * FROM c"),
				sqlCell("c2", "b", "SELECT * FROM a"),
				sqlCell("c3", "c", "SELECT * FROM b"),
			)},
			deps:     []string{"c1: c3", "c2: c1", "c3: c2"},
			errors:   []string{"c1 cycle", "c2 cycle", "c3 cycle"},
			messages: []string{"c1: cycle: ", "c2: cycle: ", "c3: cycle: "},
		},
		{
			name: "Rule8/SelfReferenceIsACycleOfOne",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT * FROM orders WHERE amount > 0"),
			)},
			deps:     []string{"c1: c1"},
			errors:   []string{"c1 cycle"},
			messages: []string{"c1: cycle: c1 -> c1"},
		},
		{
			name: "Rule8/SelfReferenceQualified",
			arts: []nbArtifact{art(
				sqlCell("c1", "totals", "SELECT * FROM artifact_nb.totals"),
			)},
			deps:   []string{"c1: c1"},
			errors: []string{"c1 cycle"},
		},
		{
			name: "Rule8/SelfReferenceQuotedOtherCase",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", `SELECT count(*) FROM "ORDERS"`),
			)},
			deps:   []string{"c1: c1"},
			errors: []string{"c1 cycle"},
		},
		{
			name: "Rule8/SelfReferenceInSubquery",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				sqlCell("c2", "ranked", "SELECT * FROM orders WHERE id NOT IN (SELECT id FROM ranked)"),
			)},
			deps:   []string{"c2: c1 c2"},
			errors: []string{"c2 cycle"},
		},
		{
			name: "Rule8/DownstreamOfCycleHasNoError",
			arts: []nbArtifact{art(
				sqlCell("c1", "a", "SELECT * FROM b"),
				sqlCell("c2", "b", "SELECT * FROM a"),
				sqlCell("c3", "c", "SELECT * FROM a"),
			)},
			deps:   []string{"c1: c2", "c2: c1", "c3: c1"},
			errors: []string{"c1 cycle", "c2 cycle"},
		},
		{
			name: "Rule8/DownstreamOfSelfReferenceHasNoError",
			arts: []nbArtifact{art(
				sqlCell("c1", "loop", "SELECT * FROM loop"),
				sqlCell("c2", "after", "SELECT * FROM loop"),
			)},
			deps:   []string{"c1: c1", "c2: c1"},
			errors: []string{"c1 cycle"},
		},
		{
			name: "Rule8/CycleThroughDDLCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "build", "CREATE OR REPLACE TABLE t AS SELECT * FROM q"),
				sqlCell("c2", "q", "SELECT * FROM t"),
			)},
			deps:   []string{"c1: c2", "c2: c1"},
			errors: []string{"c1 cycle", "c2 cycle"},
		},
		{
			name: "Rule8/DuplicateName",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT 1 AS id"),
				sqlCell("c2", "orders", "SELECT 2 AS id"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/DuplicateNameDiffersOnlyInCase",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT 1 AS id"),
				sqlCell("c2", "Orders", "SELECT 2 AS id"),
				sqlCell("c3", "other", "SELECT 3 AS id"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/DuplicateNameQueryCellAndDDLCell",
			arts: []nbArtifact{art(
				sqlCell("c1", "customers", "SELECT 1 AS id"),
				sqlCell("c2", "setup", "CREATE TABLE customers (id INTEGER, name VARCHAR)"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/DuplicateNameTwoDDLCells",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup_a", "CREATE TABLE dim AS SELECT 1 AS id"),
				sqlCell("c2", "setup_b", "CREATE OR REPLACE VIEW dim AS SELECT 2 AS id"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			// Not a duplicate since 0.2: the INSERT is a writer in the
			// CREATE's family.
			name: "Rule7/CreateAndInsertInTwoCellsIsAFamily",
			arts: []nbArtifact{art(
				sqlCell("c1", "setup", "CREATE TABLE log (msg VARCHAR)"),
				sqlCell("c2", "fill", "INSERT INTO log VALUES ('started')"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule8/DuplicateNameFromTitles",
			arts: []nbArtifact{art(
				titledCell("c1", "Sales Q1", "SELECT 1 AS v"),
				titledCell("c2", "sales-q1", "SELECT 2 AS v"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/DuplicateNameTitleAndResultName",
			arts: []nbArtifact{art(
				sqlCell("c1", "daily_orders", "SELECT 1 AS v"),
				titledCell("c2", "Daily Orders", "SELECT 2 AS v"),
			)},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/ReaderOfDuplicateNameDependsOnBoth",
			arts: []nbArtifact{art(
				sqlCell("c1", "orders", "SELECT 1 AS id"),
				sqlCell("c2", "orders", "SELECT 2 AS id"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM orders"),
			)},
			deps:   []string{"c3: c1 c2"},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Rule8/TempTableIsNoDuplicate",
			arts: []nbArtifact{art(
				sqlCell("c1", "prep_a", "CREATE TEMP TABLE work AS SELECT 1 AS x"),
				sqlCell("c2", "prep_b", "CREATE TEMP TABLE work AS SELECT 2 AS x"),
			)},
		},
		{
			name: "Rule8/MainAndArtifactTableAreNotDuplicates",
			arts: []nbArtifact{art(
				sqlCell("c1", "build_main", "CREATE TABLE main.dim AS SELECT 1 AS id"),
				sqlCell("c2", "build_art", "CREATE TABLE dim AS SELECT 2 AS id"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM dim"),
			)},
			deps: []string{"c3: c2"},
		},
		{
			name: "Rule8/UnknownConnector",
			arts: []nbArtifact{art(
				onConnector("c1", "sf_orders", "snowflake", "SELECT * FROM orders"),
				rulesOrders("c2"),
			)},
			errors:   []string{"c1 unknown-connector"},
			messages: []string{"c1: snowflake"},
		},
		{
			name: "Rule8/UnknownConnectorStillDefinesItsName",
			arts: []nbArtifact{art(
				onConnector("c1", "sf_orders", "bigquery-prod", "SELECT * FROM orders"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM sf_orders"),
			)},
			deps:   []string{"c2: c1"},
			errors: []string{"c1 unknown-connector"},
		},
		{
			name: "Rule8/DuckDBCoreConnectorIsKnown",
			arts: []nbArtifact{art(
				rulesOrders("c1"),
				onConnector("c2", "n", "duckdb-core", "SELECT count(*) AS n FROM orders"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			// Neither resultName nor title: named from the id by the
			// title rule (rule 8, revised).
			name: "Rule8/EmptyTitleNamedFromID",
			arts: []nbArtifact{art(
				rulesCell("c1", "", "", "SELECT 1 AS x"),
				sqlCell("c2", "n", "SELECT x FROM c1"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule8/InvalidNameEmptyTitleAndID",
			arts: []nbArtifact{art(
				rulesCell(".c1", "", "", "SELECT 1 AS x"),
				rulesOrders("c2"),
			)},
			errors: []string{".c1 invalid-name"},
		},
		{
			name: "Rule8/InvalidNameExtensionOnlyTitleAndID",
			arts: []nbArtifact{art(
				rulesCell(".c1", ".csv", "", "SELECT 1 AS x"),
			)},
			errors: []string{".c1 invalid-name"},
		},
		{
			name: "Rule8/InvalidNameBadResultNameEmptyTitleAndID",
			arts: []nbArtifact{art(
				rulesCell(".c1", "", "1st orders", "SELECT 1 AS x"),
			)},
			errors: []string{".c1 invalid-name"},
		},
		{
			name: "Rule8/BadResultNameFallsBackToTitle",
			arts: []nbArtifact{art(
				rulesCell("c1", "Top Customers", "top customers!", "SELECT 1 AS id"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM top_customers"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule8/ErrorsAreListedInCellOrder",
			arts: []nbArtifact{art(
				onConnector("c1", "x1", "mysql", "SELECT 1"),
				sqlCell("c2", "x2", "SELECT {{missing}} AS v"),
				sqlCell("c3", "x3", "SELEC 3"),
				rulesCell(".c4", "", "", "SELECT 4"),
			)},
			errors: []string{"c1 unknown-connector", "c2 unknown-variable", "c3 parse 1:1", ".c4 invalid-name"},
		},
	}
}

// Rule 9: manual edges.
func rulesManualEdgeCases() []corpusCase {
	return []corpusCase{
		{
			name: "Rule9/ManualEdgeAddsADependency",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "setup", "CREATE OR REPLACE TABLE main.config AS SELECT 1 AS v"),
				sqlCell("c2", "report", "SELECT 42 AS answer"),
			}, edges: []map[string]string{edge("c1", "c2", "manual")}}},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule9/ManualEdgeFromInputCell",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				inputCell("i1", "refresh", "now"),
				sqlCell("c1", "snapshot", "SELECT now() AS at"),
			}, edges: []map[string]string{edge("i1", "c1", "manual")}}},
			deps: []string{"c1: i1"},
		},
		{
			name: "Rule9/ManualEdgeIntoPostgresCell",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "prepare", "SELECT 1 AS ready"),
				pgCell("c2", "pg_orders", "SELECT * FROM orders"),
			}, edges: []map[string]string{edge("c1", "c2", "manual")}}},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule9/ManualEdgeToVegaCell",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "sales", "SELECT 1 AS v"),
				sqlCell("c2", "targets", "SELECT 2 AS v"),
				vegaCell("v1", "c1"),
			}, edges: []map[string]string{edge("c2", "v1", "manual")}}},
			deps: []string{"v1: c1 c2"},
		},
		{
			name: "Rule9/ManualEdgeSameAsSQLEdge",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
			}, edges: []map[string]string{edge("c1", "c2", "manual")}}},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule9/ManualEdgeAndSQLEdgesCombine",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "load", "CREATE OR REPLACE TABLE main.fx AS SELECT 'EUR' AS code"),
				sqlCell("c3", "n", "SELECT count(*) AS n FROM orders"),
			}, edges: []map[string]string{edge("c2", "c3", "manual")}}},
			deps: []string{"c3: c1 c2"},
		},
		{
			name: "Rule9/ManualEdgeMakesACycle",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
			}, edges: []map[string]string{edge("c2", "c1", "manual")}}},
			deps:   []string{"c1: c2", "c2: c1"},
			errors: []string{"c1 cycle", "c2 cycle"},
		},
		{
			name: "Rule9/SavedEdgeOfOtherKindIsIgnored",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "a", "SELECT 1 AS v"),
				sqlCell("c2", "b", "SELECT 2 AS v"),
			}, edges: []map[string]string{edge("c1", "c2", "dependency")}}},
		},
		{
			name: "Rule9/SavedEdgeWithNoKindIsIgnored",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "a", "SELECT 1 AS v"),
				sqlCell("c2", "b", "SELECT 2 AS v"),
			}, edges: []map[string]string{{"id": "c1-c2", "source": "c1", "target": "c2"}}}},
		},
		{
			name: "Rule9/SavedEdgeWithEmptyKindIsIgnored",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				sqlCell("c1", "a", "SELECT 1 AS v"),
				sqlCell("c2", "b", "SELECT 2 AS v"),
			}, edges: []map[string]string{edge("c1", "c2", "")}}},
		},
		{
			name: "Rule9/StaleSavedEdgesAreRecomputed",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
				sqlCell("c3", "m", "SELECT 1 AS m"),
			}, edges: []map[string]string{edge("c2", "c1", "auto"), edge("c1", "c3", "dependency")}}},
			deps: []string{"c2: c1"},
		},
		{
			name: "Rule9/ReversedSavedEdgeDoesNotMakeACycle",
			arts: []nbArtifact{{id: "nb", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM orders"),
			}, edges: []map[string]string{edge("c2", "c1", "sql")}}},
			deps: []string{"c2: c1"},
		},
	}
}

// Edges never cross artifacts; names are per artifact.
func rulesArtifactCases() []corpusCase {
	return []corpusCase{
		{
			name: "Artifacts/NoEdgeToAnotherArtifact",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{rulesOrders("c1")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "n", "SELECT count(*) AS n FROM orders")}},
			},
			external: []string{"d1: orders"},
		},
		{
			name: "Artifacts/SameNameInTwoArtifactsIsNotADuplicate",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "x", "SELECT 1 AS v"), sqlCell("c2", "y", "SELECT * FROM x")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "x", "SELECT 2 AS v"), sqlCell("d2", "y", "SELECT * FROM x")}},
			},
			deps: []string{"c2: c1", "d2: d1"},
		},
		{
			name: "Artifacts/OtherArtifactSchemaIsExternal",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{rulesOrders("c1")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "n", "SELECT count(*) AS n FROM artifact_nb1.orders")}},
			},
			external: []string{"d1: artifact_nb1.orders"},
		},
		{
			name: "Artifacts/CustomSchemaName",
			arts: []nbArtifact{{id: "nb", schema: "sales", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "a", "SELECT * FROM sales.orders"),
				sqlCell("c3", "b", "SELECT * FROM __sqlrooms_ephemeral.sales.orders"),
				sqlCell("c4", "c", "SELECT * FROM artifact_nb.orders"),
			}}},
			deps:     []string{"c2: c1", "c3: c1"},
			external: []string{"c4: artifact_nb.orders"},
		},
		{
			name: "Artifacts/DefaultSchemaOfIdWithDash",
			arts: []nbArtifact{{id: "Sales-2024", cells: []nbCell{
				rulesOrders("c1"),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM artifact_sales_2024.orders"),
			}}},
			deps: []string{"c2: c1"},
		},
		{
			name: "Artifacts/DuplicatesAreFlaggedPerArtifact",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "x", "SELECT 1 AS v"), sqlCell("c2", "x", "SELECT 2 AS v")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "x", "SELECT 3 AS v")}},
			},
			errors: []string{"c1 duplicate-name", "c2 duplicate-name"},
		},
		{
			name: "Artifacts/ErrorsInArtifactOrder",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "a", "SELECT * FROM a")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "b", "SELEC 1")}},
			},
			deps:   []string{"c1: c1"},
			errors: []string{"c1 cycle", "d1 parse 1:1"},
		},
		{
			name: "Artifacts/DDLTableOfAnotherArtifact",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "build", "CREATE TABLE shared_dim AS SELECT 1 AS id")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "n", "SELECT count(*) AS n FROM shared_dim")}},
			},
			external: []string{"d1: shared_dim"},
		},
		{
			name: "Artifacts/CycleDoesNotCrossArtifacts",
			arts: []nbArtifact{
				{id: "nb1", cells: []nbCell{sqlCell("c1", "a", "SELECT * FROM b")}},
				{id: "nb2", cells: []nbCell{sqlCell("d1", "b", "SELECT * FROM a")}},
			},
			external: []string{"c1: b", "d1: a"},
		},
	}
}

// Effective result names derived from titles.
func rulesNameCases() []corpusCase {
	return []corpusCase{
		{
			name: "Names/TitleWithSpace",
			arts: []nbArtifact{art(
				titledCell("c1", "Daily Orders", "SELECT DATE '2024-01-01' AS day, 3 AS n"),
				sqlCell("c2", "busiest", "SELECT * FROM daily_orders ORDER BY n DESC LIMIT 1"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: daily_orders"},
		},
		{
			name: "Names/TitleReferencedInOtherCase",
			arts: []nbArtifact{art(
				titledCell("c1", "Daily Orders", "SELECT 1 AS n"),
				sqlCell("c2", "x", `SELECT * FROM "DAILY_ORDERS"`),
				sqlCell("c3", "y", "SELECT * FROM Daily_Orders"),
			)},
			deps: []string{"c2: c1", "c3: c1"},
		},
		{
			name: "Names/TitleSQLNumber",
			arts: []nbArtifact{art(
				titledCell("c1", "SQL 2", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM result_2"),
				sqlCell("c3", "y", "SELECT * FROM sql_2"),
			)},
			deps:     []string{"c2: c1"},
			defines:  []string{"c1: result_2"},
			external: []string{"c3: sql_2"},
		},
		{
			name: "Names/TitleSQL",
			arts: []nbArtifact{art(
				titledCell("c1", "SQL", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM result"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Names/TitleSQLQueryNumber",
			arts: []nbArtifact{art(
				titledCell("c1", "SQL Query 3", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM result_3"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: result_3"},
		},
		{
			name: "Names/TitleFileNameWithLeadingDigit",
			arts: []nbArtifact{art(
				titledCell("c1", "2024 sales.csv", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM _2024_sales"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: _2024_sales"},
		},
		{
			name: "Names/TitleParquetExtension",
			arts: []nbArtifact{art(
				titledCell("c1", "Customers.parquet", "SELECT 1 AS id"),
				sqlCell("c2", "x", "SELECT * FROM customers"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Names/TitlePunctuation",
			arts: []nbArtifact{art(
				titledCell("c1", "Revenue (EUR)", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM revenue__eur_"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: revenue__eur_"},
		},
		{
			name: "Names/TitleNonASCII",
			arts: []nbArtifact{art(
				titledCell("c1", "Über Umsatz", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM _ber_umsatz"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: _ber_umsatz"},
		},
		{
			name: "Names/LongTitleIsCutTo63",
			arts: []nbArtifact{art(
				titledCell("c1", "Quarterly revenue by region and product line for the board meeting", "SELECT 1 AS v"),
				sqlCell("c2", "x", "SELECT * FROM quarterly_revenue_by_region_and_product_line_for_the_board_meet"),
			)},
			deps:    []string{"c2: c1"},
			defines: []string{"c1: quarterly_revenue_by_region_and_product_line_for_the_board_meet"},
		},
		{
			name: "Names/ResultNameWinsOverTitle",
			arts: []nbArtifact{art(
				rulesCell("c1", "Daily Orders", "d_orders", "SELECT 1 AS n"),
				sqlCell("c2", "x", "SELECT * FROM daily_orders"),
				sqlCell("c3", "y", "SELECT * FROM d_orders"),
			)},
			deps:     []string{"c3: c1"},
			external: []string{"c2: daily_orders"},
		},
		{
			name: "Names/TitledPostgresCell",
			arts: []nbArtifact{art(
				func() nbCell {
					c := titledCell("c1", "Active Users", "SELECT * FROM users WHERE active")
					c["data"].(map[string]any)["connectorId"] = "pg"
					return c
				}(),
				sqlCell("c2", "n", "SELECT count(*) AS n FROM active_users"),
			)},
			deps: []string{"c2: c1"},
		},
		{
			name: "Names/TitledDDLCellOnlyDefinesItsTables",
			arts: []nbArtifact{art(
				titledCell("c1", "SQL 1", "CREATE TABLE lookup AS SELECT 1 AS id"),
				sqlCell("c2", "x", "SELECT * FROM result_1"),
				sqlCell("c3", "y", "SELECT * FROM lookup"),
			)},
			deps:     []string{"c3: c1"},
			external: []string{"c2: result_1"},
		},
	}
}
