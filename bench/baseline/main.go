// Command baseline is the floor issue 19's whole-process benchmark (P2a)
// compares `cellsd run` with: a Go program that opens an in-memory DuckDB
// and runs a file of SQL statements, one a line, back to back on one
// connection, then closes DuckDB and exits. It does nothing else: no
// notebook, no planning, no provenance, no progress output.
//
//	go run ./bench/baseline statements.sql
package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: baseline FILE.sql (one statement a line)")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(1)
	}
}

func run(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 0, 1<<16), 1<<24)
	n := 0
	for lines.Scan() {
		n++
		if _, err := conn.ExecContext(ctx, lines.Text()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return lines.Err()
}
