package plan_test

import (
	"testing"

	"github.com/cellsd/cellsd/connectors"
)

// The MySQL dialect's dependency corpus: cells on connection "mysql" are
// parsed by vitess's MySQL grammar; their names resolve in MySQL (rule 6),
// so they have edges only to input cells, and their externalTables list
// what they read, as written.
func TestCorpusMySQL(t *testing.T) {
	mysqlCorpus := loadCorpus(t, "mysql.txtar")
	if len(mysqlCorpus) < 40 {
		t.Errorf("the MySQL corpus has %d cases, want at least 40", len(mysqlCorpus))
	}
	reg, err := connectors.NewRegistry(
		connectors.Connection{ID: "mysql", Engine: connectors.EngineMySQL},
		connectors.Connection{ID: "pg", Engine: connectors.EnginePostgres})
	if err != nil {
		t.Fatal(err)
	}
	pl := newPlanner(t, reg)
	seen := map[string]bool{}
	for _, tc := range mysqlCorpus {
		if seen[tc.name] {
			t.Errorf("two MySQL corpus cases are named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			checkCorpusCase(t, tc, mustPlan(t, pl, corpusNotebook(t, tc)))
		})
	}
}
