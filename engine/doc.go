// Package engine runs notebooks. A [Planner] (package plan, whose types
// the engine's names alias) resolves a notebook into one dependency graph
// per artifact ([Plan]), kept current cell by cell with
// [ArtifactPlan.Update]. A [Session] holds an open notebook: it runs cells
// in dependency order on the embedded DuckDB with bounded parallelism,
// materializes every result as a table in <resultDb>.<artifactSchema>.<name>,
// cascades edits downstream (autorun) or marks them stale (lazy), cancels
// work a newer run supersedes, serves unchanged cells from cache, and
// reports every status change as an [Event] with a reason. [Engine.Run] is a
// batch run: one run of a session of its own.
//
// Inside, a Session is a facade over its scheduler (scheduler.go: one loop
// that moves cells on as their dependencies finish, without recursion and
// without I/O under its lock), the cells' state machine and supersession
// guard (cellstate.go), the cache's fingerprints (cache.go) and the
// [Executor] every cell runs through (executor.go: DuckDB in core, or an
// external source). Every goroutine it starts goes through one spawner
// (spawn.go), which refuses after Close.
//
// An [Engine] owns one DuckDB instance: New has no side effects, Open starts
// DuckDB, Close releases it and is idempotent. Engines and Sessions are safe
// for concurrent use. A Session owns every goroutine it starts; its Close
// cancels what runs, waits for all of them and delivers the last events.
//
// At ~2,900 lines it is over the ~1,500 the house aims a package at, and
// the scheduler type over ~300: what is left here is one concern, running
// a session. The scheduler's methods (scheduler.go, cellstate.go,
// cache.go, executor.go, update.go, selected.go) all work under its one
// lock on the cells' states, and splitting them across packages would
// split that lock; planning (engine/plan), loading results
// (engine/materialize), formats, events and the daemon already live in
// rooms of their own.
package engine
