package dag_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cellsd/cellsd/dag"
)

func Example() {
	// Cells in the artifact's cellIds order. Edges point from a dependency
	// to the cell that reads it.
	g := dag.New([]string{"orders", "revenue", "customers", "report", "loopA", "loopB", "chart"})
	g.SetDeps("revenue", []string{"orders"})
	g.SetDeps("report", []string{"revenue", "customers"})
	g.SetDeps("loopA", []string{"loopB"})
	g.SetDeps("loopB", []string{"loopA"})
	g.SetDeps("chart", []string{"loopB", "report"})

	order, left := g.Order(nil)
	fmt.Println("order:", order)
	fmt.Println("left out:", left)
	for _, c := range g.Cycles() {
		fmt.Println("cycle:", c)
	}

	// An edit replaces one cell's edges: loopB no longer reads loopA.
	g.SetDeps("loopB", nil)
	order, _ = g.Order(nil)
	fmt.Println("after edit:", order)
	fmt.Println("cycles:", len(g.Cycles()))

	// Output:
	// order: [orders revenue customers report]
	// left out: [loopA loopB chart]
	// cycle: [loopA loopB loopA]
	// after edit: [orders revenue customers report loopB loopA chart]
	// cycles: 0
}

func ExampleGraph_Walk() {
	g := dag.New([]string{"orders", "revenue", "customers", "report"})
	g.SetDeps("revenue", []string{"orders"})
	g.SetDeps("report", []string{"revenue", "customers"})

	// One cell at a time, so the visits print in a fixed order; a failure
	// is recorded at its root and its downstream is skipped.
	failed := g.Walk(context.Background(), 1, func(_ context.Context, id string) error {
		fmt.Println("run", id)
		if id == "customers" {
			return errors.New("table missing")
		}
		return nil
	})
	fmt.Println("customers:", failed["customers"])
	fmt.Println("report:", failed["report"])

	// Output:
	// run orders
	// run revenue
	// run customers
	// customers: table missing
	// report: upstream customers failed
}
