package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/alecthomas/kong"
	_ "github.com/duckdb/duckdb-go/v2" // the "duckdb" driver, for its version
)

// versionFlag is --version: it prints the version and exits before any
// command runs.
type versionFlag bool

func (versionFlag) BeforeReset(app *kong.Kong) error {
	writeVersion(app.Stdout)
	app.Exit(exitOK)
	return nil
}

// versionCmd is `cellsd version`.
type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	writeVersion(e.stdout)
	return nil
}

// writeVersion prints the module version and the commit it was built
// from (as the Go toolchain stamped them) and DuckDB's version:
//
//	cellsd (devel) commit 3bab5a5c0d1e (modified) 2026-12-03T14:00:00Z
//	go go1.26.8 linux/amd64
//	duckdb v1.5.0 (6e2b6d5f2a)
func writeVersion(w io.Writer) {
	version, commit := "(devel)", "unknown"
	var modified, when string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			case "vcs.time":
				when = " " + s.Value
			}
		}
	}
	fmt.Fprintf(w, "cellsd %s commit %s%s%s\n", version, commit, modified, when)
	fmt.Fprintf(w, "go %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "duckdb %s\n", duckDBVersion())
}

// duckDBVersion asks an in-memory DuckDB its version and source id.
func duckDBVersion() string {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer db.Close()
	var v, id string
	if err := db.QueryRowContext(context.Background(), "SELECT version(), source_id FROM pragma_version()").Scan(&v, &id); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return v + " (" + id + ")"
}
