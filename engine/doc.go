// Package engine runs notebooks: it resolves a notebook into a dependency
// graph per artifact ([Planner]), executes the cells in dependency order on
// the embedded DuckDB with bounded parallelism, materializes every result as
// a table in <resultDb>.<artifactSchema>.<name>, and reports each cell's
// status as it changes.
//
// An [Engine] owns one DuckDB instance. New has no side effects, Open starts
// DuckDB, Close releases it and is idempotent. An Engine is safe for
// concurrent use; a single [Engine.Run] owns the goroutines it starts and
// returns only after all of them have ended.
package engine
