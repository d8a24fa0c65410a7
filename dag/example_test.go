package dag_test

import (
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
