package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cellsd/cellsd/cells"
	"github.com/cellsd/cellsd/engine"
)

// Example runs a notebook of two cells, the second reading the first's
// result, and reads the results back.
func Example() {
	ctx := context.Background()
	nb, err := cells.Parse("example.json", []byte(`{
	  "data": {
	    "c1": {"id": "c1", "type": "sql", "data": {"title": "Numbers", "sql": "SELECT * FROM range(1, 4) AS t(n)"}},
	    "c2": {"id": "c2", "type": "sql", "data": {"title": "Squares", "sql": "SELECT n, n * n AS square FROM numbers"}}
	  },
	  "artifacts": {"nb1": {"id": "nb1", "cellIds": ["c1", "c2"], "edges": []}}
	}`))
	if err != nil {
		log.Fatal(err)
	}

	eng := engine.New(engine.Config{})
	if err := eng.Open(ctx); err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	plan, err := eng.Planner().Plan(ctx, nb)
	if err != nil {
		log.Fatal(err)
	}
	report, err := eng.Run(ctx, plan, engine.RunOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, ar := range report.Artifacts {
		for _, c := range ar.Cells {
			fmt.Printf("%s %s: %d rows in %s\n", c.ID, c.Status, *c.Rows, c.Relation)
		}
	}

	rows, err := eng.DB().QueryContext(ctx, `SELECT n, square FROM __sqlrooms_ephemeral.artifact_nb1.squares ORDER BY n`)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n, square int64
		if err := rows.Scan(&n, &square); err != nil {
			log.Fatal(err)
		}
		fmt.Println(n, square)
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// c1 success: 3 rows in __sqlrooms_ephemeral.artifact_nb1.numbers
	// c2 success: 3 rows in __sqlrooms_ephemeral.artifact_nb1.squares
	// 1 1
	// 2 4
	// 3 9
}

// ExampleSession opens a notebook in a session, runs it, then edits the
// first cell: the edit reruns that cell and what depends on it, nothing
// else.
func ExampleSession() {
	ctx := context.Background()
	nb, err := cells.Parse("example.json", []byte(`{
	  "data": {
	    "c1": {"id": "c1", "type": "sql", "data": {"title": "Numbers", "sql": "SELECT * FROM range(1, 4) AS t(n)"}},
	    "c2": {"id": "c2", "type": "sql", "data": {"title": "Total", "sql": "SELECT sum(n) AS total FROM numbers"}},
	    "c3": {"id": "c3", "type": "sql", "data": {"title": "Answer", "sql": "SELECT 42 AS answer"}}
	  },
	  "artifacts": {"nb1": {"id": "nb1", "cellIds": ["c1", "c2", "c3"], "edges": []}}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	s, err := engine.OpenSession(ctx, engine.Config{}, nb, engine.SessionOptions{Concurrency: 1, Observe: func(ev engine.Event) {
		if ev.Status.Final() && !ev.SessionLevel() {
			fmt.Printf("%s %s: %s\n", ev.Cell, ev.Status, ev.Reason)
		}
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	run, err := s.Run(engine.RunRequest{})
	if err != nil {
		log.Fatal(err)
	}
	<-run.Done()
	s.Flush()

	sql := "SELECT * FROM range(1, 11) AS t(n) -- now ten numbers"
	run, err = s.Update(ctx, engine.CellPatch{CellID: "c1", SQL: &sql})
	if err != nil {
		log.Fatal(err)
	}
	<-run.Done()
	s.Flush()

	var total int64
	if err := s.DB().QueryRowContext(ctx, `SELECT total FROM __sqlrooms_ephemeral.artifact_nb1.total`).Scan(&total); err != nil {
		log.Fatal(err)
	}
	fmt.Println("total:", total)
	// Output:
	// c1 success: executed
	// c2 success: executed
	// c3 success: executed
	// c1 success: executed
	// c2 success: executed
	// total: 55
}
