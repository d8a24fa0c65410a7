package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/engine"
	"github.com/cellsd/cellsd/internal/measure"
)

// BenchmarkPlanning measures issue 19's P8: the work of `cellsd graph` (load
// the notebook file's bytes, then plan it) for 1,000 DuckDB cells and for
// 1,000 Postgres cells, against one batched parse of the same statements
// measured in the same run: for DuckDB one json_serialize_sql query over
// all of them, for Postgres one pg_query parse of them joined. Each round
// times both; it reports the medians of 5 rounds and graph/parse (target:
// at most 3).
//
//	go test ./engine -run '^$' -bench Planning -benchtime 1x
func BenchmarkPlanning(b *testing.B) {
	const n, rounds = 1000, 5
	for _, bc := range []struct{ shape, dialect string }{
		{"chain", "duckdb"}, {"analysis", "duckdb"}, {"chain", "postgres"}, {"analysis", "postgres"},
	} {
		shape, dialect := bc.shape, bc.dialect
		b.Run(fmt.Sprintf("cells=%d/shape=%s/dialect=%s", n, shape, dialect), func(b *testing.B) {
			ctx := context.Background()
			reg, err := connectors.NewRegistry(connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres})
			if err != nil {
				b.Fatal(err)
			}
			eng := openEngine(b, engine.Config{Connections: reg})
			data, stmts := planningNotebook(b, n, shape, dialect)
			planner := eng.Planner()
			graph := func() {
				nb, err := cells.Parse("bench.json", data)
				if err != nil {
					b.Fatal(err)
				}
				plan, err := planner.Plan(ctx, nb)
				if err != nil {
					b.Fatal(err)
				}
				if ap := plan.Artifacts[0]; len(ap.Errors) > 0 || len(ap.Order) != len(ap.Cells) {
					b.Fatalf("notebook plans with %d errors (%v) and %d cells in order", len(ap.Errors), ap.Errors, len(ap.Order))
				}
			}
			joined := strings.Join(stmts, "\n;\n")
			parse := func() {
				if dialect == "postgres" {
					if _, err := pg_query.Parse(joined); err != nil {
						b.Fatal(err)
					}
					return
				}
				var out string
				if err := eng.DB().QueryRowContext(ctx, `SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)`, joined).Scan(&out); err != nil {
					b.Fatal(err)
				}
				if !strings.HasPrefix(out, `{"error":false`) {
					b.Fatalf("baseline does not parse: %.200s", out)
				}
			}
			graph() // warm up both once
			parse()
			var graphTimes, parseTimes []time.Duration
			for b.Loop() {
				for range rounds {
					start := time.Now()
					graph()
					graphTimes = append(graphTimes, time.Since(start))
					start = time.Now()
					parse()
					parseTimes = append(parseTimes, time.Since(start))
				}
			}
			g, p := measure.Median(graphTimes), measure.Median(parseTimes)
			b.ReportMetric(float64(g.Microseconds())/1000, "graph-ms")
			b.ReportMetric(float64(p.Microseconds())/1000, "parse-ms")
			b.ReportMetric(float64(g)/float64(p), "graph/parse")
		})
	}
}

// planningNotebook returns the file bytes of a notebook of n SQL cells on
// the dialect's connector, and the same statements with {{limit}}
// rendered, for the baseline. Shape chain is trivialNotebook's chain
// (SELECT v + i AS v FROM t<i-1>), shape analysis generatedNotebook's
// cells (CTEs, joins, subqueries and a {{limit}} input, without charts).
func planningNotebook(tb testing.TB, n int, shape, dialect string) ([]byte, []string) {
	nb := trivialNotebook(tb, "chain", n)
	if shape == "analysis" {
		nb = generatedNotebook(tb, n)
	}
	data := map[string]nbCell{}
	var ids, stmts []string
	for _, id := range nb.Artifacts[0].CellIDs {
		c := nb.Cells[id]
		switch c.Type {
		case cells.TypeInput:
			data[id] = inputCell(id, "limit", 100)
		case cells.TypeSQL:
			nc := sqlCell(id, c.ResultName, c.SQL)
			if dialect == "postgres" {
				nc = pgCell(id, c.ResultName, c.SQL)
			}
			data[id] = nc
			stmts = append(stmts, strings.ReplaceAll(c.SQL, "{{limit}}", "100"))
		default:
			continue
		}
		ids = append(ids, id)
	}
	art := map[string]any{"id": "nb", "cellIds": ids, "edges": []any{}}
	b, err := json.Marshal(map[string]any{"data": data, "artifacts": map[string]any{"nb": art}, "tableDepSchemas": []string{"main"}})
	if err != nil {
		tb.Fatal(err)
	}
	return b, stmts
}
